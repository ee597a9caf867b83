//! [`RateLimiterBuilder`]: how a [`RateLimiter`] is configured before it is
//! built (and, once built, shared by every clone).

use std::time::Duration;

use super::clock::Clock;
use super::event::{Listener, RateLimitEvent};
use super::gcra::RateLimiter;

/// Builds a [`RateLimiter`]: `RateLimiter::builder(num, per)`, then options,
/// then [`build`](RateLimiterBuilder::build).
///
/// # Defaults
///
/// Burst `num`; [`Clock::Auto`]; no event listener.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use evenkeel_middleware::rate_limit::{RateLimitEvent, RateLimiter};
///
/// let rejected = Arc::new(AtomicUsize::new(0));
/// let seen = rejected.clone();
/// let limiter = RateLimiter::builder(10, Duration::from_secs(1))
///     .burst(1)
///     .on_event(move |e| if let RateLimitEvent::Rejected { .. } = e { seen.fetch_add(1, Ordering::Relaxed); })
///     .build();
/// assert!(limiter.check().is_ok());
/// assert!(limiter.check().is_err());
/// assert_eq!(rejected.load(Ordering::Relaxed), 1);
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RateLimiterBuilder {
    num: u32,
    per: Duration,
    burst: u32,
    clock: Clock,
    listener: Listener<()>,
}

impl RateLimiterBuilder {
    pub(super) fn new(num: u32, per: Duration) -> Self {
        Self {
            num,
            per,
            burst: num,
            clock: Clock::Auto,
            listener: Listener::none(),
        }
    }

    /// Admits up to `burst` requests at once (0 is treated as 1).
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::RateLimiter::builder(5, std::time::Duration::from_secs(1)).burst(2).build();
    /// assert_eq!(l.burst(), 2);
    /// ```
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// Where time comes from (see [`Clock`]; default [`Clock::Auto`]).
    ///
    /// ```
    /// use evenkeel_middleware::rate_limit::{Clock, RateLimiter};
    /// let l = RateLimiter::builder(5, std::time::Duration::from_secs(1)).clock(Clock::Fast).build();
    /// assert_eq!(l.clock(), Clock::Fast);
    /// ```
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Calls `listener` for every [`RateLimitEvent`] (each rejection). It
    /// runs on the request's path: keep it cheap (count, sample, send).
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::RateLimiter::builder(5, std::time::Duration::from_secs(1))
    ///     .on_event(|e| eprintln!("{e:?}"))
    ///     .build();
    /// # let _ = l;
    /// ```
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&RateLimitEvent<'_, ()>) + Send + Sync + 'static,
    {
        self.listener = Listener::new(listener);
        self
    }

    /// The limiter.
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::RateLimiter::builder(5, std::time::Duration::from_secs(1)).build();
    /// assert!(l.check().is_ok());
    /// ```
    pub fn build(self) -> RateLimiter {
        RateLimiter::from_parts(self.num, self.per, self.burst, self.clock, self.listener)
    }
}
