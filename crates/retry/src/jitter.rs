//! Jitter: the randomness that keeps many clients from retrying in lockstep.
//!
//! Without jitter, every client that failed at the same moment waits the same
//! delay and fails again together, in waves. Each [`Jitter`] kind spreads the
//! delays differently; AWS's "Exponential Backoff And Jitter" article measures
//! them (see this crate's `aws_jitter` example, which reproduces it).
//!
//! # Jitter within the cap, not before it
//!
//! The tempting order is "jitter, then clamp to the cap". It keeps every
//! delay under [`max_delay`](crate::Backoff::max_delay), but once the
//! schedule has grown to the cap it quietly undoes the jitter: every draw
//! that lands above the cap is clamped to *exactly* the cap. With ±20 %
//! that is half of all delays (gRPC clients retrying in lockstep, the very
//! thing jitter is for); with decorrelated jitter about two thirds. So each
//! kind here draws *within* the cap: the range is worked out from the capped
//! base and then its top is lowered to the cap, so the draws stay spread out
//! below it and the chance of landing exactly on the cap is nil.
use rand::Rng;
use rand::rngs::SmallRng;

/// How a [`Backoff`](crate::Backoff) randomises each delay.
///
/// Write `base` for the un-jittered delay of the schedule (exponential,
/// constant or linear, already capped at `max_delay`) and `cap` for
/// `max_delay`. Every kind draws *within* the cap (see the module docs for
/// why): where a range would reach past `cap`, its top is lowered to `cap`.
///
/// | kind | delay |
/// | --- | --- |
/// | `None` | `base` |
/// | `Full` | uniform in `[0, base]` |
/// | `Equal` | uniform in `[base / 2, base]` |
/// | `Decorrelated` | uniform in `[initial, min(3 × previous delay, cap)]` (the growth curve and `factor` are not used) |
/// | `Proportional(p)` | uniform in `[base × (1 - p %), min(base × (1 + p %), cap)]`, `p` at most 100 |
///
/// So at the cap, `Proportional(20)` spreads its delays over the top 20 %
/// below the cap (not half of them *on* it), and `Decorrelated` over
/// `[initial, cap]`.
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
    /// Applies this jitter to `base` nanoseconds (already capped), drawing
    /// within `[0, cap]`. `initial` and `previous` are only read by
    /// [`Jitter::Decorrelated`]. The caller still clamps the result into
    /// `[0, cap]` (a no-op but for rounding at the extremes).
    pub(crate) fn apply(
        self,
        rng: &mut SmallRng,
        base: f64,
        cap: f64,
        initial: f64,
        previous: f64,
    ) -> f64 {
        match self {
            Jitter::None => base,
            Jitter::Full => between(rng, 0.0, base),
            Jitter::Equal => between(rng, base / 2.0, base),
            Jitter::Decorrelated => between(rng, initial.min(cap), (previous * 3.0).min(cap)),
            Jitter::Proportional(percent) => {
                let p = f64::from(percent.min(100)) / 100.0;
                between(rng, base * (1.0 - p), (base * (1.0 + p)).min(cap))
            }
        }
    }
}
