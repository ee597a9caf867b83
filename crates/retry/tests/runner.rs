//! The retry runner under paused time: exact schedules, attempt limits,
//! classification, retry-after hints, notification, the blocking variant.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{flaky, gaps, ms, tick};
use evenkeel_retry::{Backoff, Decision, Jitter, RetryError, retry};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Under paused time, the waits between attempts are exactly the seeded
/// schedule (rounded up to tokio's 1 ms timer tick), for every jitter kind.
#[tokio::test(start_paused = true)]
async fn waits_follow_the_seeded_schedule_exactly() {
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
        Jitter::Proportional(20),
    ] {
        let backoff = Backoff::exponential(ms(100))
            .max_delay(ms(1000))
            .jitter(jitter)
            .max_attempts(6)
            .seed(7);
        let expected: Vec<_> = backoff.clone().take(5).map(tick).collect();
        let (calls, op) = flaky(5);
        let result = retry(backoff, op).await;
        assert_eq!(result, Ok(6));
        assert_eq!(gaps(&calls.lock().unwrap()), expected, "{jitter:?}");
    }
}

/// `max_attempts(0)` makes exactly one call and reports `Exhausted`.
#[tokio::test(start_paused = true)]
async fn zero_max_attempts_makes_one_call() {
    let (calls, op) = flaky(10);
    let r = retry(Backoff::constant(ms(1)).max_attempts(0), op).await;
    assert_eq!(
        r,
        Err(RetryError::Exhausted {
            attempts: 1,
            last: "transient"
        })
    );
    assert_eq!(calls.lock().unwrap().len(), 1);
}

/// Exhaustion reports the attempt count and the last error.
#[tokio::test(start_paused = true)]
async fn exhaustion_reports_attempts_and_last_error() {
    let (_, op) = flaky(10);
    let r = retry(Backoff::constant(ms(1)).max_attempts(4), op).await;
    assert_eq!(
        r,
        Err(RetryError::Exhausted {
            attempts: 4,
            last: "transient"
        })
    );
}

/// A permanent error (classifier says Stop) is not retried.
#[tokio::test(start_paused = true)]
async fn permanent_errors_are_not_retried() {
    let (calls, op) = flaky(10);
    let r = retry(Backoff::constant(ms(1)), op)
        .classify(|_| Decision::Stop)
        .await;
    assert_eq!(
        r,
        Err(RetryError::Stopped {
            attempts: 1,
            last: "transient"
        })
    );
    assert_eq!(calls.lock().unwrap().len(), 1);
}

/// A retry-after hint replaces the delay but is capped at `max_delay`.
#[tokio::test(start_paused = true)]
async fn retry_after_is_capped_by_max_delay() {
    let (calls, op) = flaky(2);
    let r = retry(Backoff::constant(ms(10)).max_delay(ms(500)), op)
        .classify(|_| Decision::RetryAfter(Duration::from_secs(30)))
        .await;
    assert_eq!(r, Ok(3));
    assert_eq!(gaps(&calls.lock().unwrap()), [ms(500), ms(500)]);
}

/// A retry-after hint counts against `max_attempts` like any other delay.
#[tokio::test(start_paused = true)]
async fn retry_after_counts_against_attempts() {
    let (calls, op) = flaky(10);
    let r = retry(Backoff::constant(ms(10)).max_attempts(3), op)
        .classify(|_| Decision::RetryAfter(ms(1)))
        .await;
    assert_eq!(
        r,
        Err(RetryError::Exhausted {
            attempts: 3,
            last: "transient"
        })
    );
    assert_eq!(gaps(&calls.lock().unwrap()), [ms(1), ms(1)]);
}

/// A retry-after hint counts against `max_elapsed` like any other delay.
#[tokio::test(start_paused = true)]
async fn retry_after_counts_against_max_elapsed() {
    let (calls, op) = flaky(10);
    let r = retry(Backoff::constant(ms(1)).max_elapsed(ms(250)), op)
        .classify(|_| Decision::RetryAfter(ms(100)))
        .await;
    assert!(matches!(r, Err(RetryError::Exhausted { attempts: 3, .. })));
    assert_eq!(calls.lock().unwrap().len(), 3);
}

/// `notify` sees each retried error with its attempt number and the delay.
#[tokio::test(start_paused = true)]
async fn notify_sees_each_retry() {
    let mut seen = Vec::new();
    let (_, op) = flaky(2);
    let r = retry(Backoff::exponential(ms(10)), op)
        .notify(|e, attempt, delay| seen.push((*e, attempt, delay)))
        .await;
    assert_eq!(r, Ok(3));
    assert_eq!(seen, [("transient", 1, ms(10)), ("transient", 2, ms(20))]);
}

/// `when` retries only matching errors.
#[tokio::test(start_paused = true)]
async fn when_filters_retryable_errors() {
    let calls = AtomicU32::new(0);
    let r = retry(Backoff::constant(Duration::ZERO), || {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move { Err::<(), _>(if n < 2 { 503 } else { 400 }) }
    })
    .when(|status| *status >= 500)
    .await;
    assert_eq!(
        r,
        Err(RetryError::Stopped {
            attempts: 3,
            last: 400
        })
    );
}

/// Zero delays retry without touching the clock.
#[tokio::test(start_paused = true)]
async fn zero_delay_retries_without_waiting() {
    let start = Instant::now();
    let (calls, op) = flaky(100);
    let r = retry(Backoff::constant(Duration::ZERO).max_attempts(50), op).await;
    assert!(matches!(r, Err(RetryError::Exhausted { attempts: 50, .. })));
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(calls.lock().unwrap().len(), 50);
}

/// The retry future is `Send` when its parts are, so it can be spawned.
#[tokio::test(start_paused = true)]
async fn retry_future_can_be_spawned() {
    let handle = tokio::spawn(
        retry(Backoff::constant(ms(1)).max_attempts(2), || async {
            Ok::<_, ()>(5)
        })
        .cancel_on(CancellationToken::new().cancelled_owned()),
    );
    assert_eq!(handle.await.ok(), Some(Ok(5)));
}

/// The blocking runner honours `max_attempts` (0 means one call) and stops on
/// permanent errors; zero delays keep this test off the wall clock.
#[test]
fn blocking_runner_counts_attempts_and_stops() {
    let mut calls = 0;
    let r = evenkeel_retry::retry_blocking(
        Backoff::constant(Duration::ZERO).max_attempts(0),
        || {
            calls += 1;
            Err::<(), _>("x")
        },
        |_| Decision::Retry,
    );
    assert_eq!(
        r,
        Err(RetryError::Exhausted {
            attempts: 1,
            last: "x"
        })
    );
    assert_eq!(calls, 1);
    let r = evenkeel_retry::retry_blocking(
        Backoff::constant(Duration::ZERO).max_attempts(4),
        || Err::<(), _>(7),
        |_| Decision::Retry,
    );
    assert_eq!(
        r,
        Err(RetryError::Exhausted {
            attempts: 4,
            last: 7
        })
    );
}
