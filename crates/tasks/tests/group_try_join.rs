//! `TaskGroup::try_join_all`: the first failure cancels the siblings, is the
//! error returned, and no task outlives the call.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use evenkeel_tasks::{TaskError, TaskGroup};
use tokio::time::Instant;

/// The first task to fail (at 10 ms) is the error returned, not the one
/// failing later (at 20 ms, within the grace period); the cooperative
/// siblings see the token cancelled and return at once.
#[tokio::test(start_paused = true)]
async fn first_error_cancels_siblings_and_is_returned() {
    let start = Instant::now();
    let saw_cancel = Arc::new(AtomicUsize::new(0));
    let mut group = TaskGroup::<u32, String>::new();
    for i in 0..3 {
        let token = group.token();
        let saw_cancel = Arc::clone(&saw_cancel);
        group.spawn(format!("waiter-{i}"), async move {
            token.cancelled().await;
            saw_cancel.fetch_add(1, Ordering::SeqCst);
            Ok(i)
        });
    }
    group.spawn("fails-first", async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Err("first".to_string())
    });
    group.spawn("fails-later", async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err("second".to_string())
    });

    let err = group.try_join_all().await.unwrap_err();
    match err {
        TaskError::Failed { name, error } => {
            assert_eq!(name, "fails-first");
            assert_eq!(error, "first");
        }
        other => panic!("expected the first failure, got {other:?}"),
    }
    assert_eq!(saw_cancel.load(Ordering::SeqCst), 3);
    assert!(group.is_empty());
    assert!(group.is_cancelled());
    // "fails-later" ignores the token but ends within the grace period, so
    // the call waited for it: no task outlives `try_join_all`.
    assert_eq!(start.elapsed(), Duration::from_millis(20));
    assert_eq!(group.stats().failed, 2);
}

/// A sibling that ignores the token is aborted once the grace period is
/// over: the call returns exactly one grace period after the first failure.
#[tokio::test(start_paused = true)]
async fn stubborn_sibling_is_aborted_after_the_grace_period() {
    let start = Instant::now();
    let mut group = TaskGroup::<(), &str>::new().grace_period(Duration::from_millis(500));
    group.spawn("stubborn", std::future::pending());
    group.spawn("fails", async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Err("bad")
    });
    let err = group.try_join_all().await.unwrap_err();
    assert_eq!(err.name(), "fails");
    assert_eq!(start.elapsed(), Duration::from_millis(510));
    assert_eq!(group.stats().cancelled, 1);
    assert!(group.is_empty());
}

/// A panic is a failure too: it is returned, with its message, as the first
/// error.
#[tokio::test(start_paused = true)]
async fn first_panic_is_the_error_returned() {
    let mut group = TaskGroup::<(), String>::new();
    let token = group.token();
    group.spawn("patient", async move {
        token.cancelled().await;
        Ok(())
    });
    group.spawn("panics", async { panic!("invariant broken: {}", 7) });
    let err = group.try_join_all().await.unwrap_err();
    match err {
        TaskError::Panicked { name, message } => {
            assert_eq!(name, "panics");
            assert_eq!(message, "invariant broken: 7");
        }
        other => panic!("expected a panic, got {other:?}"),
    }
}

/// Without failures, every value comes back and nothing is cancelled.
#[tokio::test(start_paused = true)]
async fn all_succeed_returns_every_value() {
    let mut group = TaskGroup::<u64, String>::with_limit(3);
    for i in 0..10u64 {
        group.spawn(format!("t{i}"), async move {
            tokio::time::sleep(Duration::from_millis(10 - i)).await;
            Ok(i)
        });
    }
    let mut values = group.try_join_all().await.unwrap();
    values.sort_unstable();
    assert_eq!(values, (0..10).collect::<Vec<_>>());
    assert!(!group.is_cancelled());
    let stats = group.stats();
    assert_eq!(
        (stats.spawned, stats.succeeded, stats.cancelled),
        (10, 10, 0)
    );
}

/// Tasks still waiting for a slot when the group is cancelled never start;
/// they are reported cancelled, and the running one returns cooperatively.
#[tokio::test(start_paused = true)]
async fn waiting_tasks_never_start_after_cancel() {
    let started = Arc::new(AtomicUsize::new(0));
    let mut group = TaskGroup::<(), &str>::with_limit(1);
    let token = group.token();
    group.spawn("holds-the-slot", async move {
        token.cancelled().await;
        Ok(())
    });
    for i in 0..5 {
        let started = Arc::clone(&started);
        group.spawn(format!("queued-{i}"), async move {
            started.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    group.cancel().await;
    let outcomes = group.join_all().await;
    assert_eq!(started.load(Ordering::SeqCst), 0);
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    let stats = group.stats();
    assert_eq!((stats.succeeded, stats.cancelled), (1, 5));
}
