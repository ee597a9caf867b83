//! Exact schedules and the textbook pitfalls, pinned one test each.

use std::time::Duration;

use evenkeel_retry::{Backoff, Jitter};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The reference schedule for the golden tests: 100 ms doubling, 1 s cap.
fn reference(jitter: Jitter) -> Vec<u128> {
    Backoff::exponential(ms(100))
        .max_delay(Duration::from_secs(1))
        .jitter(jitter)
        .seed(42)
        .max_attempts(9)
        .map(|d| d.as_micros())
        .collect()
}

/// Without jitter the schedule is exactly initial × 2ⁿ, then the cap.
#[test]
fn no_jitter_doubles_then_caps() {
    assert_eq!(
        reference(Jitter::None),
        [
            100_000, 200_000, 400_000, 800_000, 1_000_000, 1_000_000, 1_000_000, 1_000_000
        ]
    );
}

/// Seed 42 gives this exact full-jitter schedule (rand 0.9 `SmallRng`, 64-bit).
#[test]
#[cfg(target_pointer_width = "64")] // `SmallRng` is a different generator on 32-bit targets
fn full_jitter_schedule_is_exact_under_a_seed() {
    assert_eq!(
        reference(Jitter::Full),
        [
            81_430, 63_764, 393_557, 560_908, 793_504, 588_098, 125_352, 605_122
        ]
    );
}

/// Seed 42 gives this exact equal-jitter schedule: half the base plus a share.
#[test]
#[cfg(target_pointer_width = "64")] // `SmallRng` is a different generator on 32-bit targets
fn equal_jitter_schedule_is_exact_under_a_seed() {
    assert_eq!(
        reference(Jitter::Equal),
        [
            90_715, 131_882, 396_778, 680_454, 896_752, 794_049, 562_676, 802_561
        ]
    );
}

/// Seed 42 gives this exact decorrelated schedule, drawn within the 1 s cap
/// (once `3 × previous` passes the cap, the draws spread over
/// `[100 ms, 1 s]` instead of sitting on 1 s).
#[test]
#[cfg(target_pointer_width = "64")] // `SmallRng` is a different generator on 32-bit targets
fn decorrelated_jitter_schedule_is_exact_under_a_seed() {
    assert_eq!(
        reference(Jitter::Decorrelated),
        [
            262_861, 319_534, 944_775, 731_022, 814_154, 629_288, 212_817, 425_829
        ]
    );
}

/// Seed 42 gives this exact ±20 % schedule; at the cap the draws spread over
/// `[800 ms, 1 s]` instead of half of them sitting on 1 s.
#[test]
#[cfg(target_pointer_width = "64")] // `SmallRng` is a different generator on 32-bit targets
fn proportional_jitter_schedule_is_exact_under_a_seed() {
    assert_eq!(
        reference(Jitter::Proportional(20)),
        [
            112_572, 185_505, 477_423, 864_363, 958_700, 917_619, 825_070, 921_024
        ]
    );
}

/// `max_attempts(0)` means one call and no delay (the textbook version hits
/// `unreachable!()` here).
#[test]
fn zero_max_attempts_means_a_single_call() {
    assert_eq!(Backoff::exponential(ms(1)).max_attempts(0).next(), None);
    assert_eq!(Backoff::exponential(ms(1)).max_attempts(1).next(), None);
    assert_eq!(Backoff::exponential(ms(1)).max_attempts(2).count(), 1);
}

/// 10,000 delays at factor 10 neither overflow nor panic; they sit at the cap.
#[test]
fn ten_thousand_attempts_at_factor_ten_do_not_overflow() {
    let cap = Duration::from_secs(30);
    let delays: Vec<_> = Backoff::exponential(ms(100))
        .factor(10.0)
        .max_delay(cap)
        .max_attempts(10_001)
        .collect();
    assert_eq!(delays.len(), 10_000);
    assert!(delays[3..].iter().all(|d| *d == cap));
}

/// Without a `max_delay`, growth stops at the hard ceiling instead of
/// overflowing `Duration`.
#[test]
fn uncapped_growth_stops_at_the_ceiling() {
    let last = Backoff::exponential(Duration::from_secs(1))
        .factor(10.0)
        .without_max_attempts()
        .take(10_000)
        .last();
    assert_eq!(last, Some(Backoff::MAX_DELAY_CEILING));
    let linear = Backoff::linear(Duration::MAX, Duration::MAX)
        .without_max_attempts()
        .take(3)
        .last();
    assert_eq!(linear, Some(Backoff::MAX_DELAY_CEILING));
}

/// NaN, negative and sub-1 factors count as 1.0; infinity jumps to the cap.
#[test]
fn degenerate_factors_are_clamped() {
    for factor in [f64::NAN, -3.0, 0.0, 0.5] {
        let v: Vec<_> = Backoff::exponential(ms(10))
            .factor(factor)
            .take(3)
            .collect();
        assert_eq!(v, [ms(10); 3], "factor {factor}");
    }
    let v: Vec<_> = Backoff::exponential(ms(10))
        .factor(f64::INFINITY)
        .max_delay(ms(70))
        .take(3)
        .collect();
    assert_eq!(v, [ms(10), ms(70), ms(70)]);
}

/// Zero durations stay zero for every kind and every jitter (0 × ∞ is not NaN
/// here).
#[test]
fn zero_durations_stay_zero() {
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
        Jitter::Proportional(50),
    ] {
        let b = Backoff::exponential(Duration::ZERO)
            .factor(f64::INFINITY)
            .jitter(jitter);
        assert!(b.take(5).all(|d| d.is_zero()), "{jitter:?}");
    }
    assert!(
        Backoff::exponential(ms(5))
            .max_delay(Duration::ZERO)
            .take(5)
            .all(|d| d.is_zero())
    );
}

/// `max_elapsed` bounds the sum of the delays: the schedule ends rather than
/// cross it, and stays ended.
#[test]
fn max_elapsed_ends_before_the_sum_crosses_it() {
    let mut b = Backoff::constant(ms(300)).max_elapsed(Duration::from_secs(1));
    assert_eq!(b.by_ref().collect::<Vec<_>>(), [ms(300); 3]);
    assert_eq!(b.next(), None);
}

/// Linear schedules add the step each time.
#[test]
fn linear_adds_the_step() {
    let v: Vec<_> = Backoff::linear(ms(10), ms(5))
        .max_delay(ms(22))
        .max_attempts(5)
        .collect();
    assert_eq!(v, [ms(10), ms(15), ms(20), ms(22)]);
}

/// Cloning an unstarted template gives a fresh schedule; a clone of a started
/// one continues where it was; `reset` rewinds.
#[test]
fn clone_copies_state_and_reset_rewinds() {
    let template = Backoff::exponential(ms(1)).max_attempts(4);
    let mut a = template.clone();
    assert_eq!(a.next(), Some(ms(1)));
    let b = a.clone();
    assert_eq!(b.collect::<Vec<_>>(), [ms(2), ms(4)]);
    assert_eq!(template.clone().collect::<Vec<_>>(), [ms(1), ms(2), ms(4)]);
    a.reset();
    assert_eq!(a.collect::<Vec<_>>(), [ms(1), ms(2), ms(4)]);
}

/// Clones of an unseeded template jitter independently (no lockstep); seeded
/// clones repeat the same delays.
#[test]
fn unseeded_clones_reseed_seeded_clones_repeat() {
    let template = Backoff::exponential(Duration::from_secs(1))
        .jitter(Jitter::Full)
        .max_attempts(9);
    let a: Vec<_> = template.clone().take(8).collect();
    let b: Vec<_> = template.clone().take(8).collect();
    assert_ne!(a, b);
    let seeded = template.seed(9);
    let c: Vec<_> = seeded.clone().take(8).collect();
    assert_eq!(c, seeded.take(8).collect::<Vec<_>>());
}

/// The gRPC preset: 1 s ×1.6 with ±20 % jitter, never above 120 s; the AWS
/// preset: full jitter, 3 attempts.
#[test]
fn presets_have_their_documented_numbers() {
    let grpc: Vec<_> = Backoff::grpc()
        .without_max_attempts()
        .seed(1)
        .take(30)
        .collect();
    assert!(grpc[0] >= ms(800) && grpc[0] <= ms(1200));
    assert!(grpc[1] >= ms(1280) && grpc[1] <= ms(1920));
    assert!(grpc.iter().all(|d| *d <= Duration::from_secs(120)));
    assert_eq!(grpc[29], grpc[29].min(Duration::from_secs(120)));
    let aws: Vec<_> = Backoff::aws().seed(1).collect();
    assert_eq!(aws.len(), 2);
    assert!(aws[0] <= Duration::from_secs(1) && aws[1] <= Duration::from_secs(2));
}

/// `size_hint` reports the delays left when `max_attempts` is set.
#[test]
fn size_hint_counts_remaining_delays() {
    let mut b = Backoff::constant(ms(1)).max_attempts(4);
    assert_eq!(b.size_hint(), (0, Some(3)));
    b.next();
    assert_eq!(b.size_hint(), (0, Some(2)));
}

/// A retry-after hint taken through `next_retry_after` is capped at
/// `max_delay` and counts against `max_attempts` and `max_elapsed`.
#[test]
fn retry_after_hints_are_capped_and_counted() {
    let mut b = Backoff::constant(ms(10)).max_delay(ms(100)).max_attempts(3);
    assert_eq!(b.next_retry_after(Duration::from_secs(60)), Some(ms(100)));
    assert_eq!(b.next_retry_after(ms(5)), Some(ms(5)));
    assert_eq!(b.next_retry_after(ms(5)), None);
    let mut b = Backoff::constant(ms(10))
        .without_max_attempts()
        .max_elapsed(ms(150));
    assert_eq!(b.next_retry_after(ms(100)), Some(ms(100)));
    assert_eq!(b.next_retry_after(ms(100)), None, "100 + 100 > 150");
}
