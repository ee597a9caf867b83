//! Dropping a `TaskGroup` aborts its tasks and cancels its token;
//! `detach` is the opt-out.

use std::time::Duration;

use evenkeel_tasks::TaskGroup;
use tokio::sync::oneshot;

/// Dropping the group aborts every task: each task's future (and what it
/// owns) is dropped without finishing, which the test sees as the sender
/// half of a channel going away unused.
#[tokio::test(start_paused = true)]
async fn dropping_a_group_aborts_its_tasks() {
    let mut group = TaskGroup::<(), ()>::with_limit(2);
    let mut receivers = Vec::new();
    for i in 0..4 {
        let (tx, rx) = oneshot::channel::<()>();
        receivers.push(rx);
        group.spawn(format!("sleeper-{i}"), async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            tx.send(()).ok();
            Ok(())
        });
    }
    let token = group.token();
    tokio::task::yield_now().await;
    drop(group);
    assert!(token.is_cancelled());
    for rx in receivers {
        // Err: the sender was dropped with the aborted task, never used.
        assert!(rx.await.is_err());
    }
}

/// A detached group's tasks run to completion and its token stays
/// uncancelled.
#[tokio::test(start_paused = true)]
async fn detached_tasks_run_to_completion() {
    let mut group = TaskGroup::<(), ()>::with_limit(1);
    let mut receivers = Vec::new();
    for i in 0..3 {
        let (tx, rx) = oneshot::channel();
        receivers.push(rx);
        group.spawn(format!("job-{i}"), async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            tx.send(i).ok();
            Ok(())
        });
    }
    let token = group.token();
    group.detach();
    assert!(!token.is_cancelled());
    for (i, rx) in receivers.into_iter().enumerate() {
        assert_eq!(rx.await.unwrap(), i);
    }
}
