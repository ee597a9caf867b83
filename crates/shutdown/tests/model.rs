//! Property test of the drain arithmetic: for any sequence of child scopes,
//! guard acquisitions, releases and drains, every scope's `outstanding()`
//! equals the number of live guards taken in it or its descendants, and a
//! guard is refused exactly when the scope or an ancestor is draining.

use std::time::Duration;

use evenkeel_shutdown::{DrainGuard, DrainReport, Shutdown};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Child(usize),
    Acquire(usize),
    Release(usize),
    Drain(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..8usize).prop_map(Op::Child),
        5 => (0..8usize).prop_map(Op::Acquire),
        3 => (0..16usize).prop_map(Op::Release),
        1 => (0..8usize).prop_map(Op::Drain),
    ]
}

/// Whether `scope` is `ancestor` or lies below it.
fn within(parents: &[Option<usize>], mut scope: usize, ancestor: usize) -> bool {
    loop {
        if scope == ancestor {
            return true;
        }
        match parents[scope] {
            Some(parent) => scope = parent,
            None => return false,
        }
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let mut scopes = vec![Shutdown::new()];
        let mut parents: Vec<Option<usize>> = vec![None];
        let mut draining = vec![false];
        let mut guards: Vec<(usize, DrainGuard)> = Vec::new();
        let count = |guards: &[(usize, DrainGuard)], parents: &[Option<usize>], at: usize| {
            guards
                .iter()
                .filter(|(s, _)| within(parents, *s, at))
                .count()
        };
        for op in ops {
            match op {
                Op::Child(i) => {
                    let parent = i % scopes.len();
                    scopes.push(scopes[parent].child());
                    parents.push(Some(parent));
                    draining.push(false);
                }
                Op::Acquire(i) => {
                    let scope = i % scopes.len();
                    let refused =
                        (0..scopes.len()).any(|a| draining[a] && within(&parents, scope, a));
                    match scopes[scope].guard() {
                        Ok(guard) => {
                            prop_assert!(!refused, "granted while draining");
                            guards.push((scope, guard));
                        }
                        Err(_) => prop_assert!(refused, "refused while not draining"),
                    }
                }
                Op::Release(i) => {
                    if !guards.is_empty() {
                        let index = i % guards.len();
                        let (_, released) = guards.swap_remove(index);
                        drop(released);
                    }
                }
                Op::Drain(i) => {
                    let scope = i % scopes.len();
                    draining[scope] = true;
                    let expected = count(&guards, &parents, scope);
                    let report = scopes[scope].drain(Duration::ZERO).await;
                    prop_assert_eq!(report.outstanding(), expected);
                    prop_assert_eq!(
                        matches!(report, DrainReport::Complete { .. }),
                        expected == 0
                    );
                }
            }
            for (at, scope) in scopes.iter().enumerate() {
                prop_assert_eq!(scope.outstanding(), count(&guards, &parents, at));
            }
        }
        Ok(())
    })
}

proptest! {
    /// Outstanding counts always match the live guards of each subtree, and
    /// refusals match the draining flags of the scope and its ancestors.
    #[test]
    fn outstanding_matches_the_live_guards(ops in proptest::collection::vec(op(), 0..40)) {
        run(ops)?;
    }
}
