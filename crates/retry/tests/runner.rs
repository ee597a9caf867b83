//! The retry runner under paused time: schedules, limits, classification,
//! hints, timeouts, deadlines, cancellation and budgets.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use evenkeel_retry::{Backoff, Decision, Jitter, RetryBudget, RetryError, retry};
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The instants at which an operation was called.
type CallLog = Arc<std::sync::Mutex<Vec<Instant>>>;

/// An operation that fails `failures` times, then succeeds, recording the
/// (virtual) instant of every call.
fn flaky(
    failures: u32,
) -> (
    CallLog,
    impl FnMut() -> std::future::Ready<Result<u32, &'static str>>,
) {
    let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&calls);
    let op = move || {
        let mut log = log.lock().unwrap(); // test code: a poisoned lock is a failed test
        log.push(Instant::now());
        let n = u32::try_from(log.len()).unwrap();
        std::future::ready(if n > failures {
            Ok(n)
        } else {
            Err("transient")
        })
    };
    (calls, op)
}

fn gaps(calls: &[Instant]) -> Vec<Duration> {
    calls.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Rounds up to tokio's timer granularity (1 ms).
fn tick(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap())
}

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
        .classify(|_| Decision::RetryAfter(Duration::from_secs(3600)))
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

/// A retry-after hint longer than the remaining deadline ends the loop at
/// once instead of sleeping past the deadline.
#[tokio::test(start_paused = true)]
async fn retry_after_never_sleeps_past_the_deadline() {
    let start = Instant::now();
    let (_, op) = flaky(10);
    let r = retry(Backoff::constant(ms(1)), op)
        .classify(|_| Decision::RetryAfter(Duration::from_secs(60)))
        .deadline(Duration::from_secs(5))
        .await;
    assert!(matches!(
        r,
        Err(RetryError::TimedOut {
            attempts: 1,
            last: Some("transient")
        })
    ));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

/// The deadline is never overshot: no wait is started that would end at or
/// past it, and an attempt running at the deadline is dropped there.
#[tokio::test(start_paused = true)]
async fn deadline_is_never_overshot() {
    let start = Instant::now();
    let calls = AtomicU32::new(0);
    let r = retry(Backoff::constant(ms(300)), || {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            // The third attempt hangs far past the deadline.
            sleep(if n == 2 {
                Duration::from_secs(60)
            } else {
                ms(100)
            })
            .await;
            Err::<(), _>(n)
        }
    })
    .deadline(Duration::from_secs(1))
    .await;
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(
        r,
        Err(RetryError::TimedOut {
            attempts: 3,
            last: Some(1)
        })
    );
}

/// A hung attempt is abandoned after the attempt timeout and retried; when
/// attempts run out on a timeout the result is `TimedOut`.
#[tokio::test(start_paused = true)]
async fn attempt_timeout_retries_then_times_out() {
    let start = Instant::now();
    let r = retry(Backoff::constant(ms(10)).max_attempts(3), || async {
        sleep(Duration::from_secs(60)).await;
        Ok::<_, ()>(())
    })
    .attempt_timeout(ms(100))
    .await;
    assert_eq!(
        r,
        Err(RetryError::TimedOut {
            attempts: 3,
            last: None
        })
    );
    assert_eq!(start.elapsed(), ms(320));
}

/// Cancellation during a wait ends the loop at once, keeping the last error.
#[tokio::test(start_paused = true)]
async fn cancellation_during_a_sleep_is_prompt() {
    let token = CancellationToken::new();
    let stopper = token.clone();
    tokio::spawn(async move {
        sleep(ms(150)).await;
        stopper.cancel();
    });
    let start = Instant::now();
    let (calls, op) = flaky(10);
    let r = retry(Backoff::constant(Duration::from_secs(100)), op)
        .cancel_on(token.cancelled_owned())
        .await;
    assert_eq!(
        r,
        Err(RetryError::Cancelled {
            attempts: 1,
            last: Some("transient")
        })
    );
    assert_eq!(start.elapsed(), ms(150));
    assert_eq!(calls.lock().unwrap().len(), 1);
}

/// Cancellation during an attempt drops the attempt at once.
#[tokio::test(start_paused = true)]
async fn cancellation_during_an_attempt_is_prompt() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        sleep(ms(40)).await;
        let _ = tx.send(());
    });
    let start = Instant::now();
    let r = retry(Backoff::constant(ms(1)), || async {
        sleep(Duration::from_secs(3600)).await;
        Ok::<_, ()>(())
    })
    .cancel_on(rx)
    .await;
    assert_eq!(
        r,
        Err(RetryError::Cancelled {
            attempts: 1,
            last: None
        })
    );
    assert_eq!(start.elapsed(), ms(40));
}

/// A signal that already fired stops the loop before the first call.
#[tokio::test(start_paused = true)]
async fn already_cancelled_makes_no_call() {
    let (calls, op) = flaky(0);
    let r = retry(Backoff::constant(ms(1)), op)
        .cancel_on(async {})
        .await;
    assert_eq!(
        r,
        Err(RetryError::Cancelled {
            attempts: 0,
            last: None
        })
    );
    assert!(calls.lock().unwrap().is_empty());
}

/// An empty budget refuses the retry; the loop ends with `BudgetExhausted`.
#[tokio::test(start_paused = true)]
async fn budget_exhaustion_stops_retries() {
    // Reserve 1 retry per second over 1 s; ratio 0.
    let budget = RetryBudget::new(Duration::from_secs(1), 1, 0.0);
    let (calls, op) = flaky(10);
    let r = retry(Backoff::constant(ms(1)), op).budget(&budget).await;
    assert_eq!(
        r,
        Err(RetryError::BudgetExhausted {
            attempts: 2,
            last: Some("transient")
        })
    );
    assert_eq!(calls.lock().unwrap().len(), 2);
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

/// Endless zero-delay retries still yield to the executor: a task spawned on
/// the same single thread gets to run and cancel the loop.
#[tokio::test(start_paused = true)]
async fn zero_delay_retries_do_not_starve_the_executor() {
    let token = CancellationToken::new();
    let canceller = token.clone();
    tokio::spawn(async move { canceller.cancel() });
    let r = retry(Backoff::constant(Duration::ZERO), || async {
        Err::<(), _>(())
    })
    .cancel_on(token.cancelled_owned())
    .await;
    assert!(matches!(r, Err(RetryError::Cancelled { attempts, .. }) if attempts > 1));
}

/// Zero delays with a deadline set retry at once too (no timer tick is
/// waited for).
#[tokio::test(start_paused = true)]
async fn zero_delay_with_deadline_does_not_wait() {
    let start = Instant::now();
    let (calls, op) = flaky(5);
    let r = retry(Backoff::constant(Duration::ZERO), op)
        .deadline(Duration::from_secs(1))
        .attempt_timeout(Duration::from_millis(100))
        .await;
    assert_eq!(r, Ok(6));
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(calls.lock().unwrap().len(), 6);
}
