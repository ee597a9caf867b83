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
//! a check is one load, a little arithmetic and one compare-and-swap, and
//! every clone of a [`RateLimiter`] shares it. Time comes from
//! `tokio::time::Instant`, so tests with paused time are exact.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// A shared GCRA rate limiter: `num` requests per `per`, with a burst.
///
/// Clones share one limiter. [`check`](RateLimiter::check) never waits: it
/// admits, or says how long until it would admit.
///
/// # Defaults
///
/// [`new`](RateLimiter::new) sets the burst to `num`: a fresh limiter admits
/// `num` requests at once, then one every `per / num`. A `num` of 0 is
/// treated as 1.
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
    /// The origin of the nanosecond timeline `tat` lives on.
    base: Instant,
    /// `T`: nanoseconds one request costs.
    emission: u64,
    /// `τ`: how far ahead of `now` the arrival time may run (the burst).
    tolerance: u64,
    /// Theoretical arrival time, in nanoseconds since `base`.
    tat: AtomicU64,
}

fn nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

impl RateLimiter {
    /// `num` requests per `per`, with a burst of `num`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let limiter = evenkeel_middleware::rate_limit::RateLimiter::new(100, Duration::from_secs(1));
    /// assert!(limiter.check().is_ok());
    /// ```
    pub fn new(num: u32, per: Duration) -> Self {
        Self::with_burst(num, per, num)
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
        let (emission, tolerance) = params(num, per, burst);
        Self {
            state: Arc::new(Gcra {
                base: Instant::now(),
                emission,
                tolerance,
                tat: AtomicU64::new(0),
            }),
        }
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

    /// Admits one request now (`Ok`), or says how long until one would be
    /// admitted (`Err(retry_after)`). Never waits; a rejection costs nothing.
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
    pub fn check(&self) -> Result<(), Duration> {
        let g = &*self.state;
        if g.emission == 0 {
            return Ok(());
        }
        g.check_at(now_since(g.base))
    }

    /// [`check`](RateLimiter::check) at a clock reading the caller already
    /// has (the server preset shares one reading with its timeout).
    #[cfg_attr(not(feature = "full"), allow(dead_code))]
    pub(crate) fn check_at(&self, now: Instant) -> Result<(), Duration> {
        let g = &*self.state;
        if g.emission == 0 {
            return Ok(());
        }
        g.check_at(nanos(now.saturating_duration_since(g.base)))
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
    fn check_at(&self, now: u64) -> Result<(), Duration> {
        if self.emission == 0 {
            // A zero emission interval admits everything: skip the write.
            return Ok(());
        }
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let next = decide(tat, now, self.emission, self.tolerance)?;
            // Relaxed is enough: `tat` is the only shared datum and the CAS
            // itself orders concurrent updates to it.
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

/// The GCRA decision on plain numbers, for the keyed limiter: given the
/// stored arrival time, admit (returning the new one) or say how long to wait.
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

/// Nanoseconds from `base` to now, on tokio's clock.
pub(crate) fn now_since(base: Instant) -> u64 {
    nanos(Instant::now().saturating_duration_since(base))
}
