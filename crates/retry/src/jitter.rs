//! Jitter: the randomness that keeps many clients from retrying in lockstep.
//!
//! Without jitter, every client that failed at the same moment waits the same
//! delay and fails again together, in waves. Each [`Jitter`] kind spreads the
//! delays differently; AWS's "Exponential Backoff And Jitter" article measures
//! them (see this crate's `aws_jitter` example, which reproduces it). The cap
//! ([`Backoff::max_delay`](crate::Backoff::max_delay)) is applied *after* the
//! jitter, so no kind can push a delay past it.

use rand::Rng;
use rand::rngs::SmallRng;

/// How a [`Backoff`](crate::Backoff) randomises each delay.
///
/// Write `base` for the un-jittered delay of the schedule (exponential,
/// constant or linear, already capped at `max_delay`) and `cap` for
/// `max_delay`. Every kind's result is capped again at `cap` afterwards.
///
/// | kind | delay |
/// | --- | --- |
/// | `None` | `base` |
/// | `Full` | uniform in `[0, base]` |
/// | `Equal` | `base / 2` + uniform in `[0, base / 2]` |
/// | `Decorrelated` | uniform in `[initial, 3 × previous delay]` (the growth curve and `factor` are not used) |
/// | `Proportional(p)` | `base × (1 + u)` with `u` uniform in `[-p %, +p %]`, `p` at most 100 |
///
/// `Full` does the least total work under contention and `Equal` keeps a
/// guaranteed minimum wait; `Decorrelated` grows from the previous delay, as
/// in the AWS article. `Proportional(20)` is the ±20 % used by gRPC's
/// connection backoff.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use evenkeel_retry::{Backoff, Jitter};
///
/// let cap = Duration::from_secs(1);
/// let delays: Vec<Duration> = Backoff::exponential(Duration::from_millis(100))
///     .max_delay(cap)
///     .jitter(Jitter::Full)
///     .seed(7)
///     .take(20)
///     .collect();
/// assert!(delays.iter().all(|d| *d <= cap));
/// assert_eq!(Jitter::default(), Jitter::None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Jitter {
    /// No randomness: the delay is the schedule's own value.
    #[default]
    None,
    /// "Full jitter": uniform between zero and the schedule's value.
    Full,
    /// "Equal jitter": half the schedule's value plus a uniform share of the
    /// other half.
    Equal,
    /// "Decorrelated jitter": uniform between the initial delay and three
    /// times the previous delay.
    Decorrelated,
    /// Plus or minus this many percent of the schedule's value (values above
    /// 100 count as 100). `Proportional(20)` is gRPC's ±20 %.
    Proportional(u8),
}

/// A uniform draw from `[lo, hi]` in nanoseconds (`hi < lo` yields `lo`).
fn between(rng: &mut SmallRng, lo: f64, hi: f64) -> f64 {
    if hi <= lo {
        return lo;
    }
    let u: f64 = rng.random();
    lo + (hi - lo) * u
}

impl Jitter {
    /// Applies this jitter to `base` nanoseconds. `initial` and `previous` are
    /// only read by [`Jitter::Decorrelated`]. The result is not yet capped.
    pub(crate) fn apply(self, rng: &mut SmallRng, base: f64, initial: f64, previous: f64) -> f64 {
        match self {
            Jitter::None => base,
            Jitter::Full => between(rng, 0.0, base),
            Jitter::Equal => between(rng, base / 2.0, base),
            Jitter::Decorrelated => between(rng, initial, previous * 3.0),
            Jitter::Proportional(percent) => {
                let p = f64::from(percent.min(100)) / 100.0;
                base * between(rng, 1.0 - p, 1.0 + p)
            }
        }
    }
}
