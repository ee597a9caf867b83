//! [`KeyedRateLimit`]: the layer over a [`KeyedRateLimiter`].
//!
//! The key comes from the request, which `poll_ready` does not see, so the
//! decision is taken in `call`. To keep the rule that a rejecting layer
//! holds no inner readiness, this layer reports ready at once and an
//! admitted request awaits the inner service's readiness inside its
//! response future (the inner service must be `Clone`, as for tower's
//! `Oneshot`). Nothing is decided, and nothing spent, before `call`.

use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::future::KeyedResponseFuture;
use super::key::KeyExtractor;
use super::keyed::KeyedRateLimiter;
use crate::admit::Admit;
use crate::error::{Error, LayerError};
use crate::ready_call::{ReadyCall, take_service};

/// Rejects requests beyond a rate per key, the key taken from the request
/// by a [`KeyExtractor`] (a closure, or one of [`key`](super::key)'s).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::{rate_limit::KeyedRateLimiter, Error, KeyedRateLimitLayer};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let limiter = KeyedRateLimiter::new(1, Duration::from_secs(1));
/// let svc = ServiceBuilder::new()
///     .layer(KeyedRateLimitLayer::new(limiter, |req: &(&str, u8)| req.0.to_owned()))
///     .service_fn(|req: (&str, u8)| async move { Ok::<_, std::io::Error>(req.1) });
///
/// assert_eq!(svc.clone().oneshot(("alice", 1)).await.unwrap(), 1);
/// assert_eq!(svc.clone().oneshot(("bob", 2)).await.unwrap(), 2);
/// assert!(matches!(svc.clone().oneshot(("alice", 3)).await, Err(Error::RateLimited { .. })));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct KeyedRateLimit<S, F, K> {
    inner: S,
    limiter: KeyedRateLimiter<K>,
    key: F,
}

impl<S, F, K> KeyedRateLimit<S, F, K> {
    /// Limits `inner` per key, with `key` extracting the key from a request.
    ///
    /// ```
    /// use evenkeel_middleware::{rate_limit::KeyedRateLimiter, KeyedRateLimit};
    /// let limiter = KeyedRateLimiter::<u8>::new(5, std::time::Duration::from_secs(1));
    /// let svc = KeyedRateLimit::new(tower::service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }), limiter, |x: &u8| *x);
    /// # let _ = svc;
    /// ```
    pub fn new(inner: S, limiter: KeyedRateLimiter<K>, key: F) -> Self {
        Self {
            inner,
            limiter,
            key,
        }
    }

    /// The shared limiter.
    ///
    /// ```
    /// use evenkeel_middleware::{rate_limit::KeyedRateLimiter, KeyedRateLimit};
    /// let limiter = KeyedRateLimiter::<u8>::new(5, std::time::Duration::from_secs(1));
    /// let svc = KeyedRateLimit::new((), limiter.clone(), |x: &u8| *x);
    /// assert!(svc.limiter().shares_state_with(&limiter));
    /// ```
    pub fn limiter(&self) -> &KeyedRateLimiter<K> {
        &self.limiter
    }
}

impl<S, F, K, Req> Service<Req> for KeyedRateLimit<S, F, K>
where
    S: Service<Req> + Clone,
    S::Error: LayerError,
    F: KeyExtractor<Req, Key = K>,
    K: std::hash::Hash + Eq,
{
    type Response = S::Response;
    type Error = Error<<S::Error as LayerError>::Inner>;
    type Future = KeyedResponseFuture<S, Req>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is awaited inside the response future, after admission.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let inner = match self.limiter.check(self.key.extract(&req)) {
            Ok(()) => Admit::called(ReadyCall::new(take_service(&mut self.inner), req)),
            Err(retry_after) => Admit::rejected(Error::RateLimited { retry_after }),
        };
        KeyedResponseFuture::new(inner)
    }
}

/// Applies [`KeyedRateLimit`]; every service it makes shares one table.
///
/// ```
/// use std::net::IpAddr;
/// use evenkeel_middleware::{rate_limit::{key::PeerIp, KeyedRateLimiter}, KeyedRateLimitLayer};
///
/// // By API key, with a closure:
/// let by_api_key = KeyedRateLimitLayer::new(
///     KeyedRateLimiter::<Option<http::HeaderValue>>::new(10, std::time::Duration::from_secs(1)),
///     |req: &http::Request<()>| req.headers().get("x-api-key").cloned(),
/// );
/// // By client IP, from the connection:
/// let by_ip = KeyedRateLimitLayer::new(
///     KeyedRateLimiter::<Option<IpAddr>>::new(10, std::time::Duration::from_secs(1)),
///     PeerIp::new(),
/// );
/// # let _ = (by_api_key, by_ip);
/// ```
#[derive(Debug, Clone)]
pub struct KeyedRateLimitLayer<F, K> {
    limiter: KeyedRateLimiter<K>,
    key: F,
}

impl<F, K> KeyedRateLimitLayer<F, K> {
    /// A layer sharing `limiter`, keyed by `key`.
    ///
    /// ```
    /// use evenkeel_middleware::{rate_limit::KeyedRateLimiter, KeyedRateLimitLayer};
    /// let layer = KeyedRateLimitLayer::new(KeyedRateLimiter::<u8>::new(1, std::time::Duration::from_secs(1)), |x: &u8| *x);
    /// # let _ = layer;
    /// ```
    pub fn new(limiter: KeyedRateLimiter<K>, key: F) -> Self {
        Self { limiter, key }
    }
}

impl<S, F: Clone, K> Layer<S> for KeyedRateLimitLayer<F, K> {
    type Service = KeyedRateLimit<S, F, K>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedRateLimit::new(inner, self.limiter.clone(), self.key.clone())
    }
}
