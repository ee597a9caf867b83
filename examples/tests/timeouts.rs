//! Pins the `timeouts` lesson: evenkeel's timeout keeps the call's error,
//! a per-attempt timeout under a deadline gets past a hung attempt, and
//! `TimeoutLayer` covers the wait for readiness.

use std::time::Duration;

use evenkeel_examples::timeouts::{
    Scenario, one_timeout_around_all, per_attempt_and_deadline, replaced, timeout_around_call_only,
    timeout_covering_readiness, wrapped,
};

/// The wrapped timeout logs the refused call's own error and tells it
/// apart from the hung one; the flattened one logs the same line for both.
#[tokio::test(start_paused = true)]
async fn wrapped_timeout_keeps_the_error() {
    let s = Scenario::default();
    let naive = replaced(&s).await;
    assert_eq!(naive.refused, naive.hung);
    assert!(!naive.refused.contains("403"));

    let evenkeel = wrapped(&s).await;
    assert!(evenkeel.can_tell_apart);
    assert!(
        evenkeel
            .refused
            .contains("reserve item 42 failed: 403 forbidden")
    );
    assert!(evenkeel.hung.contains("timed out after 1s"));
}

/// One timeout around the loop ends with nothing at the total budget; a
/// per-attempt timeout abandons the hung attempt and the second succeeds.
#[tokio::test(start_paused = true)]
async fn per_attempt_timeout_gets_past_a_hung_attempt() {
    let s = Scenario::default();
    let naive = one_timeout_around_all(&s).await;
    assert_eq!(naive.value, None);
    assert_eq!(naive.attempts, 1);
    assert_eq!(naive.took, s.total);

    let evenkeel = per_attempt_and_deadline(&s).await;
    assert_eq!(evenkeel.value, Some(2));
    assert_eq!(evenkeel.attempts, 2);
    assert!(evenkeel.took < s.total, "took {:?}", evenkeel.took);
    assert!(evenkeel.took >= s.limit);
}

/// A timer around the call alone waits the whole minute the slot is held
/// and never fires; `TimeoutLayer` answers at its limit.
#[tokio::test(start_paused = true)]
async fn timeout_layer_covers_readiness() {
    let s = Scenario::default();
    let naive = timeout_around_call_only(&s).await;
    assert!(!naive.timed_out);
    assert!(naive.took >= s.slot_held);

    let evenkeel = timeout_covering_readiness(&s).await;
    assert!(evenkeel.timed_out);
    assert_eq!(evenkeel.took, s.limit);
}

/// The scenario's numbers are the ones the lesson's text promises.
#[test]
fn scenario_defaults() {
    let s = Scenario::default();
    assert_eq!(s.total, Duration::from_secs(3));
    assert!(s.hang > s.total);
}
