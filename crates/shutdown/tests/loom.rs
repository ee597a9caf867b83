//! Loom models of the lock-free core: the guard word (admission against the
//! start of the drain, and the drain's completion) and the write-once
//! trigger and force records, with parent/child scopes.
//!
//! They run the crate's own protocol code (`src/word.rs`, `src/record.rs`)
//! through `evenkeel_shutdown::model::Node`, built with loom's atomics:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p evenkeel-shutdown --release --test loom
//! ```
//!
//! Without `LOOM_MAX_PREEMPTIONS` loom explores every interleaving
//! (exhaustive; minutes rather than seconds). The tokio parts around the
//! protocol (`Notify`, `CancellationToken`) are not modelled.
#![cfg(loom)]

use evenkeel_shutdown::model::{FORCED, Node};
use loom::thread;

/// A guard is never held while the drain counts as complete: either it was
/// taken before the draining bit (and the drain waits for it) or it is
/// refused. The drain completes exactly once, with nothing outstanding.
#[test]
fn no_guard_is_admitted_after_the_drain_begins() {
    loom::model(|| {
        let scope = Node::root();
        let worker = {
            let scope = scope.clone();
            thread::spawn(move || {
                if scope.guard() {
                    assert!(!scope.is_drained(), "a drain completed under a live guard");
                    scope.release();
                }
            })
        };
        assert!(scope.begin_drain());
        worker.join().unwrap();
        assert!(
            scope.is_drained(),
            "the drain completes once the guard is gone"
        );
        assert_eq!(scope.completions(), 1);
        assert_eq!(scope.outstanding(), 0);
        assert!(!scope.guard(), "refused after the drain began");
        assert_eq!(scope.outstanding(), 0, "a refused guard leaves no count");
    });
}

/// Two guards released on two threads while the drain begins and a third
/// thread asks for a guard (granted or refused): the drain completes exactly
/// once, when the last granted guard is gone.
#[test]
fn the_drain_completes_exactly_once() {
    loom::model(|| {
        let scope = Node::root();
        assert!(scope.guard());
        assert!(scope.guard());
        let releasers: Vec<_> = (0..2)
            .map(|_| {
                let scope = scope.clone();
                thread::spawn(move || scope.release())
            })
            .collect();
        let latecomer = {
            let scope = scope.clone();
            thread::spawn(move || {
                if scope.guard() {
                    assert!(!scope.is_drained());
                    scope.release();
                }
            })
        };
        scope.begin_drain();
        for releaser in releasers {
            releaser.join().unwrap();
        }
        latecomer.join().unwrap();
        assert!(scope.is_drained());
        assert_eq!(scope.completions(), 1, "the drain completes exactly once");
    });
}

/// A guard taken in a child counts in the parent's drain: the parent's drain
/// never completes while the child's guard lives, and a child guard is
/// refused once the parent drains. Both drains complete exactly once.
#[test]
fn child_guards_count_in_the_parent_drain() {
    loom::model(|| {
        let parent = Node::root();
        let child = parent.child();
        let worker = {
            let (parent, child) = (parent.clone(), child.clone());
            thread::spawn(move || {
                if child.guard() {
                    assert!(!parent.is_drained(), "parent drained under a child guard");
                    assert!(!child.is_drained());
                    child.release();
                }
            })
        };
        let child_drain = {
            let child = child.clone();
            thread::spawn(move || {
                child.begin_drain();
            })
        };
        parent.begin_drain();
        worker.join().unwrap();
        child_drain.join().unwrap();
        assert!(parent.is_drained() && child.is_drained());
        assert_eq!(parent.completions(), 1);
        assert_eq!(child.completions(), 1);
        assert_eq!(parent.outstanding() + child.outstanding(), 0);
    });
}

/// Two concurrent forces of one scope: exactly one reports it was first,
/// and both leave the scope forced with one reason.
#[test]
fn concurrent_forces_have_one_winner() {
    loom::model(|| {
        let scope = Node::root();
        let other = {
            let scope = scope.clone();
            thread::spawn(move || scope.force())
        };
        let mine = scope.force();
        let theirs = other.join().unwrap();
        assert!(mine ^ theirs, "exactly one force wins ({mine}, {theirs})");
        assert!(scope.is_forced());
        assert_eq!(scope.reason(), Some(FORCED));
    });
}

/// Concurrent triggers of one scope: exactly one wins and its reason is the
/// one recorded; a force racing them keeps the first reason if it lost.
#[test]
fn concurrent_triggers_keep_one_reason() {
    loom::model(|| {
        let scope = Node::root();
        let other = {
            let scope = scope.clone();
            thread::spawn(move || scope.trigger(2).then_some(2))
        };
        let forcer = {
            let scope = scope.clone();
            thread::spawn(move || {
                scope.force();
            })
        };
        let mine = scope.trigger(1).then_some(1);
        let theirs = other.join().unwrap();
        forcer.join().unwrap();
        let reason = scope.reason().expect("triggered");
        match (mine, theirs) {
            (Some(r), None) | (None, Some(r)) => assert_eq!(reason, r),
            (None, None) => assert_eq!(reason, FORCED),
            (Some(_), Some(_)) => panic!("two triggers both won"),
        }
    });
}

/// A child triggered while its parent triggers reports one reason: what a
/// reader saw first never changes, and the child's trigger returns true
/// exactly when its own reason is the one that stands.
#[test]
fn child_triggered_while_the_parent_triggers_sees_one_reason() {
    const PARENT: u32 = 1;
    const CHILD: u32 = 2;
    loom::model(|| {
        let parent = Node::root();
        let child = parent.child();
        let trigger_parent = {
            let parent = parent.clone();
            thread::spawn(move || assert!(parent.trigger(PARENT)))
        };
        let reader = {
            let child = child.clone();
            thread::spawn(move || {
                let first = child.reason();
                let later = child.reason();
                if first.is_some() {
                    assert_eq!(first, later, "a reason seen once never changes");
                }
            })
        };
        let won = child.trigger(CHILD);
        trigger_parent.join().unwrap();
        reader.join().unwrap();
        let expected = if won { CHILD } else { PARENT };
        assert_eq!(child.reason(), Some(expected));
        assert_eq!(
            parent.reason(),
            Some(PARENT),
            "a child never reaches its parent"
        );
    });
}

/// The parent's force reaches the child; a child forced in a race with its
/// parent ends forced either way, and its force wins only if it was first.
#[test]
fn force_propagates_from_parent_to_child() {
    loom::model(|| {
        let parent = Node::root();
        let child = parent.child();
        let forcer = {
            let parent = parent.clone();
            thread::spawn(move || parent.force())
        };
        let child_won = child.force();
        assert!(forcer.join().unwrap(), "nothing else forces the parent");
        assert!(child.is_forced() && parent.is_forced());
        assert!(!child.force(), "a second force of the child never wins");
        let _ = child_won;
    });
}
