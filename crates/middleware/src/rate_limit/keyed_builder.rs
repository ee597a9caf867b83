//! [`KeyedRateLimiterBuilder`]: how a [`KeyedRateLimiter`] is configured
//! before it is built (and, once built, shared by every clone).

use std::hash::Hash;
use std::time::Duration;

use super::clock::Clock;
use super::event::{Listener, RateLimitEvent};
use super::keyed::KeyedRateLimiter;

/// Builds a [`KeyedRateLimiter`]: `KeyedRateLimiter::builder(num, per)`,
/// options, then [`build`](KeyedRateLimiterBuilder::build). Every clone of
/// the built limiter shares one table.
///
/// # Defaults
///
/// | option | default |
/// |---|---|
/// | [`burst`](Self::burst) | `num` |
/// | [`max_keys`](Self::max_keys) | 10 000 |
/// | [`clock`](Self::clock) | [`Clock::Auto`] |
/// | [`on_event`](Self::on_event) | none |
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::rate_limit::KeyedRateLimiter;
///
/// let limiter = KeyedRateLimiter::builder(10, Duration::from_secs(1)).burst(1).max_keys(2).build();
/// let shared = limiter.clone();
/// assert!(limiter.check(1).is_ok());
/// assert!(shared.check(1).is_err());
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct KeyedRateLimiterBuilder<K> {
    num: u32,
    per: Duration,
    burst: u32,
    max_keys: usize,
    clock: Clock,
    listener: Listener<K>,
}

impl<K> std::fmt::Debug for KeyedRateLimiterBuilder<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedRateLimiterBuilder")
            .field("num", &self.num)
            .field("per", &self.per)
            .field("burst", &self.burst)
            .field("max_keys", &self.max_keys)
            .field("clock", &self.clock)
            .field("listener", &self.listener)
            .finish()
    }
}

impl<K: Hash + Eq> KeyedRateLimiterBuilder<K> {
    pub(super) fn new(num: u32, per: Duration) -> Self {
        Self {
            num,
            per,
            burst: num,
            max_keys: 10_000,
            clock: Clock::Auto,
            listener: Listener::none(),
        }
    }

    /// The burst per key (0 is treated as 1).
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::KeyedRateLimiter::builder(10, std::time::Duration::from_secs(1)).burst(1).build();
    /// assert!(l.check(1).is_ok());
    /// assert!(l.check(1).is_err());
    /// ```
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// Bounds the table to about `max_keys` entries (0 is treated as 1):
    /// past it, one caller sweeps the table down to 7/8 of `max_keys`,
    /// replenished keys first, then the active keys nearest replenishment.
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::KeyedRateLimiter::builder(1, std::time::Duration::from_secs(1)).max_keys(2).build();
    /// for key in 0..10 {
    ///     assert!(l.check(key).is_ok());
    /// }
    /// assert!(l.len() <= 2);
    /// ```
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// Where time comes from (see [`Clock`]).
    ///
    /// ```
    /// use evenkeel_middleware::rate_limit::{Clock, KeyedRateLimiter};
    /// let l = KeyedRateLimiter::<u8>::builder(1, std::time::Duration::from_secs(1)).clock(Clock::Tokio).build();
    /// # let _ = l;
    /// ```
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Calls `listener` for every [`RateLimitEvent`]: each rejection, with
    /// its key, and each sweep of the table. It runs on the request's path:
    /// keep it cheap.
    ///
    /// ```
    /// use evenkeel_middleware::rate_limit::{KeyedRateLimiter, RateLimitEvent};
    /// let l = KeyedRateLimiter::builder(1, std::time::Duration::from_secs(1))
    ///     .on_event(|e: &RateLimitEvent<'_, u32>| eprintln!("{e:?}"))
    ///     .build();
    /// # let _ = l;
    /// ```
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&RateLimitEvent<'_, K>) + Send + Sync + 'static,
    {
        self.listener = Listener::new(listener);
        self
    }

    /// The limiter.
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::KeyedRateLimiter::<u8>::builder(1, std::time::Duration::from_secs(1)).build();
    /// assert!(l.is_empty());
    /// ```
    pub fn build(self) -> KeyedRateLimiter<K> {
        KeyedRateLimiter::from_parts(
            self.num,
            self.per,
            self.burst,
            self.max_keys,
            self.clock,
            self.listener,
        )
    }
}
