//! Pins the `shutdown` lesson: the textbook `watch` + `select!` pool loses
//! accepted jobs and deafens late subscribers; the evenkeel version does
//! neither.

use std::time::Duration;

use evenkeel_examples::shutdown::{Scenario, naive, with_evenkeel};

/// Runs of each version per test. The naive loss is random (tokio seeds
/// `select!` per runtime); the chance that one run loses nothing is below
/// 2^-20, so across these runs a total loss of zero is out of reach.
const RUNS: usize = 3;

/// The naive pool loses accepted jobs: across a few runs, at least one
/// accepted job is never processed, and every job is either processed or
/// counted lost.
#[tokio::test(start_paused = true)]
async fn naive_pool_loses_accepted_jobs() {
    let scenario = Scenario::default();
    let mut lost = 0;
    for _ in 0..RUNS {
        let outcome = naive(&scenario).await;
        assert_eq!(outcome.accepted, scenario.burst);
        assert_eq!(outcome.processed + outcome.lost, outcome.accepted);
        assert!(
            !outcome.drain_complete,
            "the naive version has no drain report"
        );
        lost += outcome.lost;
    }
    assert!(lost > 0, "the select! race lost nothing in {RUNS} runs");
}

/// A `watch` receiver subscribed after the send never hears the stop: the
/// late worker waits out its whole patience (a minute of paused time).
#[tokio::test(start_paused = true)]
async fn naive_late_subscriber_never_hears_the_stop() {
    let outcome = naive(&Scenario::default()).await;
    assert!(!outcome.late_worker_heard_stop);
}

/// With drain guards, every accepted job is processed, the drain reports
/// `Complete`, and the late worker hears the stop, on every run.
#[tokio::test(start_paused = true)]
async fn evenkeel_pool_finishes_every_accepted_job() {
    let scenario = Scenario::default();
    for _ in 0..RUNS {
        let outcome = with_evenkeel(&scenario).await;
        assert_eq!(outcome.accepted, scenario.burst);
        assert_eq!(outcome.processed, scenario.burst);
        assert_eq!(outcome.lost, 0);
        assert!(outcome.drain_complete);
        assert!(outcome.late_worker_heard_stop);
    }
}

/// The evenkeel drain takes exactly as long as the queued work: 20 jobs of
/// 10 ms on 4 workers is 5 rounds, 50 ms of paused time.
#[tokio::test(start_paused = true)]
async fn evenkeel_drain_takes_the_time_the_work_needs() {
    let outcome = with_evenkeel(&Scenario::default()).await;
    assert_eq!(outcome.stop_took, Duration::from_millis(50));
}
