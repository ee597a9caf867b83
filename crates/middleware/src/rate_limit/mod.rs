//! Rate limiting that rejects at once with a retry-after, shared by clones.
//!
//! tower's `RateLimit` queues: once the window is spent, `poll_ready` stays
//! pending, so callers wait instead of hearing "come back in 200ms"; and it
//! is not `Clone` (tower#794), so it cannot sit on an axum router or be
//! shared between connections without a `Buffer` in front.
//!
//! [`RateLimit`] decides in `poll_ready`, before touching the inner service:
//! an admitted request then waits for the inner service's readiness as
//! usual, a refused one reports ready at once and its `call` resolves to
//! [`Error::RateLimited`] with the exact wait.
//! Every clone of the layer and of the service shares one [`RateLimiter`]
//! (a GCRA cell, see [`RateLimiter`]). [`KeyedRateLimit`] keeps one cell per
//! key (client IP, API key, tenant) in a table of bounded size.

mod gcra;
mod keyed;

pub mod future;

use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use crate::admit::Admit;
use crate::error::{Error, LayerError};

pub use gcra::RateLimiter;
pub use keyed::{KeyedRateLimit, KeyedRateLimitLayer, KeyedRateLimiter};

/// Rejects requests beyond a rate, with the time until the next free slot.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::{Error, RateLimitLayer};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let svc = ServiceBuilder::new()
///     .layer(RateLimitLayer::per_second(1))
///     .service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) });
///
/// assert_eq!(svc.clone().oneshot(1).await.unwrap(), 1);
/// // The clone shares the limiter: the second request in the same second is refused.
/// match svc.clone().oneshot(2).await {
///     Err(Error::RateLimited { retry_after }) => assert_eq!(retry_after, Duration::from_secs(1)),
///     other => panic!("expected a rejection, got {other:?}"),
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct RateLimit<S> {
    inner: S,
    limiter: RateLimiter,
    /// The decision taken in `poll_ready`, consumed by `call`.
    admission: Option<Result<(), std::time::Duration>>,
}

impl<S: Clone> Clone for RateLimit<S> {
    fn clone(&self) -> Self {
        // A clone starts undecided: an admission belongs to one request.
        Self::new(self.inner.clone(), self.limiter.clone())
    }
}

impl<S> RateLimit<S> {
    /// Limits `inner` with `limiter` (shared with the limiter's clones).
    ///
    /// ```
    /// use evenkeel_middleware::{rate_limit::RateLimiter, RateLimit};
    /// let svc = RateLimit::new(tower::service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }), RateLimiter::per_second(5));
    /// # let _ = svc;
    /// ```
    pub fn new(inner: S, limiter: RateLimiter) -> Self {
        Self {
            inner,
            limiter,
            admission: None,
        }
    }

    /// The shared limiter.
    ///
    /// ```
    /// use evenkeel_middleware::{rate_limit::RateLimiter, RateLimit};
    /// let limiter = RateLimiter::per_second(5);
    /// let svc = RateLimit::new((), limiter.clone());
    /// assert!(svc.limiter().shares_state_with(&limiter));
    /// ```
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// The wrapped service.
    ///
    /// ```
    /// let svc = evenkeel_middleware::RateLimit::new(7_u8, evenkeel_middleware::rate_limit::RateLimiter::per_second(1));
    /// assert_eq!(*svc.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, Req> Service<Req> for RateLimit<S>
where
    S: Service<Req>,
    S::Error: LayerError,
{
    type Response = S::Response;
    type Error = Error<<S::Error as LayerError>::Inner>;
    type Future = future::ResponseFuture<S::Future, <S::Error as LayerError>::Inner>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let limiter = &self.limiter;
        match *self.admission.get_or_insert_with(|| limiter.check()) {
            // Refused: report ready without polling the inner service, so no
            // inner readiness is reserved for a call that will not happen.
            Err(_) => Poll::Ready(Ok(())),
            Ok(()) => self.inner.poll_ready(cx).map_err(LayerError::into_error),
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // `None` means `call` without `poll_ready`, a caller bug; decide now.
        let decision = self
            .admission
            .take()
            .unwrap_or_else(|| self.limiter.check());
        future::ResponseFuture::new(match decision {
            Ok(()) => Admit::called(self.inner.call(req)),
            Err(retry_after) => Admit::rejected(Error::RateLimited { retry_after }),
        })
    }
}

/// Applies [`RateLimit`]; every service it makes shares one limiter.
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::{rate_limit::RateLimiter, RateLimitLayer};
///
/// let layer = RateLimitLayer::new(RateLimiter::with_burst(100, Duration::from_secs(1), 10));
/// let same = RateLimitLayer::per_second(100);
/// # let _ = (layer, same);
/// ```
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    limiter: RateLimiter,
}

impl RateLimitLayer {
    /// A layer sharing `limiter`.
    ///
    /// ```
    /// let layer = evenkeel_middleware::RateLimitLayer::new(evenkeel_middleware::rate_limit::RateLimiter::per_second(9));
    /// # let _ = layer;
    /// ```
    pub fn new(limiter: RateLimiter) -> Self {
        Self { limiter }
    }

    /// A layer with a fresh limiter of `num` requests per second (burst `num`).
    ///
    /// ```
    /// let layer = evenkeel_middleware::RateLimitLayer::per_second(9);
    /// # let _ = layer;
    /// ```
    pub fn per_second(num: u32) -> Self {
        Self::new(RateLimiter::per_second(num))
    }

    /// The shared limiter.
    ///
    /// ```
    /// let layer = evenkeel_middleware::RateLimitLayer::per_second(9);
    /// assert!(layer.limiter().check().is_ok());
    /// ```
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit::new(inner, self.limiter.clone())
    }
}
