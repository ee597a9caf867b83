//! The arithmetic of a [`Backoff`]: computing each delay without overflow.
//!
//! Delays are computed in `f64` nanoseconds (exponential growth, jitter) or
//! with saturating integer nanoseconds (constant and linear growth); the base is capped
//! at `max_delay` first, the jitter draws within `[0, max_delay]`, and the
//! result is clamped into that range once more against rounding. NaN (only possible as 0 × ∞) counts
//! as zero, anything past the cap is the cap, and `max_attempts` and
//! `max_elapsed` are checked before a delay is handed out.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::{Backoff, Growth, Progress, to_nanos};
use crate::Jitter;

/// A fresh random seed without a syscall: std's per-thread hasher keys.
fn fresh_seed() -> u64 {
    RandomState::new().hash_one(0x5eed_u64)
}

/// The generator seed for stream `stream` of `seed`: stream 0 is `seed`
/// itself; other streams step by the golden-ratio constant (as `SplitMix64`
/// does), and `seed_from_u64` scrambles the result, so neighbouring streams
/// are unrelated.
pub(super) fn stream_seed(seed: u64, stream: u64) -> u64 {
    seed.wrapping_add(stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// `n` nanoseconds as `f64` (exact below 2^53 ns, about 104 days; the
/// nearest `f64` above).
#[allow(clippy::cast_precision_loss)] // documented: rounding past 104 days is harmless
fn float(n: u64) -> f64 {
    n as f64
}

/// Converts `f64` nanoseconds to whole nanoseconds clamped into `[0, cap]`;
/// NaN is 0.
fn clamp_nanos(value: f64, cap: u64) -> u64 {
    if value.is_nan() || value <= 0.0 {
        0
    } else if value >= float(cap) {
        cap
    } else {
        // In range: 0 < value < cap <= u64::MAX, so the cast is exact up to
        // rounding and can neither truncate nor lose the sign.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = value.round() as u64;
        n.min(cap)
    }
}

/// The un-jittered delay: exact for constant and linear schedules,
/// nanoseconds in `f64` for exponential ones.
#[derive(Clone, Copy)]
enum Base {
    Exact(u64),
    Nanos(f64),
}

impl Backoff {
    /// The next delay, or `hint` (capped at `max_delay`) in its place. Either
    /// way the schedule advances and the delay counts against `max_attempts`
    /// and `max_elapsed`.
    pub(crate) fn next_delay(&mut self, hint: Option<Duration>) -> Option<Duration> {
        let c = self.c;
        // The first delay creates the progress (the one allocation of a
        // schedule's life; a call that succeeds at once never gets here).
        let p = self.p.get_or_insert_with(|| Box::new(Progress::START));
        if p.done {
            return None;
        }
        if c.max_attempts != 0 && p.yielded >= c.max_attempts - 1 {
            p.done = true;
            return None;
        }
        if p.yielded == 0 {
            p.next_base = float(c.initial);
            p.previous = c.initial;
        }
        let cap = c.cap;
        // Constant and linear schedules stay in exact integer arithmetic;
        // only exponential growth and jitter need `f64`.
        let base = match c.flags.growth() {
            Growth::Exponential => Base::Nanos(p.next_base.min(float(cap))),
            Growth::Constant => Base::Exact(c.initial.min(cap)),
            Growth::Linear => Base::Exact(
                c.initial
                    .saturating_add(c.rate.saturating_mul(u64::from(p.yielded)))
                    .min(cap),
            ),
        };
        let delay = match (hint, base) {
            (Some(hint), _) => to_nanos(hint).min(cap),
            (None, Base::Exact(base)) if c.flags.jitter() == Jitter::None => base,
            (None, base) => {
                let base = match base {
                    Base::Exact(n) => float(n),
                    Base::Nanos(n) => n,
                };
                let jittered = if c.flags.jitter() == Jitter::None {
                    base
                } else {
                    let seed = c.flags.seeded().then_some(c.seed);
                    let rng = p.rng.get_or_insert_with(|| {
                        SmallRng::seed_from_u64(seed.unwrap_or_else(fresh_seed))
                    });
                    c.flags.jitter().apply(
                        rng,
                        base,
                        float(cap),
                        float(c.initial),
                        float(p.previous),
                    )
                };
                clamp_nanos(jittered, cap)
            }
        };
        let elapsed = p.elapsed.saturating_add(delay);
        if elapsed > c.max_elapsed {
            p.done = true;
            return None;
        }
        p.elapsed = elapsed;
        p.yielded = p.yielded.saturating_add(1);
        p.previous = delay;
        if c.flags.growth() == Growth::Exponential {
            let grown = p.next_base * c.factor();
            // NaN only from 0 × ∞ (a zero initial delay): zero stays zero.
            p.next_base = if grown.is_nan() {
                0.0
            } else {
                grown.min(float(cap))
            };
        }
        Some(Duration::from_nanos(delay))
    }
}
