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
//! [`Error::RateLimited`] with the exact wait. `poll_ready` only *looks*
//! (would the limiter admit now?); the token is spent in `call`, so a
//! service polled ready and then dropped or left idle (tower's `Balance`
//! and `ReadyCache` do both) costs nothing, and a refusal is looked at
//! again on every poll instead of going stale.
//!
//! Every clone of the layer and of the service shares one [`RateLimiter`]
//! (a GCRA cell, see [`RateLimiter`]). [`KeyedRateLimit`] keeps one cell per
//! key (client IP, API key, tenant) in a sharded table of bounded size; the
//! [`key`] module has the extractors `tower_governor` users expect (peer IP,
//! a forwarding header behind trusted proxies, one global key), and
//! [`RateLimitHeaders`] adds `x-ratelimit-*` headers to HTTP responses.
//! Limiters report rejections to a listener ([`RateLimitEvent`]) and, with
//! the `tracing` feature, as `tracing` events.

mod builder;
mod clock;
mod event;
mod gcra;
mod headers;
pub mod key;
mod keyed;
mod keyed_builder;
mod keyed_service;
mod status;

pub mod future;

use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use crate::admit::Admit;
use crate::error::{Error, LayerError};

pub use builder::RateLimiterBuilder;
pub use clock::Clock;
pub use event::RateLimitEvent;
pub use gcra::RateLimiter;
pub use headers::{
    HeaderStyle, HeadersFuture, RateLimitHeaders, RateLimitHeadersLayer, StatusSource,
};
pub use key::KeyExtractor;
pub use keyed::KeyedRateLimiter;
pub use keyed_builder::KeyedRateLimiterBuilder;
pub use keyed_service::{KeyedRateLimit, KeyedRateLimitLayer};
pub use status::RateLimitStatus;

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
    /// What the last `poll_ready` saw, consumed by `call`.
    decision: Decision,
}

/// What `poll_ready` saw. Nothing is spent until `call`.
#[derive(Debug, Clone, Copy)]
enum Decision {
    /// No `poll_ready` since the last call (or it is still pending).
    Undecided,
    /// The limiter had room and the inner service is ready.
    Ready,
    /// The limiter had no room; the inner service was not polled.
    Refused,
}

impl<S: Clone> Clone for RateLimit<S> {
    fn clone(&self) -> Self {
        // A clone starts undecided: a decision belongs to one request.
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
            decision: Decision::Undecided,
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
        // Look again on every poll: an earlier answer may be stale.
        self.decision = Decision::Undecided;
        if self.limiter.peek().is_err() {
            // Refused: report ready without polling the inner service, so no
            // inner readiness is reserved for a call that will not happen.
            self.decision = Decision::Refused;
            return Poll::Ready(Ok(()));
        }
        let ready = std::task::ready!(self.inner.poll_ready(cx)).map_err(LayerError::into_error);
        if ready.is_ok() {
            self.decision = Decision::Ready;
        }
        Poll::Ready(ready)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let decision = std::mem::replace(&mut self.decision, Decision::Undecided);
        let admitted = match decision {
            // Spend the token now. Another caller may have taken the last
            // one since `poll_ready` looked: then this call is refused, and
            // the inner readiness stays for the next one.
            // `Undecided` means `call` without `poll_ready`, a caller bug;
            // decide now, as before.
            Decision::Ready | Decision::Undecided => self.limiter.check(),
            Decision::Refused => {
                // The wait as of now (zero if the slot has opened since).
                let retry_after = self.limiter.peek().err().unwrap_or_default();
                self.limiter.report_rejection(retry_after);
                Err(retry_after)
            }
        };
        future::ResponseFuture::new(match admitted {
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
