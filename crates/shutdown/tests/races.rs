//! Races between threads on the real handle: concurrent forces, and a child
//! triggered while its parent triggers. The exhaustive versions are the loom
//! models in `tests/loom.rs`; these run the real code on real threads.

use std::sync::{Arc, Barrier};
use std::thread;

use evenkeel_shutdown::{Reason, Shutdown};

const ROUNDS: usize = 2_000;

/// Runs `a` and `b` on two threads released together, returns both results.
fn race<A, B>(a: A, b: B) -> (bool, bool)
where
    A: FnOnce() -> bool + Send + 'static,
    B: FnOnce() -> bool + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(2));
    let other = {
        let barrier = Arc::clone(&barrier);
        thread::spawn(move || {
            barrier.wait();
            b()
        })
    };
    barrier.wait();
    let mine = a();
    (mine, other.join().unwrap())
}

/// Two concurrent `force()` calls on one scope: exactly one reports that it
/// was first.
#[test]
fn concurrent_forces_have_one_winner() {
    for _ in 0..ROUNDS {
        let shutdown = Shutdown::new();
        let (a, b) = (shutdown.clone(), shutdown.clone());
        let (first, second) = race(move || a.force(), move || b.force());
        assert!(first ^ second, "exactly one force wins: {first} {second}");
        assert!(shutdown.is_forced());
    }
}

/// A child triggered while its parent triggers ends up with one reason: the
/// reason it reports never changes once observed, and the child's trigger
/// returns true only if its own reason is the one that stands.
#[test]
fn child_triggered_while_parent_triggers_keeps_one_reason() {
    for _ in 0..ROUNDS {
        let parent = Shutdown::new();
        let child = parent.child();
        let observer = child.clone();
        let (p, c) = (parent.clone(), child.clone());
        let (parent_won, child_won) = race(
            move || p.trigger(Reason::fatal("parent")),
            move || {
                // Observe the child while racing, then trigger it.
                let seen = observer.reason().map(|r| r.to_string());
                let won = c.trigger(Reason::fatal("child"));
                let now = observer.reason().map(|r| r.to_string());
                if let Some(seen) = seen {
                    assert_eq!(Some(seen), now, "an observed reason never changes");
                }
                won
            },
        );
        assert!(parent_won);
        let expected = if child_won {
            "fatal error: child"
        } else {
            "fatal error: parent"
        };
        assert_eq!(child.reason().unwrap().to_string(), expected);
        assert_eq!(parent.reason().unwrap().to_string(), "fatal error: parent");
    }
}
