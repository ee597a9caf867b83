//! [`RateLimiter`]: the generic cell rate algorithm (GCRA) on one atomic.
//!
//! GCRA is a token bucket written as a single timestamp. With an emission
//! interval `T` (the time one request "costs") and a tolerance `τ = T ×
//! (burst − 1)`, the limiter keeps a *theoretical arrival time* `TAT`: when
//! the next request would be due if traffic were perfectly paced. A request
//! at `now` is admitted iff `max(TAT, now) − now ≤ τ`, and then pushes
//! `TAT` to `max(TAT, now) + T`. A rejected request learns exactly how long
//! to wait: `max(TAT, now) − now − τ`.
//!
//! One `AtomicU64` (nanoseconds since the limiter was made) holds `TAT`, so
//! a check is one clock read, one load, a little arithmetic and one
//! compare-and-swap, and every clone of a [`RateLimiter`] shares it. The
//! compare-and-swap loop recomputes the decision from the value it lost
//! to, so two concurrent checks can never both spend the last token (the
//! model in `tests/loom_rate_limit.rs` checks exactly that). Time comes
//! from a [`Clock`]: tokio's, so tests with paused time are exact, or the
//! CPU's counter, which is cheaper to read.
//!
//! A quota whose interval rounds to zero (more than 10⁹ requests per
//! second, or [`RateLimiter::unlimited`]) cannot be exhausted: its check is
//! one branch, with no clock read and no write.

use std::time::Duration;

use tokio::time::Instant;

use super::builder::RateLimiterBuilder;
use super::clock::{Clock, TimeSource};
use super::event::Listener;
use super::status::RateLimitStatus;
use crate::sync::{Arc, AtomicU64, Ordering};

/// A shared GCRA rate limiter: `num` requests per `per`, with a burst.
///
/// Clones share one limiter. [`check`](RateLimiter::check) never waits: it
/// admits, or says how long until it would admit.
///
/// # Defaults
///
/// [`new`](RateLimiter::new) sets the burst to `num`: a fresh limiter admits
/// `num` requests at once, then one every `per / num`. A `num` of 0 is
/// treated as 1. [`Clock::Auto`]: tokio's clock on a current-thread runtime
/// (so paused-time tests are exact), the CPU's counter otherwise. No event
/// listener ([`RateLimiterBuilder::on_event`]).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::rate_limit::RateLimiter;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let limiter = RateLimiter::new(2, Duration::from_secs(1));
/// let shared = limiter.clone();
/// assert!(limiter.check().is_ok());
/// assert!(shared.check().is_ok());
/// // The burst of 2 is spent; the next slot opens in 500ms.
/// assert_eq!(limiter.check(), Err(Duration::from_millis(500)));
/// tokio::time::advance(Duration::from_millis(500)).await;
/// assert!(shared.check().is_ok());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RateLimiter {
    state: Arc<Gcra>,
}

#[derive(Debug)]
struct Gcra {
    /// The nanosecond timeline `tat` lives on.
    clock: TimeSource,
    /// `T`: nanoseconds one request costs; 0 for a quota that cannot be spent.
    emission: u64,
    /// `τ`: how far ahead of `now` the arrival time may run (the burst).
    tolerance: u64,
    /// The burst, as configured (for rate-limit headers).
    burst: u32,
    /// Theoretical arrival time, in nanoseconds since `base`.
    tat: AtomicU64,
    listener: Listener<()>,
}

pub(crate) fn nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

impl RateLimiter {
    /// The limiter a [`RateLimiterBuilder`] describes.
    pub(super) fn from_parts(
        num: u32,
        per: Duration,
        burst: u32,
        clock: Clock,
        listener: Listener<()>,
    ) -> Self {
        let (emission, tolerance) = params(num, per, burst);
        Self {
            state: Arc::new(Gcra {
                clock: TimeSource::new(clock),
                emission,
                tolerance,
                burst: burst.max(1),
                tat: AtomicU64::new(0),
                listener,
            }),
        }
    }

    /// `num` requests per `per`, with a burst of `num`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let limiter = evenkeel_middleware::rate_limit::RateLimiter::new(100, Duration::from_secs(1));
    /// assert!(limiter.check().is_ok());
    /// ```
    pub fn new(num: u32, per: Duration) -> Self {
        Self::builder(num, per).build()
    }

    /// A builder for `num` requests per `per` (see [`RateLimiterBuilder`]).
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::RateLimiter::builder(5, std::time::Duration::from_secs(1)).build();
    /// assert_eq!(l.burst(), 5);
    /// ```
    pub fn builder(num: u32, per: Duration) -> RateLimiterBuilder {
        RateLimiterBuilder::new(num, per)
    }

    /// `num` requests per `per` on average, admitting up to `burst` at once
    /// (0 is treated as 1).
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_middleware::rate_limit::RateLimiter;
    ///
    /// // 10 per second on average, but never two within 100ms.
    /// let limiter = RateLimiter::with_burst(10, Duration::from_secs(1), 1);
    /// assert!(limiter.check().is_ok());
    /// assert!(limiter.check().is_err());
    /// ```
    pub fn with_burst(num: u32, per: Duration, burst: u32) -> Self {
        Self::builder(num, per).burst(burst).build()
    }

    /// `num` requests per second, with a burst of `num`.
    ///
    /// ```
    /// let limiter = evenkeel_middleware::rate_limit::RateLimiter::per_second(50);
    /// assert!(limiter.check().is_ok());
    /// ```
    pub fn per_second(num: u32) -> Self {
        Self::new(num, Duration::from_secs(1))
    }

    /// A limiter that admits everything (a check is one branch). For
    /// turning rate limiting off in a preset without changing its type.
    ///
    /// ```
    /// let limiter = evenkeel_middleware::rate_limit::RateLimiter::unlimited();
    /// assert!((0..10_000).all(|_| limiter.check().is_ok()));
    /// ```
    pub fn unlimited() -> Self {
        Self::with_burst(1, Duration::ZERO, 1)
    }

    /// The burst: how many requests a rested limiter admits at once.
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::RateLimiter::with_burst(10, std::time::Duration::from_secs(1), 3);
    /// assert_eq!(l.burst(), 3);
    /// ```
    pub fn burst(&self) -> u32 {
        self.state.burst
    }

    /// Admits one request now (`Ok`), or says how long until one would be
    /// admitted (`Err(retry_after)`). Never waits; a rejection costs nothing
    /// but is reported to the listener as [`RateLimitEvent::Rejected`](super::RateLimitEvent::Rejected).
    ///
    /// # Errors
    ///
    /// `Err(retry_after)` when the rate is spent: the time until the next
    /// request would be admitted.
    ///
    /// ```
    /// use std::time::Duration;
    /// let limiter = evenkeel_middleware::rate_limit::RateLimiter::with_burst(1, Duration::from_secs(2), 1);
    /// assert!(limiter.check().is_ok());
    /// let wait = limiter.check().unwrap_err();
    /// assert!(wait > Duration::from_secs(1) && wait <= Duration::from_secs(2));
    /// ```
    #[inline]
    pub fn check(&self) -> Result<(), Duration> {
        let g = &*self.state;
        if g.emission == 0 {
            return Ok(());
        }
        g.check_nanos(g.clock.now())
    }

    /// [`check`](RateLimiter::check) at a clock reading the caller already
    /// has (the server preset shares one reading with its timeout). A
    /// reading older than the limiter counts as its creation. A limiter on
    /// the [fast clock](Clock::Fast) reads its own counter instead (cheaper
    /// than the reading was), so one limiter never mixes two clocks; the
    /// reading is exact for a limiter on [`Clock::Tokio`].
    ///
    /// # Errors
    ///
    /// As [`check`](RateLimiter::check).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// use evenkeel_middleware::rate_limit::{Clock, RateLimiter};
    /// let limiter = RateLimiter::builder(1, Duration::from_secs(1)).clock(Clock::Tokio).build();
    /// let now = Instant::now();
    /// assert!(limiter.check_at(now).is_ok());
    /// assert!(limiter.check_at(now).is_err());
    /// assert!(limiter.check_at(now + Duration::from_secs(1)).is_ok());
    /// ```
    #[inline]
    pub fn check_at(&self, now: Instant) -> Result<(), Duration> {
        let g = &*self.state;
        if g.emission == 0 {
            return Ok(());
        }
        g.check_nanos(g.clock.at(now))
    }

    /// Whether a check now would admit, without spending anything: `Err`
    /// with the wait otherwise. What a layer's `poll_ready` asks, so that a
    /// readiness that is never followed by a call costs no token.
    pub(crate) fn peek(&self) -> Result<(), Duration> {
        let g = &*self.state;
        if g.emission == 0 {
            return Ok(());
        }
        decide(
            g.tat.load(Ordering::Relaxed),
            g.clock.now(),
            g.emission,
            g.tolerance,
        )
        .map(drop)
    }

    /// How many requests would be admitted at once now, and how long until
    /// the whole burst is back (what rate-limit headers report). Spends
    /// nothing.
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::RateLimiter::per_second(3);
    /// assert_eq!(l.status().remaining, 3);
    /// ```
    pub fn status(&self) -> RateLimitStatus {
        let g = &*self.state;
        let tat = g.tat.load(Ordering::Relaxed);
        RateLimitStatus::of(tat, g.clock.now(), g.emission, g.tolerance, g.burst)
    }

    /// Reports a rejection the layer decided earlier (in `poll_ready`).
    pub(crate) fn report_rejection(&self, retry_after: Duration) {
        self.state.listener.rejected(&(), retry_after);
    }

    /// [`check`](RateLimiter::check) on the raw nanosecond timeline, for
    /// the model tests (`--cfg loom` only), which must not read a clock.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn check_at_nanos(&self, now: u64) -> Result<(), Duration> {
        self.state.check_nanos(now)
    }

    /// The clock this limiter reads ([`Clock::Auto`] resolved when built).
    ///
    /// ```
    /// use evenkeel_middleware::rate_limit::{Clock, RateLimiter};
    /// // Outside any runtime, `Auto` picks the fast counter.
    /// assert_eq!(RateLimiter::per_second(1).clock(), Clock::Fast);
    /// ```
    pub fn clock(&self) -> Clock {
        self.state.clock.kind()
    }

    /// Whether two handles share one limiter.
    ///
    /// ```
    /// let a = evenkeel_middleware::rate_limit::RateLimiter::per_second(1);
    /// assert!(a.shares_state_with(&a.clone()));
    /// assert!(!a.shares_state_with(&evenkeel_middleware::rate_limit::RateLimiter::per_second(1)));
    /// ```
    pub fn shares_state_with(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.state, &other.state)
    }
}

impl Gcra {
    #[inline]
    fn check_nanos(&self, now: u64) -> Result<(), Duration> {
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let next = match decide(tat, now, self.emission, self.tolerance) {
                Ok(next) => next,
                Err(retry_after) => {
                    self.listener.rejected(&(), retry_after);
                    return Err(retry_after);
                }
            };
            // Relaxed is enough: `tat` is the only shared datum and the CAS
            // itself orders concurrent updates to it. On failure the loop
            // decides again from the value that won.
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(actual) => tat = actual,
            }
        }
    }
}

/// The GCRA decision on plain numbers, shared with the keyed limiter: given
/// the stored arrival time, admit (returning the new one) or say how long
/// to wait.
#[inline]
pub(crate) fn decide(tat: u64, now: u64, emission: u64, tolerance: u64) -> Result<u64, Duration> {
    let start = tat.max(now);
    let ahead = start - now;
    if ahead > tolerance {
        Err(Duration::from_nanos(ahead - tolerance))
    } else {
        Ok(start.saturating_add(emission))
    }
}

/// Emission interval and tolerance, in nanoseconds, for `num` per `per`
/// with a burst.
pub(crate) fn params(num: u32, per: Duration, burst: u32) -> (u64, u64) {
    let emission = nanos(per) / u64::from(num.max(1));
    (
        emission,
        emission.saturating_mul(u64::from(burst.max(1) - 1)),
    )
}
