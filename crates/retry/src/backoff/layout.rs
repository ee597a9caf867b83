//! How a [`Backoff`] is laid out: a small `Copy` configuration inline,
//! the progress boxed.
//!
//! A tower layer copies its backoff into every request, and a retry future
//! carries one through every call, though only a call that fails ever
//! advances it. So the part that is copied is kept small and plain: 56
//! bytes of integers (no `bool`, enum or `NonZero` niche, see [`Config`]),
//! plus one pointer to the [`Progress`], which the first delay allocates.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use rand::rngs::SmallRng;

use super::{Backoff, Growth};
use crate::Jitter;

/// The configuration of a [`Backoff`].
///
/// Durations are stored as nanoseconds in a `u64` (every value is capped at
/// `MAX_DELAY_CEILING`, which is `u64::MAX` nanoseconds): half the size of a
/// `Duration`, so a backoff is cheap to copy into every request.
///
/// Every field is a plain integer, with no niche (no `enum`, `bool` or
/// `NonZero`): wrapped in an `Option` (as a tower layer's per-request
/// configuration is), a niche byte in the middle of the block made LLVM copy
/// around it with overlapping unaligned moves, which stall store forwarding
/// on the success path (see the `overhead` bench's notes).
#[derive(Clone, Copy)]
pub(super) struct Config {
    /// Growth, jitter and whether a seed was given (see [`Flags`]).
    pub(super) flags: Flags,
    /// `0`: unlimited. `max_attempts(0)` is stored as 1 (same meaning).
    pub(super) max_attempts: u32,
    /// The growth rate: the bits of the `f64` factor of an exponential
    /// schedule, the step in nanoseconds of a linear one (one word for both:
    /// a schedule has one growth, and `factor` leaves the other kinds alone).
    pub(super) rate: u64,
    pub(super) initial: u64,
    /// `max_delay`, in nanoseconds (`u64::MAX`: none beyond the ceiling).
    pub(super) cap: u64,
    /// `u64::MAX`: unlimited (a sum of delays saturates there, never past).
    pub(super) max_elapsed: u64,
    pub(super) max_retry_after: u64,
    /// The generator seed, if `seeded` (streams are folded into it).
    pub(super) seed: u64,
}

impl Config {
    /// The growth factor of an exponential schedule.
    pub(super) fn factor(&self) -> f64 {
        f64::from_bits(self.rate)
    }
}

/// A [`Backoff`]'s growth, jitter and seededness in one `u32`: bits 0-1 the
/// growth, bit 2 "seeded", bits 8-15 the jitter kind, bits 16-23 the
/// percentage of [`Jitter::Proportional`].
#[derive(Clone, Copy)]
pub(super) struct Flags(u32);

impl Flags {
    const SEEDED: u32 = 1 << 2;

    #[inline]
    pub(super) fn new(growth: Growth) -> Self {
        Flags(match growth {
            Growth::Exponential => 0,
            Growth::Constant => 1,
            Growth::Linear => 2,
        })
    }

    #[inline]
    pub(super) fn growth(self) -> Growth {
        match self.0 & 3 {
            0 => Growth::Exponential,
            1 => Growth::Constant,
            _ => Growth::Linear,
        }
    }

    #[inline]
    pub(super) fn seeded(self) -> bool {
        self.0 & Self::SEEDED != 0
    }

    #[inline]
    pub(super) fn set_seeded(&mut self) {
        self.0 |= Self::SEEDED;
    }

    #[inline]
    pub(super) fn jitter(self) -> Jitter {
        match (self.0 >> 8) & 0xff {
            0 => Jitter::None,
            1 => Jitter::Full,
            2 => Jitter::Equal,
            3 => Jitter::Decorrelated,
            // The mask keeps the value within a byte.
            #[allow(clippy::cast_possible_truncation)]
            _ => Jitter::Proportional(((self.0 >> 16) & 0xff) as u8),
        }
    }

    #[inline]
    pub(super) fn set_jitter(&mut self, jitter: Jitter) {
        let (kind, percent) = match jitter {
            Jitter::None => (0, 0),
            Jitter::Full => (1, 0),
            Jitter::Equal => (2, 0),
            Jitter::Decorrelated => (3, 0),
            Jitter::Proportional(p) => (4, u32::from(p)),
        };
        self.0 = (self.0 & 0xff) | (kind << 8) | (percent << 16);
    }
}

/// The progress of a [`Backoff`]: boxed and created at the first delay, so
/// that the configuration alone is copied per request and the success path
/// allocates nothing. One allocation holds it all, generator included.
#[derive(Clone, Debug)]
pub(super) struct Progress {
    /// Delays yielded so far.
    pub(super) yielded: u32,
    pub(super) done: bool,
    /// Sum of the delays yielded so far, in nanoseconds.
    pub(super) elapsed: u64,
    /// The next un-jittered exponential delay, in nanoseconds (read only
    /// once a delay has been yielded; the initial delay before that).
    pub(super) next_base: f64,
    /// The previous delay, in nanoseconds (likewise).
    pub(super) previous: u64,
    /// Created on the first jittered delay (seeded from `seed`, or from
    /// fresh entropy).
    pub(super) rng: Option<SmallRng>,
}

impl Progress {
    pub(super) const START: Progress = Progress {
        yielded: 0,
        done: false,
        elapsed: 0,
        next_base: 0.0,
        previous: 0,
        rng: None,
    };
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.c;
        let mut d = f.debug_struct("Backoff");
        d.field("growth", &c.flags.growth())
            .field("initial", &Duration::from_nanos(c.initial));
        match c.flags.growth() {
            Growth::Exponential => d.field("factor", &c.factor()),
            Growth::Linear => d.field("step", &Duration::from_nanos(c.rate)),
            Growth::Constant => &mut d,
        };
        d.field("max_delay", &Duration::from_nanos(c.cap))
            .field("jitter", &c.flags.jitter())
            .field("max_attempts", &NonZeroU32::new(c.max_attempts))
            .field("max_elapsed", &Duration::from_nanos(c.max_elapsed))
            .field("max_retry_after", &Duration::from_nanos(c.max_retry_after))
            .field("seed", &c.flags.seeded().then_some(c.seed))
            .field("yielded", &self.p.as_ref().map_or(0, |p| p.yielded))
            .field("done", &self.p.as_ref().is_some_and(|p| p.done))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins that packing loses nothing: every growth, every jitter kind
    /// with every percentage, seeded or not, reads back as it was set, and
    /// setting the jitter leaves the growth and the seed flag alone.
    #[test]
    fn flags_round_trip() {
        for growth in [Growth::Exponential, Growth::Constant, Growth::Linear] {
            for seeded in [false, true] {
                let mut jitters = vec![
                    Jitter::None,
                    Jitter::Full,
                    Jitter::Equal,
                    Jitter::Decorrelated,
                ];
                jitters.extend((0..=u8::MAX).map(Jitter::Proportional));
                for jitter in jitters {
                    let mut flags = Flags::new(growth);
                    if seeded {
                        flags.set_seeded();
                    }
                    flags.set_jitter(Jitter::Proportional(255));
                    flags.set_jitter(jitter);
                    assert_eq!(flags.growth(), growth);
                    assert_eq!(flags.seeded(), seeded);
                    assert_eq!(flags.jitter(), jitter);
                }
            }
        }
    }
}
