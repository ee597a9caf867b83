//! The arithmetic of a [`Backoff`]: computing each delay without overflow.
//!
//! Delays are computed in `f64` nanoseconds (exponential growth, jitter) or
//! with saturating `Duration` operations (linear growth); the base is capped
//! at `max_delay` first, the jitter draws within `[0, max_delay]`, and the
//! result is clamped into that range once more against rounding. NaN (only possible as 0 × ∞) counts
//! as zero, anything past the cap is the cap, and `max_attempts` and
//! `max_elapsed` are checked before a delay is handed out.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::{Backoff, Growth};
use crate::Jitter;

/// A fresh random seed without a syscall: std's per-thread hasher keys.
fn fresh_seed() -> u64 {
    RandomState::new().hash_one(0x5eed_u64)
}

/// The generator seed for stream `stream` of `seed`: stream 0 is `seed`
/// itself; other streams step by the golden-ratio constant (as `SplitMix64`
/// does), and `seed_from_u64` scrambles the result, so neighbouring streams
/// are unrelated.
fn stream_seed(seed: u64, stream: u64) -> u64 {
    seed.wrapping_add(stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// `d` in nanoseconds, as `f64` (exact below 2^53 ns, about 104 days).
///
/// Two `u64` conversions rather than one `u128` conversion, which is a slow
/// software routine on most targets.
fn nanos(d: Duration) -> f64 {
    let d = d.min(Backoff::MAX_DELAY_CEILING);
    d.as_secs() as f64 * 1e9 + f64::from(d.subsec_nanos())
}

/// Converts nanoseconds to a `Duration` clamped into `[0, cap]`; NaN is 0.
fn clamp_to_duration(value: f64, cap: Duration) -> Duration {
    let cap_nanos = nanos(cap);
    if value.is_nan() || value <= 0.0 {
        Duration::ZERO
    } else if value >= cap_nanos {
        cap
    } else {
        // In range: 0 < value < cap_nanos <= u64::MAX, so the cast is exact
        // up to rounding and can neither truncate nor lose the sign.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = value.round() as u64;
        Duration::from_nanos(n).min(cap)
    }
}

/// The un-jittered delay: exact for constant and linear schedules,
/// nanoseconds for exponential ones.
#[derive(Clone, Copy)]
enum Base {
    Exact(Duration),
    Nanos(f64),
}

impl Backoff {
    /// The cap that [`max_delay`](Backoff::max_delay) set, or the ceiling.
    pub(crate) fn cap(&self) -> Duration {
        self.max_delay.unwrap_or(Self::MAX_DELAY_CEILING)
    }

    /// The next delay, or `hint` (capped at `max_delay`) in its place. Either
    /// way the schedule advances and the delay counts against `max_attempts`
    /// and `max_elapsed`.
    pub(crate) fn next_delay(&mut self, hint: Option<Duration>) -> Option<Duration> {
        if self.done {
            return None;
        }
        if self
            .max_attempts
            .is_some_and(|n| self.yielded >= n.saturating_sub(1))
        {
            self.done = true;
            return None;
        }
        if self.yielded == 0 {
            self.next_base = nanos(self.initial);
            self.previous = self.initial;
        }
        let cap = self.cap();
        // Constant and linear schedules stay in exact `Duration` arithmetic;
        // only exponential growth and jitter need `f64`.
        let base = match self.growth {
            Growth::Exponential => Base::Nanos(self.next_base.min(nanos(cap))),
            Growth::Constant => Base::Exact(self.initial.min(cap)),
            Growth::Linear(step) => Base::Exact(
                self.initial
                    .saturating_add(step.saturating_mul(self.yielded))
                    .min(cap),
            ),
        };
        let delay = match (hint, base) {
            (Some(hint), _) => hint.min(cap),
            (None, Base::Exact(base)) if self.jitter == Jitter::None => base,
            (None, base) => {
                let base = match base {
                    Base::Exact(d) => nanos(d),
                    Base::Nanos(n) => n,
                };
                let jittered = if self.jitter == Jitter::None {
                    base
                } else {
                    let (seed, stream) = (self.seed, self.stream);
                    let rng = self.rng.get_or_insert_with(|| {
                        SmallRng::seed_from_u64(
                            seed.map_or_else(fresh_seed, |s| stream_seed(s, stream)),
                        )
                    });
                    self.jitter.apply(
                        rng,
                        base,
                        nanos(cap),
                        nanos(self.initial),
                        nanos(self.previous),
                    )
                };
                clamp_to_duration(jittered, cap)
            }
        };
        let elapsed = self.elapsed.saturating_add(delay);
        if self.max_elapsed.is_some_and(|limit| elapsed > limit) {
            self.done = true;
            return None;
        }
        self.elapsed = elapsed;
        self.yielded = self.yielded.saturating_add(1);
        self.previous = delay;
        if self.growth == Growth::Exponential {
            let grown = self.next_base * self.factor;
            // NaN only from 0 × ∞ (a zero initial delay): zero stays zero.
            self.next_base = if grown.is_nan() {
                0.0
            } else {
                grown.min(nanos(cap))
            };
        }
        Some(delay)
    }
}
