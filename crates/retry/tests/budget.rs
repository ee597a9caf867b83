//! `RetryBudget`: Finagle/tower `TpsBudget` semantics under paused time.

use std::time::Duration;

use evenkeel_retry::RetryBudget;
use tokio::time::advance;

/// Each deposit buys `retry_ratio` of a retry; withdrawals beyond that fail.
#[tokio::test(start_paused = true)]
async fn ratio_limits_retries_to_a_share_of_requests() {
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.2);
    for _ in 0..10 {
        budget.deposit();
    }
    assert!(budget.withdraw());
    assert!(budget.withdraw());
    assert!(!budget.withdraw());
}

/// The per-second reserve allows retries with no traffic at all.
#[tokio::test(start_paused = true)]
async fn reserve_allows_min_per_sec_times_ttl() {
    let budget = RetryBudget::new(Duration::from_secs(2), 3, 0.0);
    assert_eq!(budget.available(), 6);
    for _ in 0..6 {
        assert!(budget.withdraw());
    }
    assert!(!budget.withdraw());
}

/// The reserve counts the window's fraction of a second too: a 1.5 s window
/// at 2 retries per second holds 3 retries (whole seconds alone gave 2).
#[tokio::test(start_paused = true)]
async fn reserve_uses_the_exact_window() {
    let budget = RetryBudget::new(Duration::from_millis(1500), 2, 0.0);
    assert_eq!(budget.available(), 3);
    for _ in 0..3 {
        assert!(budget.withdraw());
    }
    assert!(!budget.withdraw());
    // Below a whole retry, the fraction still counts: 1.25 s at 2/s is 2.5.
    let budget = RetryBudget::new(Duration::from_millis(1250), 2, 1.0);
    budget.deposit(); // +1.0 makes 3.5
    assert_eq!(budget.available(), 3);
}

/// Deposits and withdrawals expire after `ttl`, restoring the reserve.
#[tokio::test(start_paused = true)]
async fn entries_expire_after_ttl() {
    let budget = RetryBudget::new(Duration::from_secs(1), 1, 1.0);
    budget.deposit();
    assert_eq!(budget.available(), 2);
    assert!(budget.withdraw());
    assert!(budget.withdraw());
    assert!(!budget.withdraw());
    advance(Duration::from_millis(1100)).await;
    assert_eq!(
        budget.available(),
        1,
        "only the reserve is left once the window has slid past"
    );
}

/// Clones share one balance.
#[tokio::test(start_paused = true)]
async fn clones_share_state() {
    let a = RetryBudget::new(Duration::from_secs(1), 0, 1.0);
    let b = a.clone();
    a.deposit();
    assert!(b.withdraw());
    assert!(!a.withdraw());
}

/// Out-of-range inputs are clamped, never a panic.
#[tokio::test(start_paused = true)]
async fn degenerate_inputs_are_clamped() {
    let zero_ttl = RetryBudget::new(Duration::ZERO, 1, f32::NAN);
    assert_eq!(
        zero_ttl.available(),
        1,
        "ttl clamps up to 1 s; NaN ratio is 0"
    );
    zero_ttl.deposit();
    assert_eq!(zero_ttl.available(), 1);
    let huge = RetryBudget::new(Duration::MAX, u32::MAX, f32::INFINITY);
    huge.deposit();
    assert!(huge.withdraw());
    let negative = RetryBudget::new(Duration::from_secs(1), 0, -5.0);
    negative.deposit();
    assert!(!negative.withdraw());
}

/// Many threads depositing and withdrawing never allow more than the budget.
#[test]
fn concurrent_withdrawals_never_overspend() {
    let budget = RetryBudget::new(Duration::from_secs(60), 0, 0.5);
    for _ in 0..100 {
        budget.deposit();
    }
    let granted: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = budget.clone();
                s.spawn(move || (0..100).filter(|_| b.withdraw()).count())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    assert_eq!(granted, 50);
}
