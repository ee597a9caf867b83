//! [`Backoff`]: the schedule of waits between attempts, as an iterator.
//!
//! A backoff is nothing more than an `Iterator<Item = Duration>`: each item is
//! the wait before the next attempt, and `None` means "give up". That keeps
//! the schedule testable without a clock (collect it into a `Vec`) and usable
//! by any runner: this crate's [`retry`](fn@crate::retry), a supervisor's restart
//! loop, a tower middleware.
//!
//! All arithmetic is done in `f64` nanoseconds or saturating `Duration`
//! operations, the jitter is drawn within `[0, max_delay]`, and the result is
//! clamped into that range, so no input can overflow or panic, and no delay
//! ever exceeds its cap.

use std::iter::FusedIterator;
use std::num::NonZeroU32;
use std::time::Duration;

use crate::Jitter;

mod layout;
mod limits;
mod schedule;
mod seeding;

use layout::{Config, Flags, Progress};

/// How the un-jittered delay grows from one attempt to the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Growth {
    Exponential,
    Constant,
    /// By `step` nanoseconds per delay.
    Linear,
}

/// `d` in whole nanoseconds, saturated at [`Backoff::MAX_DELAY_CEILING`].
#[inline]
pub(crate) fn to_nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

/// A retry schedule: an iterator over the waits *between* attempts.
///
/// Build it with [`exponential`](Backoff::exponential),
/// [`constant`](Backoff::constant) or [`linear`](Backoff::linear) (or a preset,
/// [`grpc`](Backoff::grpc) and [`aws`](Backoff::aws)), refine it with the
/// builder methods, then iterate it or hand it to [`retry`](fn@crate::retry).
///
/// # Defaults
///
/// - `factor`: 2.0 (read by exponential schedules only).
/// - `max_delay`: none, beyond the hard ceiling
///   [`Backoff::MAX_DELAY_CEILING`] (`u64::MAX` nanoseconds, about 584 years)
///   that keeps every value representable.
/// - `jitter`: [`Jitter::None`].
/// - `max_attempts`: [`Backoff::DEFAULT_MAX_ATTEMPTS`] = 4, that is 3
///   retries after the first call, so a schedule built with defaults always
///   ends (see [`max_attempts`](Backoff::max_attempts) for why 4, and
///   [`without_max_attempts`](Backoff::without_max_attempts) for a schedule
///   that never ends on its own).
/// - `max_elapsed`: unlimited (the attempt limit already ends the schedule).
/// - `max_retry_after`: [`Backoff::DEFAULT_MAX_RETRY_AFTER`] = 60 s: a
///   server's retry-after hint longer than that stops the retries instead of
///   being slept on (see [`max_retry_after`](Backoff::max_retry_after)).
/// - `seed`: none; each unseeded backoff (and each clone of one) draws its
///   own random seed, so clones of a template do not jitter in lockstep.
///
/// # Invariants
///
/// - Every yielded delay is `<= max_delay`, jitter included (the jitter is
///   drawn within the cap, so it is not lost at the cap either).
/// - At most `max_attempts - 1` delays are yielded: `max_attempts` counts the
///   first call, so `max_attempts(0)` and `max_attempts(1)` both mean a single
///   call and zero delays.
/// - The sum of the yielded delays never exceeds `max_elapsed`: the iterator
///   ends instead of yielding a delay that would cross it. This bounds the
///   time spent *waiting*; [`Retry::deadline`](crate::Retry::deadline) bounds
///   wall-clock time, attempts included.
/// - Nothing panics or overflows, whatever the inputs (10,000 delays at
///   factor 10 simply sit at the cap). Once it has returned `None` it keeps
///   returning `None`.
///
/// # Cloning
///
/// A clone copies the schedule's state (how far it has advanced): clone an
/// unstarted template to get a fresh schedule. A seeded backoff's clone
/// repeats the same jitter (give each clone its own
/// [`seed_stream`](Backoff::seed_stream) to tell them apart, as
/// evenkeel-middleware's retry layer does per request); an unseeded one
/// reseeds. [`Backoff::reset`] rewinds a schedule in place.
///
/// # Cost
///
/// A backoff is 64 bytes (on 64-bit targets): its configuration and one
/// pointer. Its progress (delays yielded, time waited, its random
/// generator) is allocated once, at its first delay, so a template, and a
/// request's copy of it that is never needed because the first attempt
/// succeeded, allocates nothing and stays cheap to copy.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use evenkeel_retry::Backoff;
///
/// let ms = Duration::from_millis;
/// let delays: Vec<Duration> = Backoff::exponential(ms(100))
///     .max_delay(ms(500))
///     .max_attempts(6)
///     .collect();
/// assert_eq!(delays, [ms(100), ms(200), ms(400), ms(500), ms(500)]);
/// ```
pub struct Backoff {
    /// The configuration, one plain `Copy` struct of 56 bytes (64 with the
    /// pointer below: one cache line): what a tower layer copies into every
    /// request, and what a retry future carries through a call that
    /// succeeds at once.
    c: Config,
    /// How far the schedule has advanced, and its generator; created at the
    /// first delay (see [`Progress`]), so a schedule that never advances (a
    /// template, or every call that succeeds) carries only this pointer.
    p: Option<Box<Progress>>,
}

impl Backoff {
    /// The hard ceiling on any delay: `u64::MAX` nanoseconds (about 584
    /// years). A `max_delay` above it is lowered to it. Code that adds a
    /// delay to an `Instant` should use `checked_add` (as this crate's runner
    /// does): on some platforms an `Instant` cannot reach that far.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::Backoff;
    ///
    /// let mut b = Backoff::exponential(Duration::MAX).factor(f64::INFINITY);
    /// assert_eq!(b.next(), Some(Backoff::MAX_DELAY_CEILING));
    /// ```
    pub const MAX_DELAY_CEILING: Duration = Duration::from_nanos(u64::MAX);

    #[inline]
    fn with_growth(growth: Growth, initial: Duration, step: Duration) -> Self {
        Backoff {
            c: Config {
                flags: Flags::new(growth),
                max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
                rate: match growth {
                    Growth::Exponential => 2.0_f64.to_bits(),
                    Growth::Linear => to_nanos(step),
                    Growth::Constant => 0,
                },
                initial: to_nanos(initial),
                cap: u64::MAX,
                max_elapsed: u64::MAX,
                max_retry_after: to_nanos(Self::DEFAULT_MAX_RETRY_AFTER),
                seed: 0,
            },
            p: None,
        }
    }

    /// A schedule that starts at `initial` and multiplies by
    /// [`factor`](Backoff::factor) (default 2.0) after each delay.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::Backoff;
    ///
    /// let s = Duration::from_secs;
    /// let delays: Vec<_> = Backoff::exponential(s(1)).max_attempts(5).collect();
    /// assert_eq!(delays, [s(1), s(2), s(4), s(8)]);
    /// ```
    #[inline]
    pub fn exponential(initial: Duration) -> Self {
        Self::with_growth(Growth::Exponential, initial, Duration::ZERO)
    }

    /// A schedule that waits `delay` every time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::Backoff;
    ///
    /// let d = Duration::from_millis(50);
    /// let delays: Vec<_> = Backoff::constant(d).max_attempts(4).collect();
    /// assert_eq!(delays, [d, d, d]);
    /// ```
    #[inline]
    pub fn constant(delay: Duration) -> Self {
        Self::with_growth(Growth::Constant, delay, Duration::ZERO)
    }

    /// A schedule that starts at `initial` and adds `step` after each delay.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::Backoff;
    ///
    /// let ms = Duration::from_millis;
    /// let delays: Vec<_> = Backoff::linear(ms(100), ms(50)).take(3).collect();
    /// assert_eq!(delays, [ms(100), ms(150), ms(200)]);
    /// ```
    #[inline]
    pub fn linear(initial: Duration, step: Duration) -> Self {
        Self::with_growth(Growth::Linear, initial, step)
    }

    /// Sets the growth factor of an exponential schedule (ignored by constant
    /// and linear ones). Default 2.0.
    ///
    /// A backoff never shrinks: NaN and values below 1.0 (negative ones
    /// included) count as 1.0. `f64::INFINITY` is accepted and means "the
    /// initial delay, then the cap".
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::Backoff;
    ///
    /// let s = Duration::from_secs;
    /// let delays: Vec<_> = Backoff::exponential(s(1)).factor(3.0).take(3).collect();
    /// assert_eq!(delays, [s(1), s(3), s(9)]);
    /// let flat: Vec<_> = Backoff::exponential(s(1)).factor(f64::NAN).take(2).collect();
    /// assert_eq!(flat, [s(1), s(1)]);
    /// ```
    #[must_use]
    #[inline]
    pub fn factor(mut self, factor: f64) -> Self {
        if self.c.flags.growth() == Growth::Exponential {
            self.c.rate = if factor >= 1.0 { factor } else { 1.0 }.to_bits();
        }
        self
    }

    /// Caps every delay at `max`, jitter included (the jitter is drawn
    /// within the cap, see [`Jitter`]). Default: no cap beyond
    /// [`Backoff::MAX_DELAY_CEILING`]. `Duration::ZERO` makes every delay zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::{Backoff, Jitter};
    ///
    /// let cap = Duration::from_secs(2);
    /// let b = Backoff::exponential(Duration::from_secs(1)).jitter(Jitter::Proportional(20));
    /// assert!(b.max_delay(cap).take(100).all(|d| d <= cap));
    /// ```
    #[must_use]
    #[inline]
    pub fn max_delay(mut self, max: Duration) -> Self {
        self.c.cap = to_nanos(max);
        self
    }

    /// Sets how each delay is randomised. Default [`Jitter::None`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::{Backoff, Jitter};
    ///
    /// let d = Duration::from_secs(1);
    /// let b = Backoff::constant(d).jitter(Jitter::Equal).seed(3);
    /// assert!(b.take(10).all(|x| x >= d / 2 && x <= d));
    /// ```
    #[must_use]
    #[inline]
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.c.flags.set_jitter(jitter);
        self
    }

    /// Rewinds the schedule to its first delay (and a seeded one to its first
    /// random draw), keeping its configuration.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::Backoff;
    ///
    /// let mut b = Backoff::exponential(Duration::from_secs(1)).max_attempts(2);
    /// assert_eq!(b.next(), Some(Duration::from_secs(1)));
    /// assert_eq!(b.next(), None);
    /// b.reset();
    /// assert_eq!(b.next(), Some(Duration::from_secs(1)));
    /// ```
    pub fn reset(&mut self) {
        if let Some(p) = self.p.as_mut() {
            p.yielded = 0;
            p.elapsed = 0;
            p.done = false;
            if self.c.flags.seeded() {
                p.rng = None; // drawn again from the seed on the next jittered delay
            }
        }
    }
}

/// A copy of a schedule's progress, out of line: copying a backoff per
/// request must stay a handful of moves, and only a schedule that has
/// already advanced (rare for a template) has progress to copy. An unseeded
/// copy leaves the generator behind and draws its own seed on first use.
#[cold]
#[inline(never)]
#[allow(clippy::unnecessary_box_returns)] // the box is the point: it keeps `Backoff` small
fn clone_progress(p: &Progress, seeded: bool) -> Box<Progress> {
    let mut copy = Box::new(p.clone());
    if !seeded {
        copy.rng = None;
    }
    copy
}

impl Clone for Backoff {
    #[inline]
    fn clone(&self) -> Self {
        Backoff {
            c: self.c,
            p: self
                .p
                .as_deref()
                .map(|p| clone_progress(p, self.c.flags.seeded())),
        }
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.next_delay(None)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (yielded, done) = self.p.as_ref().map_or((0, false), |p| (p.yielded, p.done));
        if done {
            return (0, Some(0));
        }
        let upper = NonZeroU32::new(self.c.max_attempts)
            .map(|n| (n.get() - 1).saturating_sub(yielded) as usize);
        (0, upper)
    }
}

impl FusedIterator for Backoff {}
