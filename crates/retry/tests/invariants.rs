//! Property tests: the arithmetic invariants of `Backoff` hold for any input.

use std::time::Duration;

use evenkeel_retry::{Backoff, Jitter};
use proptest::prelude::*;

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated),
        any::<u8>().prop_map(Jitter::Proportional),
    ]
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        (0u64..10_000_000_000).prop_map(Duration::from_nanos),
        any::<u64>().prop_map(Duration::from_nanos),
    ]
}

fn factor() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(10.0),
        -10.0f64..100.0,
    ]
}

fn backoff(kind: u8, initial: Duration, step: Duration) -> Backoff {
    match kind % 3 {
        0 => Backoff::exponential(initial),
        1 => Backoff::constant(initial),
        _ => Backoff::linear(initial, step),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Every delay is at most `max_delay`, jitter included, for every kind,
    /// factor and seed.
    #[test]
    fn no_delay_exceeds_the_cap(
        kind in any::<u8>(), initial in duration(), step in duration(), cap in duration(),
        f in factor(), j in jitter(), seed in any::<u64>(),
    ) {
        let b = backoff(kind, initial, step).factor(f).jitter(j).max_delay(cap).seed(seed);
        for d in b.take(200) {
            prop_assert!(d <= cap, "{d:?} > {cap:?}");
        }
    }

    /// Never more than `max_attempts - 1` delays (so never more attempts than
    /// `max_attempts`), and 0 behaves as 1.
    #[test]
    fn never_more_delays_than_attempts_allow(
        kind in any::<u8>(), initial in duration(), n in 0u32..300, j in jitter(), seed in any::<u64>(),
    ) {
        let count = backoff(kind, initial, initial).jitter(j).seed(seed).max_attempts(n).count();
        prop_assert_eq!(count, n.saturating_sub(1) as usize);
    }

    /// The yielded delays never sum past `max_elapsed`.
    #[test]
    fn delays_never_sum_past_max_elapsed(
        initial in (0u64..5_000).prop_map(Duration::from_millis),
        limit in (0u64..60_000).prop_map(Duration::from_millis),
        j in jitter(), seed in any::<u64>(),
    ) {
        let total: Duration = Backoff::exponential(initial)
            .jitter(j)
            .seed(seed)
            .max_elapsed(limit)
            .take(1_000)
            .sum();
        prop_assert!(total <= limit);
    }

    /// 10,000 delays with any factor (10 included) and no cap never panic and
    /// stay within the hard ceiling.
    #[test]
    fn ten_thousand_delays_never_panic(initial in duration(), f in factor(), j in jitter(), seed in any::<u64>()) {
        let b = Backoff::exponential(initial).factor(f).jitter(j).seed(seed);
        for d in b.take(10_000) {
            prop_assert!(d <= Backoff::MAX_DELAY_CEILING);
        }
    }

    /// Full jitter stays within `[0, base]` and equal jitter within
    /// `[base / 2, base]` for a constant base.
    #[test]
    fn jitter_ranges_hold(ms in 0u64..100_000, seed in any::<u64>()) {
        let base = Duration::from_millis(ms);
        for d in Backoff::constant(base).jitter(Jitter::Full).seed(seed).take(50) {
            prop_assert!(d <= base);
        }
        for d in Backoff::constant(base).jitter(Jitter::Equal).seed(seed).take(50) {
            prop_assert!(d >= base / 2 && d <= base);
        }
    }
}
