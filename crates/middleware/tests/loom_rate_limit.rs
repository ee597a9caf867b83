//! Model checks (loom) of the rate limiter's token arithmetic: the GCRA
//! cell in `src/rate_limit/gcra.rs`, one `AtomicU64` updated by a
//! compare-and-swap loop, checked by several threads at once.
//!
//! loom runs each model under every interleaving of the threads' atomic
//! operations (up to `LOOM_MAX_PREEMPTIONS` preemptions), so a check that
//! reads the arrival time, loses the race and acts on its stale read (two
//! threads spending the last token, or one overwriting the other's
//! update) shows up as a failing interleaving. The checks run on an
//! explicit nanosecond timeline (`check_at_nanos`, only under `cfg(loom)`),
//! since a model must not read a clock.
//!
//! Run (CI's bounded form):
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p evenkeel-middleware --release --test loom_rate_limit`;
//! drop `LOOM_MAX_PREEMPTIONS` to explore every interleaving.
#![cfg(all(loom, feature = "rate-limit"))]

use std::time::Duration;

use evenkeel_middleware::rate_limit::RateLimiter;
use loom::thread;

/// Runs `check_at_nanos(now)` on `threads` threads at once (the model's
/// main thread included), returning how many were admitted.
fn concurrent_checks(limiter: &RateLimiter, times: &[u64]) -> usize {
    let (first, rest) = times.split_first().expect("at least one check");
    let handles: Vec<_> = rest
        .iter()
        .map(|&now| {
            let limiter = limiter.clone();
            thread::spawn(move || limiter.check_at_nanos(now).is_ok())
        })
        .collect();
    let mut admitted = usize::from(limiter.check_at_nanos(*first).is_ok());
    for h in handles {
        admitted += usize::from(h.join().expect("a check never panics"));
    }
    admitted
}

/// Three checks racing for a burst of two at one instant: exactly two are
/// admitted in every interleaving (never three: no token is spent twice).
#[test]
fn concurrent_checks_never_exceed_the_burst() {
    loom::model(|| {
        let limiter = RateLimiter::with_burst(1, Duration::from_secs(1), 2);
        assert_eq!(concurrent_checks(&limiter, &[0, 0, 0]), 2);
    });
}

/// Three checks on a burst of three: all admitted, and no update is lost:
/// afterwards the cell holds exactly three intervals, so the next check at
/// the same instant is refused with exactly one interval to wait.
#[test]
fn no_update_is_lost_in_the_cas_loop() {
    loom::model(|| {
        let limiter = RateLimiter::with_burst(1, Duration::from_secs(1), 3);
        assert_eq!(concurrent_checks(&limiter, &[0, 0, 0]), 3);
        assert_eq!(limiter.check_at_nanos(0), Err(Duration::from_secs(1)));
    });
}

/// Checks at different instants (one late, one early, as threads reading
/// the clock and then racing do): within one interval, a burst of one
/// admits exactly one, and the wait it reports afterwards is measured from
/// the admitted check's arrival time.
#[test]
fn checks_at_different_instants_admit_one_per_interval() {
    loom::model(|| {
        let second = 1_000_000_000;
        let limiter = RateLimiter::with_burst(1, Duration::from_secs(1), 1);
        assert_eq!(concurrent_checks(&limiter, &[second / 2, 0]), 1);
        // Whoever won, the cell is at most one interval past its arrival,
        // so the next slot opens no later than 1.5 s and not before 1 s.
        let wait = limiter.check_at_nanos(0).unwrap_err();
        assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_millis(1_500));
    });
}
