//! The concurrency limit of `TaskGroup::with_limit`: never exceeded, always
//! reached when there is enough work, and spawning never waits for a slot.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use evenkeel_tasks::TaskGroup;
use proptest::prelude::*;

/// Counts the bodies running at once and remembers the largest count seen.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Gauge {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Spawns `durations.len()` tasks, each sleeping for its duration, into a
/// group limited to `limit`; returns the largest number seen running at once.
async fn max_concurrency(limit: usize, durations: &[u64]) -> usize {
    let gauge = Arc::new(Gauge::default());
    let mut group = TaskGroup::<(), ()>::with_limit(limit);
    for (i, &ms) in durations.iter().enumerate() {
        let gauge = Arc::clone(&gauge);
        group.spawn(format!("task-{i}"), async move {
            gauge.enter();
            tokio::time::sleep(Duration::from_millis(ms)).await;
            gauge.leave();
            Ok(())
        });
    }
    let outcomes = group.join_all().await;
    assert!(outcomes.iter().all(Result::is_ok));
    gauge.max.load(Ordering::SeqCst)
}

/// With 50 tasks of varying length and a limit of 4, exactly 4 run at the
/// peak and never more.
#[tokio::test(start_paused = true)]
async fn limit_is_reached_but_never_exceeded() {
    let durations: Vec<u64> = (0..50).map(|i| 1 + (i * 7) % 13).collect();
    assert_eq!(max_concurrency(4, &durations).await, 4);
}

/// On a multi-threaded runtime, where bodies really run in parallel, the
/// limit still holds (bodies yield instead of sleeping, so no timer is
/// involved).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_holds_on_a_multi_threaded_runtime() {
    let gauge = Arc::new(Gauge::default());
    let mut group = TaskGroup::<(), ()>::with_limit(3);
    for i in 0..200 {
        let gauge = Arc::clone(&gauge);
        group.spawn(format!("task-{i}"), async move {
            gauge.enter();
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            gauge.leave();
            Ok(())
        });
    }
    group.join_all().await;
    assert!(gauge.max.load(Ordering::SeqCst) <= 3);
    assert_eq!(group.stats().succeeded, 200);
}

/// `stats().running` counts bodies, not waiting tasks: with a limit of 2 and
/// 5 tasks parked, it reads 2 while `len()` reads 5.
#[tokio::test(start_paused = true)]
async fn running_counts_bodies_not_waiting_tasks() {
    let mut group = TaskGroup::<(), ()>::with_limit(2);
    let gate = Arc::new(tokio::sync::Notify::new());
    for i in 0..5 {
        let gate = Arc::clone(&gate);
        group.spawn(format!("task-{i}"), async move {
            gate.notified().await;
            Ok(())
        });
    }
    // Let the tasks run until they park.
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(group.len(), 5);
    assert_eq!(group.stats().running, 2);
    group.cancel().await;
    assert_eq!(group.stats().running, 0);
}

/// A limit of 0 is treated as 1, so tasks still make progress.
#[tokio::test(start_paused = true)]
async fn zero_limit_means_one() {
    let group = TaskGroup::<(), ()>::with_limit(0);
    assert_eq!(group.limit(), Some(1));
    assert_eq!(max_concurrency(0, &[3, 1, 2]).await, 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// For any limit and any set of task lengths, the peak concurrency is
    /// exactly `min(limit, tasks)`: the limit is reached and never exceeded.
    #[test]
    fn peak_concurrency_is_min_of_limit_and_tasks(
        limit in 1usize..8,
        durations in proptest::collection::vec(1u64..20, 1..30),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a current-thread runtime builds");
        let peak = runtime.block_on(max_concurrency(limit, &durations));
        prop_assert_eq!(peak, limit.min(durations.len()));
    }
}
