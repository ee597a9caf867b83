//! [`ServerLayer`]: rate limit → total timeout → bulkhead → drain.

use std::sync::Arc;
use std::time::Duration;

use evenkeel_shutdown::Shutdown;
use tower_layer::Layer;

use super::server_service::{ServerService, Shared};
use crate::rate_limit::RateLimiter;
use crate::{BulkheadLayer, DrainLayer, RateLimitLayer};

/// The server-side stack in the recommended order, as one layer.
///
/// # Defaults
///
/// | part | default | change with |
/// |---|---|---|
/// | rate limit | none ([`RateLimiter::unlimited`]) | [`rate_limit`](ServerLayer::rate_limit) |
/// | total timeout | 30 s | [`timeout`](ServerLayer::timeout) |
/// | bulkhead | 1024 concurrent, no waiting, retry-after 1 s | [`max_concurrency`](ServerLayer::max_concurrency), [`bulkhead`](ServerLayer::bulkhead) |
/// | drain | retry-after 5 s | [`drain_retry_after`](ServerLayer::drain_retry_after) |
///
/// # Examples
///
/// On an axum `Router` (feature `axum`, for
/// [`ErrorResponseLayer`](crate::ErrorResponseLayer)):
///
#[cfg_attr(feature = "axum", doc = "```")]
#[cfg_attr(not(feature = "axum"), doc = "```ignore")]
/// use std::time::Duration;
/// use axum::{routing::get, Router};
/// use evenkeel_middleware::preset::ServerLayer;
/// use evenkeel_middleware::rate_limit::RateLimiter;
/// use evenkeel_middleware::ErrorResponseLayer;
/// use evenkeel_shutdown::Shutdown;
///
/// let shutdown = Shutdown::new();
/// let server = ServerLayer::new(shutdown.clone())
///     .rate_limit(RateLimiter::per_second(500))
///     .timeout(Duration::from_secs(10))
///     .max_concurrency(256);
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer((ErrorResponseLayer::new(), server));
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
#[must_use = "a layer does nothing until applied to a service"]
pub struct ServerLayer {
    rate_limit: RateLimitLayer,
    timeout_after: Duration,
    bulkhead: BulkheadLayer,
    drain: DrainLayer,
}

impl ServerLayer {
    /// The stack with its defaults, draining with `shutdown`.
    ///
    /// ```
    /// let layer = evenkeel_middleware::preset::ServerLayer::new(evenkeel_shutdown::Shutdown::new());
    /// # let _ = layer;
    /// ```
    pub fn new(shutdown: Shutdown) -> Self {
        Self {
            rate_limit: RateLimitLayer::new(RateLimiter::unlimited()),
            timeout_after: Duration::from_secs(30),
            bulkhead: BulkheadLayer::new(1024),
            drain: DrainLayer::new(shutdown),
        }
    }

    /// Rate-limits with `limiter` (shared with its clones).
    ///
    /// ```
    /// use evenkeel_middleware::{preset::ServerLayer, rate_limit::RateLimiter};
    /// let layer = ServerLayer::new(evenkeel_shutdown::Shutdown::new()).rate_limit(RateLimiter::per_second(100));
    /// # let _ = layer;
    /// ```
    pub fn rate_limit(mut self, limiter: RateLimiter) -> Self {
        self.rate_limit = RateLimitLayer::new(limiter);
        self
    }

    /// The total timeout (readiness plus call).
    ///
    /// ```
    /// let layer = evenkeel_middleware::preset::ServerLayer::new(evenkeel_shutdown::Shutdown::new())
    ///     .timeout(std::time::Duration::from_secs(5));
    /// # let _ = layer;
    /// ```
    pub fn timeout(mut self, after: Duration) -> Self {
        self.timeout_after = after;
        self
    }

    /// A bulkhead of `n` concurrent requests, rejecting at once when full.
    ///
    /// ```
    /// let layer = evenkeel_middleware::preset::ServerLayer::new(evenkeel_shutdown::Shutdown::new()).max_concurrency(64);
    /// # let _ = layer;
    /// ```
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.bulkhead = BulkheadLayer::new(n);
        self
    }

    /// A fully configured bulkhead (bounded wait, retry-after hint,
    /// listener), sharing its permits with `bulkhead` and its clones.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_middleware::{preset::ServerLayer, BulkheadLayer};
    /// let layer = ServerLayer::new(evenkeel_shutdown::Shutdown::new())
    ///     .bulkhead(BulkheadLayer::builder(64).max_wait(Duration::from_millis(20)).build());
    /// # let _ = layer;
    /// ```
    pub fn bulkhead(mut self, bulkhead: BulkheadLayer) -> Self {
        self.bulkhead = bulkhead;
        self
    }

    /// The retry-after hint for requests refused while draining.
    ///
    /// ```
    /// let layer = evenkeel_middleware::preset::ServerLayer::new(evenkeel_shutdown::Shutdown::new())
    ///     .drain_retry_after(std::time::Duration::from_secs(1));
    /// # let _ = layer;
    /// ```
    pub fn drain_retry_after(mut self, retry_after: Duration) -> Self {
        self.drain = self.drain.retry_after(retry_after);
        self
    }

    /// The shared rate limiter, to inspect.
    ///
    /// ```
    /// let layer = evenkeel_middleware::preset::ServerLayer::new(evenkeel_shutdown::Shutdown::new());
    /// assert!(layer.rate_limiter().check().is_ok());
    /// ```
    pub fn rate_limiter(&self) -> &RateLimiter {
        self.rate_limit.limiter()
    }

    /// The shared bulkhead, to inspect (for example its free permits).
    ///
    /// ```
    /// let layer = evenkeel_middleware::preset::ServerLayer::new(evenkeel_shutdown::Shutdown::new()).max_concurrency(8);
    /// assert_eq!(layer.bulkhead_layer().available(), 8);
    /// ```
    pub fn bulkhead_layer(&self) -> &BulkheadLayer {
        &self.bulkhead
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let (shutdown, drain_retry_after) = self.drain.parts();
        ServerService::new(
            inner,
            Arc::new(Shared {
                limiter: self.rate_limit.limiter().clone(),
                after: self.timeout_after,
                bulkhead: Arc::clone(self.bulkhead.shared()),
                shutdown: shutdown.clone(),
                drain_retry_after,
            }),
        )
    }
}
