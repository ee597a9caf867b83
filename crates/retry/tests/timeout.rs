//! `timeout`: the typed error keeps "failed" apart from "too slow".

use std::time::Duration;

use evenkeel_retry::{TimeoutError, timeout};
use tokio::time::{Instant, sleep};

/// A fast success passes through unchanged.
#[tokio::test(start_paused = true)]
async fn fast_success_passes_through() {
    assert_eq!(
        timeout(Duration::from_secs(1), async { Ok::<_, ()>(1) }).await,
        Ok(1)
    );
}

/// A fast failure is `Inner`, not `Elapsed`.
#[tokio::test(start_paused = true)]
async fn fast_failure_is_inner() {
    let r = timeout(Duration::from_secs(1), async { Err::<(), _>("refused") }).await;
    assert_eq!(r, Err(TimeoutError::Inner("refused")));
}

/// A slow operation is `Elapsed` exactly at the deadline.
#[tokio::test(start_paused = true)]
async fn slow_operation_elapses_at_the_deadline() {
    let start = Instant::now();
    let r = timeout(Duration::from_millis(250), async {
        sleep(Duration::from_secs(10)).await;
        Ok::<(), ()>(())
    })
    .await;
    assert_eq!(r, Err(TimeoutError::Elapsed(Duration::from_millis(250))));
    assert_eq!(start.elapsed(), Duration::from_millis(250));
}

/// The deadline is fixed at the call, not at the first poll.
#[tokio::test(start_paused = true)]
async fn deadline_is_fixed_at_the_call() {
    let start = Instant::now();
    let t = timeout(
        Duration::from_millis(100),
        std::future::pending::<Result<(), ()>>(),
    );
    sleep(Duration::from_millis(60)).await;
    assert!(t.await.is_err());
    assert_eq!(start.elapsed(), Duration::from_millis(100));
}

/// A duration too large for `Instant` does not panic.
#[tokio::test(start_paused = true)]
async fn huge_durations_do_not_panic() {
    let r = timeout(Duration::MAX, async { Ok::<_, ()>(3) }).await;
    assert_eq!(r, Ok(3));
}
