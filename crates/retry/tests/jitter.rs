//! The *distribution* of jittered delays at the cap, not only their bound:
//! jitter drawn within the cap keeps its spread there, instead of piling
//! the draws onto the cap itself (which puts clients back in lockstep).

use std::time::Duration;

use evenkeel_retry::{Backoff, Jitter};
use proptest::prelude::*;

/// `n` delays of a schedule that has already grown to `cap` (it starts there).
fn at_the_cap(jitter: Jitter, cap: Duration, initial: Duration, seed: u64, n: usize) -> Vec<f64> {
    Backoff::exponential(initial)
        .factor(10.0)
        .max_delay(cap)
        .jitter(jitter)
        .seed(seed)
        .without_max_attempts()
        .skip(8) // 10^8 × initial is far past any cap used here
        .take(n)
        .map(|d| d.as_secs_f64() / cap.as_secs_f64())
        .collect()
}

fn share(draws: &[f64], pred: impl Fn(f64) -> bool) -> f64 {
    draws.iter().filter(|x| pred(**x)).count() as f64 / draws.len() as f64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// At the cap, `Proportional(p)` spreads its delays uniformly over
    /// `[cap × (1 - p %), cap]`: almost none land exactly on the cap (jitter
    /// before the cap put half of them there), their mean is about
    /// `cap × (1 - p/2 %)`, and both ends of the range are reached.
    #[test]
    fn proportional_jitter_keeps_its_spread_at_the_cap(
        p in 5u8..=100, cap_ms in 100u64..600_000, seed in any::<u64>(),
    ) {
        let cap = Duration::from_millis(cap_ms);
        let draws = at_the_cap(Jitter::Proportional(p), cap, Duration::from_millis(1), seed, 2_000);
        let p = f64::from(p) / 100.0;
        prop_assert!(share(&draws, |x| x >= 1.0) < 0.01, "draws pile up on the cap");
        prop_assert!(draws.iter().all(|x| *x >= 1.0 - p - 1e-9 && *x <= 1.0));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        prop_assert!((mean - (1.0 - p / 2.0)).abs() < p * 0.05, "mean {mean}");
        prop_assert!(share(&draws, |x| x < 1.0 - 0.9 * p) > 0.05, "bottom of the range unused");
        prop_assert!(share(&draws, |x| x > 1.0 - 0.1 * p) > 0.05, "top of the range unused");
    }

    /// At the cap, decorrelated jitter draws over `[initial, cap]`: almost
    /// none exactly on the cap (about two thirds with jitter before the cap),
    /// most in the lower half (a low draw shrinks the next range) and a
    /// fair share in the upper half.
    #[test]
    fn decorrelated_jitter_keeps_its_spread_at_the_cap(
        cap_ms in 1_000u64..600_000, seed in any::<u64>(),
    ) {
        let cap = Duration::from_millis(cap_ms);
        let initial = Duration::from_millis(10);
        let draws = at_the_cap(Jitter::Decorrelated, cap, initial, seed, 2_000);
        prop_assert!(share(&draws, |x| x >= 1.0) < 0.01, "draws pile up on the cap");
        // Simulated, the chain puts 75-87 % of its draws below half the cap
        // and 13-25 % above, for caps of 100× to 60,000× the initial delay.
        prop_assert!(share(&draws, |x| x < 0.5) > 0.4, "spread lost");
        prop_assert!(share(&draws, |x| x > 0.5) > 0.05, "upper half unused");
    }
}

/// Full and equal jitter never reached past their base, so they were never
/// clamped; at the cap they still spread over `[0, cap]` and
/// `[cap / 2, cap]`.
#[test]
fn full_and_equal_jitter_spread_below_the_cap() {
    let cap = Duration::from_secs(1);
    let full = at_the_cap(Jitter::Full, cap, Duration::from_millis(1), 3, 2_000);
    assert!(share(&full, |x| x >= 1.0) < 0.01);
    assert!(share(&full, |x| x < 0.5) > 0.4);
    let equal = at_the_cap(Jitter::Equal, cap, Duration::from_millis(1), 3, 2_000);
    assert!(equal.iter().all(|x| *x >= 0.5 && *x <= 1.0));
    assert!(share(&equal, |x| x >= 1.0) < 0.01);
}

/// Different streams of one seed jitter differently; the same stream
/// repeats.
#[test]
fn seed_streams_are_independent_and_reproducible() {
    let template = Backoff::exponential(Duration::from_millis(100))
        .jitter(Jitter::Full)
        .max_attempts(9)
        .seed(11);
    let stream = |n| template.clone().seed_stream(n).collect::<Vec<_>>();
    assert_eq!(stream(0), template.clone().collect::<Vec<_>>());
    assert_ne!(stream(0), stream(1));
    assert_ne!(stream(1), stream(2));
    assert_eq!(stream(2), stream(2));
}
