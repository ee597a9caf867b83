//! Pins the `backpressure` lesson: the unbounded, mutex-shared pool hoards
//! a backlog that grows with the overload and lets one worker wait at a
//! time; the bounded evenkeel queue stays within capacity, hands back what
//! it refuses, and loses nothing.

use evenkeel_examples::backpressure::{Scenario, naive, with_evenkeel};

fn longer(scenario: Scenario, times: u64) -> Scenario {
    Scenario {
        ticks: scenario.ticks * times,
        ..scenario
    }
}

/// The naive backlog grows with the length of the overload: ten times the
/// overload holds more than nine times the jobs at its high water, and far
/// beyond any sane queue size.
#[tokio::test(start_paused = true)]
async fn naive_backlog_grows_with_the_overload() {
    let short = naive(&Scenario::default()).await;
    let long = naive(&longer(Scenario::default(), 10)).await;
    assert!(short.high_water > 500, "{short:?}");
    assert!(
        long.high_water > 9 * short.high_water,
        "{short:?} vs {long:?}"
    );
    assert!(
        long.max_queue_wait > 9 * short.max_queue_wait,
        "{short:?} vs {long:?}"
    );
    // It loses nothing; it just holds everything.
    assert_eq!(long.processed, long.offered);
    assert_eq!(long.handed_back, 0);
}

/// The mutex is held across `recv().await`: never more than one worker is
/// waiting on the channel, whatever the pool size.
#[tokio::test(start_paused = true)]
async fn naive_pool_waits_in_single_file() {
    let outcome = naive(&Scenario::default()).await;
    assert_eq!(outcome.max_workers_waiting, 1);
}

/// The bounded queue's high water never exceeds its capacity, however long
/// the overload lasts, and so queue wait stays bounded.
#[tokio::test(start_paused = true)]
async fn evenkeel_high_water_stays_within_capacity() {
    for times in [1, 10] {
        let scenario = longer(Scenario::default(), times);
        let outcome = with_evenkeel(&scenario).await;
        assert!(outcome.high_water <= scenario.capacity, "{outcome:?}");
        assert_eq!(
            outcome.high_water, scenario.capacity,
            "the overload fills the queue"
        );
        // 64 queued jobs ahead, 4 workers at 1 ms each: at most about 16 ms.
        assert!(
            outcome.max_queue_wait <= std::time::Duration::from_millis(17),
            "{outcome:?}"
        );
    }
}

/// Conservation: every offered job was processed or handed back to the
/// caller; none vanished. Under 2.5x overload most are handed back.
#[tokio::test(start_paused = true)]
async fn evenkeel_loses_nothing_silently() {
    let outcome = with_evenkeel(&longer(Scenario::default(), 10)).await;
    assert_eq!(outcome.processed + outcome.handed_back, outcome.offered);
    assert_eq!(outcome.silently_dropped, 0);
    assert!(outcome.handed_back > outcome.processed, "{outcome:?}");
}

/// Every idle worker waits on its own receiver clone: with the pool idle
/// at the start, all four wait at once.
#[tokio::test(start_paused = true)]
async fn evenkeel_workers_wait_side_by_side() {
    let scenario = Scenario::default();
    let outcome = with_evenkeel(&scenario).await;
    assert_eq!(outcome.max_workers_waiting, scenario.workers);
}
