//! Every outcome of a `TaskGroup` is reported with the task's name: values,
//! errors, panics with their messages, and cancellations, and joining never
//! panics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use evenkeel_tasks::{NON_STRING_PANIC, TaskError, TaskGroup};
use tokio::time::Instant;

/// Panics arrive as `Panicked` with the name and the message, whether the
/// payload was a `&str`, a formatted `String`, or something else.
#[tokio::test]
async fn panics_are_captured_with_name_and_message() {
    let mut group = TaskGroup::<(), ()>::new();
    group.spawn("static-str", async { panic!("plain message") });
    group.spawn(String::from("formatted"), async { panic!("code {}", 42) });
    group.spawn("odd-payload", async { std::panic::panic_any(17_u8) });
    let mut seen: Vec<(String, String)> = group
        .join_all()
        .await
        .into_iter()
        .map(|outcome| match outcome {
            Err(TaskError::Panicked { name, message }) => (name.into_owned(), message),
            other => panic!("expected a panic, got {other:?}"),
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("formatted".to_string(), "code 42".to_string()),
            ("odd-payload".to_string(), NON_STRING_PANIC.to_string()),
            ("static-str".to_string(), "plain message".to_string()),
        ]
    );
    assert_eq!(group.stats().panicked, 3);
}

/// An aborted task is reported as `Cancelled` with its name; `join_all`
/// returns normally (tokio's `JoinSet::join_all` would panic here).
#[tokio::test]
async fn aborted_task_is_reported_cancelled_not_panicking() {
    let mut group = TaskGroup::<(), ()>::new();
    let handle = group.spawn("forever", std::future::pending());
    group.spawn("quick", async { Ok(()) });
    handle.abort();
    let outcomes = group.join_all().await;
    assert_eq!(outcomes.len(), 2);
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Err(TaskError::Cancelled { name }) if name == "forever"))
    );
    let stats = group.stats();
    assert_eq!((stats.succeeded, stats.cancelled), (1, 1));
}

/// `cancel` waits the grace period for cooperative tasks, aborts the rest,
/// and keeps every outcome for the next `join_all`.
#[tokio::test(start_paused = true)]
async fn cancel_is_cooperative_then_aborts_after_grace() {
    let mut group = TaskGroup::<&str, ()>::new().grace_period(Duration::from_secs(2));
    let token = group.token();
    group.spawn("cleans-up", async move {
        token.cancelled().await;
        tokio::time::sleep(Duration::from_millis(300)).await; // flushes something
        Ok("flushed")
    });
    group.spawn("ignores-token", std::future::pending());
    settle().await;
    let start = Instant::now();
    group.cancel().await;
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    let outcomes = group.join_all().await;
    assert!(outcomes.iter().any(|o| matches!(o, Ok("flushed"))));
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Err(TaskError::Cancelled { name }) if name == "ignores-token"))
    );
}

/// When every task returns within the grace period, `cancel` returns as
/// soon as the last one does, without waiting the whole grace period.
#[tokio::test(start_paused = true)]
async fn cancel_returns_early_when_tasks_cooperate() {
    let mut group = TaskGroup::<(), ()>::new();
    let token = group.token();
    group.spawn("cooperative", async move {
        token.cancelled().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(())
    });
    settle().await;
    let start = Instant::now();
    group.cancel().await;
    assert_eq!(start.elapsed(), Duration::from_millis(20));
    assert!(matches!(&group.join_all().await[..], [Ok(())]));
}

/// A task spawned into a cancelled group never runs and is reported
/// cancelled: cancellation is final (unlike `TaskTracker::close`).
#[tokio::test]
async fn spawns_after_cancel_never_run() {
    let ran = Arc::new(AtomicBool::new(false));
    let mut group = TaskGroup::<(), ()>::new();
    group.cancel().await;
    let flag = Arc::clone(&ran);
    group.spawn("late", async move {
        flag.store(true, Ordering::SeqCst);
        Ok(())
    });
    let outcomes = group.join_all().await;
    assert!(matches!(&outcomes[..], [Err(TaskError::Cancelled { name })] if name == "late"));
    assert!(!ran.load(Ordering::SeqCst));
}

/// Errors returned by tasks come back as `Failed` with the name, the error
/// as the source, and the counters add up.
#[tokio::test]
async fn failures_keep_name_and_error() {
    let mut group = TaskGroup::<u8, std::io::Error>::new();
    group.spawn("reader", async { Err(std::io::Error::other("eof")) });
    group.spawn("writer", async { Ok(1) });
    let outcomes = group.join_all().await;
    let failed = outcomes.iter().find_map(|o| o.as_ref().err()).unwrap();
    assert_eq!(failed.name(), "reader");
    assert_eq!(failed.to_string(), "task `reader` failed");
    let source = std::error::Error::source(failed).unwrap();
    assert_eq!(source.to_string(), "eof");
    let stats = group.stats();
    assert_eq!((stats.spawned, stats.succeeded, stats.failed), (2, 1, 1));
}

/// Lets freshly spawned tasks start before the test cancels, so that what
/// is tested is a *running* task's cancellation. (Paused clock: this
/// advances virtual time by 1 ms, instantly.)
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// Once the parent token is cancelled, tasks spawned into the child group
/// are reported as cancelled without running.
#[tokio::test]
async fn parent_cancelled_means_new_tasks_never_start() {
    let parent = tokio_util::sync::CancellationToken::new();
    let mut group = TaskGroup::<(), ()>::new().child_of(&parent);
    parent.cancel();
    group.spawn("never", async { Ok(()) });
    assert!(matches!(
        group.join_next().await,
        Some(Err(TaskError::Cancelled { .. }))
    ));
}

/// A group that is a child of an outer token is cancelled with it.
#[tokio::test(start_paused = true)]
async fn child_group_follows_the_parent_token() {
    let parent = tokio_util::sync::CancellationToken::new();
    let mut group = TaskGroup::<(), ()>::new().child_of(&parent);
    let token = group.token();
    group.spawn("waits", async move {
        token.cancelled().await;
        Ok(())
    });
    settle().await;
    parent.cancel();
    assert!(group.is_cancelled());
    assert!(matches!(group.join_next().await, Some(Ok(()))));
}

/// `child_of` after `token()` was handed out (or tasks were spawned) links
/// the existing token to the parent instead of replacing it, so the clones
/// already out there are cancelled with the parent too.
#[tokio::test(start_paused = true)]
async fn child_of_after_handing_out_the_token_links_it() {
    let parent = tokio_util::sync::CancellationToken::new();
    let group = TaskGroup::<(), ()>::new();
    let early = group.token();
    let group = group.child_of(&parent);
    parent.cancel();
    early.cancelled().await;
    assert!(group.is_cancelled());
}
