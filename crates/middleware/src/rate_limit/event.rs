//! What the rate limiters report: [`RateLimitEvent`], delivered to a
//! listener set with `on_event` on the limiter's builder and, with the
//! `tracing` feature, also emitted as `tracing` events.
//!
//! A listener is a plain `Fn(&RateLimitEvent)`, called synchronously on the
//! request's path where the event happens: it is how a service counts
//! rejections per key for its metrics without this crate choosing a metrics
//! library. Keep it cheap (an atomic add, a sampled log line, a
//! `try_send`), since it runs once per rejected request.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Something a rate limiter did, reported to its listener.
///
/// `K` is the key type of a [`KeyedRateLimiter`](super::KeyedRateLimiter);
/// a plain [`RateLimiter`](super::RateLimiter) reports `K = ()`. New
/// variants may be added: match with a `_` arm.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::rate_limit::{KeyedRateLimiter, RateLimitEvent};
///
/// let limiter = KeyedRateLimiter::builder(1, Duration::from_secs(1))
///     .on_event(|e: &RateLimitEvent<'_, &str>| match e {
///         RateLimitEvent::Rejected { key, retry_after } => println!("{key} refused for {retry_after:?}"),
///         _ => {}
///     })
///     .build();
/// limiter.check("alice").unwrap();
/// assert!(limiter.check("alice").is_err()); // the listener prints "alice refused for ..."
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RateLimitEvent<'a, K = ()> {
    /// A request was refused.
    Rejected {
        /// Whose request: the key of a keyed limiter, `&()` otherwise.
        key: &'a K,
        /// The wait the refusal announced.
        retry_after: Duration,
    },
    /// A keyed limiter's table was full and was swept to make room.
    ///
    /// Sweeps drop keys whose budget is whole again first, which loses
    /// nothing; `evicted_active` counts keys still being limited that had to
    /// go as well (they regain part of a burst). A steady stream of those
    /// means `max_keys` is too small for the traffic, or a client is
    /// rotating keys.
    Swept {
        /// Keys dropped in all.
        evicted: usize,
        /// Of those, keys whose budget was not yet whole.
        evicted_active: usize,
        /// Keys left in the table.
        remaining: usize,
    },
}

type ListenerFn<K> = dyn Fn(&RateLimitEvent<'_, K>) + Send + Sync;

/// An optional listener; a plain `std` `Arc`, as it is never model-checked.
pub(crate) struct Listener<K>(Option<Arc<ListenerFn<K>>>);

impl<K> Listener<K> {
    pub(crate) fn none() -> Self {
        Self(None)
    }

    pub(crate) fn new<F>(f: F) -> Self
    where
        F: Fn(&RateLimitEvent<'_, K>) + Send + Sync + 'static,
    {
        Self(Some(Arc::new(f)))
    }

    /// Reports a rejection of `key`.
    #[inline]
    pub(crate) fn rejected(&self, key: &K, retry_after: Duration) {
        #[cfg(feature = "tracing")]
        tracing::debug!(
            target: "evenkeel_middleware::rate_limit",
            retry_after_ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
            "rate limited"
        );
        if let Some(f) = &self.0 {
            f(&RateLimitEvent::Rejected { key, retry_after });
        }
    }

    /// Reports a sweep of a keyed table.
    pub(crate) fn swept(&self, evicted: usize, evicted_active: usize, remaining: usize) {
        #[cfg(feature = "tracing")]
        if evicted_active > 0 {
            tracing::warn!(
                target: "evenkeel_middleware::rate_limit",
                evicted,
                evicted_active,
                remaining,
                "keyed rate limiter full: evicted keys still being limited"
            );
        } else {
            tracing::debug!(
                target: "evenkeel_middleware::rate_limit",
                evicted,
                remaining,
                "keyed rate limiter swept"
            );
        }
        if let Some(f) = &self.0 {
            f(&RateLimitEvent::Swept {
                evicted,
                evicted_active,
                remaining,
            });
        }
    }
}

impl<K> Clone for Listener<K> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<K> fmt::Debug for Listener<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(<listener>)"
        } else {
            "None"
        })
    }
}
