//! Pins the `tasks` lesson: `JoinSet` and `tokio::spawn` run everything at
//! once, panic on a cancelled task, and let tasks outlive their owner; a
//! `TaskGroup` limits, reports, cancels and aborts.

use std::time::Duration;

use evenkeel_examples::tasks::{Scenario, naive, with_evenkeel};

/// A `JoinSet` runs every item at once: 50 items, 50 running.
#[tokio::test(start_paused = true)]
async fn naive_joinset_has_no_limit() {
    let s = Scenario::default();
    let outcome = naive(&s).await;
    assert_eq!(outcome.max_running, s.items);
    assert_eq!(outcome.items_took, s.work);
}

/// A `TaskGroup` with a limit never runs more than the limit: 50 items of
/// 100 ms in batches of 5 take 1 s.
#[tokio::test(start_paused = true)]
async fn evenkeel_group_respects_its_limit() {
    let s = Scenario::default();
    let outcome = with_evenkeel(&s).await;
    assert_eq!(outcome.max_running, s.limit);
    assert_eq!(outcome.items_took, Duration::from_secs(1));
}

/// `JoinSet::join_all` panics when one of its tasks was aborted;
/// `TaskGroup::join_all` reports all three outcomes, the aborted one as
/// cancelled, by name.
#[tokio::test(start_paused = true)]
async fn join_all_with_a_cancelled_task() {
    let s = Scenario::default();
    let naive = naive(&s).await;
    assert!(naive.join_all_panicked);
    assert_eq!(naive.outcomes_reported, 0);

    let evenkeel = with_evenkeel(&s).await;
    assert!(!evenkeel.join_all_panicked);
    assert_eq!(evenkeel.outcomes_reported, 3);
    assert_eq!(evenkeel.cancelled_task.as_deref(), Some("doomed"));
}

/// With `tokio::spawn` and `h.await??`, the owner returns the first error
/// and the four siblings finish their work anyway, after it returned.
#[tokio::test(start_paused = true)]
async fn naive_siblings_outlive_the_first_error() {
    let s = Scenario::default();
    let outcome = naive(&s).await;
    assert_eq!(outcome.first_error, "upstream refused the request");
    assert_eq!(outcome.owner_returned_after, s.fails_after);
    assert_eq!(outcome.siblings_outlived_owner, s.fetches - 1);
}

/// `try_join_all` returns the first error, named, when it happens, and no
/// sibling finishes its work afterwards: they were cancelled.
#[tokio::test(start_paused = true)]
async fn evenkeel_first_error_cancels_the_siblings() {
    let s = Scenario::default();
    let outcome = with_evenkeel(&s).await;
    assert_eq!(outcome.first_error, "fetch-0: upstream refused the request");
    assert_eq!(outcome.owner_returned_after, s.fails_after);
    assert_eq!(outcome.siblings_outlived_owner, 0);
}

/// Dropping the owner detaches plain spawned tasks (all five finish later)
/// but aborts a `TaskGroup`'s (none does).
#[tokio::test(start_paused = true)]
async fn dropping_the_owner() {
    let s = Scenario::default();
    assert_eq!(naive(&s).await.tasks_outlived_dropped_owner, s.fetches);
    assert_eq!(with_evenkeel(&s).await.tasks_outlived_dropped_owner, 0);
}
