//! Pins the `retry` lesson: the textbook `retry_with_backoff` panics on
//! zero attempts and on a long outage and sends its clients in waves; the
//! evenkeel retry does none of it.

use std::time::Duration;

use evenkeel_examples::retry::{Scenario, naive, retry_with_backoff, with_evenkeel};

/// `max_attempts = 0` reaches the textbook loop's `unreachable!()`: a
/// panic, before any call is made.
#[tokio::test(start_paused = true)]
async fn naive_panics_on_zero_attempts() {
    let outcome = naive(&Scenario::default()).await;
    assert!(outcome.zero_attempts.panicked);
    assert_eq!(outcome.zero_attempts.calls, 0);
    assert!(
        outcome.zero_attempts.ended.contains("unreachable"),
        "{:?}",
        outcome.zero_attempts
    );

    let direct = tokio::spawn(retry_with_backoff(|| async { Ok::<(), ()>(()) }, 0)).await;
    assert!(direct.is_err_and(|e| e.is_panic()));
}

/// With no cap, the doubled delay overflows `Duration` after 68 waits: the
/// lone client panics on its way to its 69th call, a thousand virtual years
/// in, having waited 30 years (tokio's longest sleep) between calls.
#[tokio::test(start_paused = true)]
async fn naive_panics_on_a_long_outage() {
    let outcome = naive(&Scenario::default()).await;
    let long = &outcome.long_outage;
    assert!(long.panicked);
    assert!(long.ended.contains("overflow"), "{long:?}");
    assert_eq!(long.calls, 68);
    assert!(
        long.longest_wait > Duration::from_secs(29 * 365 * 24 * 3600),
        "{long:?}"
    );
}

/// Without jitter the herd moves in lockstep: the recovered server meets
/// all 100 clients in one window, refuses 80 + 60 + 40 + 20 of them as
/// overload over four further waves, and the last client is done after
/// 25.5 s, having waited 12.8 s at once.
#[tokio::test(start_paused = true)]
async fn naive_herd_retries_in_waves() {
    let herd = naive(&Scenario::default()).await.herd;
    assert_eq!(herd.peak_calls_per_window, 100);
    assert_eq!(herd.refused_overloaded, 200);
    assert_eq!(herd.calls, 700);
    assert_eq!(herd.succeeded, 100);
    assert_eq!(herd.all_done_after, Duration::from_millis(25_500));
    assert_eq!(herd.longest_wait, Duration::from_millis(12_800));
}

/// `max_attempts(0)` means one call in evenkeel-retry, and the result is
/// an error value, not a panic.
#[tokio::test(start_paused = true)]
async fn evenkeel_zero_attempts_is_one_call() {
    let zero = with_evenkeel(&Scenario::default()).await.zero_attempts;
    assert!(!zero.panicked);
    assert_eq!(zero.calls, 1);
}

/// The long outage ends with a timed-out error inside the deadline, every
/// wait at most the cap.
#[tokio::test(start_paused = true)]
async fn evenkeel_long_outage_is_bounded() {
    let s = Scenario::default();
    let long = with_evenkeel(&s).await.long_outage;
    assert!(!long.panicked);
    assert!(long.ended.contains("timed out"), "{long:?}");
    assert!(long.longest_wait <= s.max_delay, "{long:?}");
    assert!(long.gave_up_after <= s.long_outage_deadline, "{long:?}");
    assert!(long.calls > 1);
}

/// Full jitter spreads the herd: the recovered server never meets more
/// than its capacity in a window (so it refuses nothing), the peak is a
/// small fraction of the naive wave, no wait exceeds the cap, and every
/// client is done in a fraction of the naive time.
#[tokio::test(start_paused = true)]
async fn evenkeel_herd_is_spread_out() {
    let s = Scenario::default();
    let naive = naive(&s).await.herd;
    let herd = with_evenkeel(&s).await.herd;
    assert!(
        herd.peak_calls_per_window <= s.capacity_per_window,
        "{herd:?}"
    );
    assert!(
        herd.peak_calls_per_window * 10 <= naive.peak_calls_per_window,
        "{herd:?}"
    );
    assert_eq!(herd.refused_overloaded, 0);
    assert_eq!(herd.succeeded, s.clients);
    assert!(herd.longest_wait <= s.max_delay, "{herd:?}");
    assert!(
        herd.all_done_after * 5 < naive.all_done_after,
        "{herd:?} vs {naive:?}"
    );
}

/// Seeded jitter makes the evenkeel run exactly repeatable.
#[tokio::test(start_paused = true)]
async fn evenkeel_run_is_repeatable() {
    let s = Scenario::default();
    assert_eq!(with_evenkeel(&s).await, with_evenkeel(&s).await);
}
