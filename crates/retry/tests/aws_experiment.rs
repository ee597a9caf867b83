//! The AWS "Exponential Backoff And Jitter" result holds for this crate:
//! under contention, full and decorrelated jitter do markedly less work than
//! no jitter.

#[path = "../examples/aws_jitter/sim.rs"]
mod sim;

use evenkeel_retry::Jitter;
use tokio::task::LocalSet;

/// With 50 contending clients, no jitter degenerates into one winner per
/// lockstep round (50 × 51 / 2 attempts), while full and decorrelated jitter
/// need less than half as many attempts.
#[tokio::test(start_paused = true)]
async fn jitter_cuts_the_work_under_contention() {
    let local = LocalSet::new();
    let none = local.run_until(sim::race(50, Jitter::None)).await;
    let full = local.run_until(sim::race(50, Jitter::Full)).await;
    let decorrelated = local.run_until(sim::race(50, Jitter::Decorrelated)).await;
    assert_eq!(none.calls, 50 * 51 / 2);
    assert!(
        full.calls * 2 < none.calls,
        "full {full:?} vs none {none:?}"
    );
    assert!(
        decorrelated.calls * 2 < none.calls,
        "decorrelated {decorrelated:?} vs none {none:?}"
    );
    assert!(full.completion > std::time::Duration::ZERO);
}
