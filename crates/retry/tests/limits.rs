//! The runner's limits under paused time: deadline, attempt timeout,
//! cancellation (during a wait and during an attempt), retry budget, and
//! fairness of zero-delay loops.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{flaky, ms};
use evenkeel_retry::{Backoff, Decision, RetryBudget, RetryError, retry};
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

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

/// Endless zero-delay retries still yield to the executor: a task spawned on
/// the same single thread gets to run and cancel the loop.
#[tokio::test(start_paused = true)]
async fn zero_delay_retries_do_not_starve_the_executor() {
    let token = CancellationToken::new();
    let canceller = token.clone();
    tokio::spawn(async move { canceller.cancel() });
    let endless = Backoff::constant(Duration::ZERO).without_max_attempts();
    let r = retry(endless, || async { Err::<(), _>(()) })
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
    let r = retry(Backoff::constant(Duration::ZERO).max_attempts(10), op)
        .deadline(Duration::from_secs(1))
        .attempt_timeout(Duration::from_millis(100))
        .await;
    assert_eq!(r, Ok(6));
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(calls.lock().unwrap().len(), 6);
}
