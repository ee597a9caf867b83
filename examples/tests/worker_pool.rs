//! Pins the `worker-pool` lesson's claim about evenkeel: after a real
//! SIGINT, every accepted job is processed or handed back (lost = 0). The
//! textbook version's loss depends on scheduling, so it is printed by the
//! lesson, not asserted here. This file is its own test binary, so the
//! signal it raises reaches no other test.

use std::time::Duration;

use evenkeel_examples::worker_pool::{Config, run};

/// The evenkeel pool balances its account after a real SIGINT, with work
/// done before the signal and jobs retried along the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evenkeel_pool_loses_nothing_on_sigint() {
    let (textbook, evenkeel) = run(Config::default(), Duration::from_millis(200))
        .await
        .expect("the lesson runs");
    assert!(evenkeel.accepted > 0);
    assert_eq!(evenkeel.lost(), 0, "{evenkeel:?}");
    assert_eq!(evenkeel.accepted, evenkeel.processed + evenkeel.handed_back);
    assert!(evenkeel.retries > 0, "{evenkeel:?}");
    // The textbook version stopped too (the same signal reached it).
    assert!(textbook.accepted > 0);
}
