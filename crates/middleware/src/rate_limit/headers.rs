//! [`RateLimitHeaders`]: optional rate-limit headers on HTTP responses, as
//! `tower_governor`'s `use_headers()` and the IETF `RateLimit` draft have them.
//!
//! | header ([`HeaderStyle::XRateLimit`], the default) | [`HeaderStyle::RateLimit`] | value |
//! |---|---|---|
//! | `x-ratelimit-limit` | `ratelimit-limit` | the burst |
//! | `x-ratelimit-remaining` | `ratelimit-remaining` | requests admitted at once now |
//! | `x-ratelimit-reset` | `ratelimit-reset` | seconds until the whole burst is back (rounded up) |
//!
//! Refusals keep the `Retry-After` that [`ErrorResponse`](crate::ErrorResponse)
//! writes, and also get these headers (with `remaining: 0`). The values are
//! read after the response, from the same limiter the rate-limit layer
//! uses, so they include this request; a concurrent request may already
//! have changed them, as with any such header.
//!
//! This layer works on responses, so it goes *outside*
//! [`ErrorResponseLayer`](crate::ErrorResponseLayer) (which turns a
//! refusal into its 429 response):
//! `(RateLimitHeadersLayer, ErrorResponseLayer, RateLimitLayer)`.

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::key::KeyExtractor;
use super::{KeyedRateLimiter, RateLimitStatus, RateLimiter};
use crate::error::retry_after_secs;

/// Which header names [`RateLimitHeaders`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HeaderStyle {
    /// `x-ratelimit-limit`, `x-ratelimit-remaining`, `x-ratelimit-reset`:
    /// what `tower_governor`, GitHub and most clients read.
    #[default]
    XRateLimit,
    /// `ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset`: the
    /// IETF draft's separate fields (draft-ietf-httpapi-ratelimit-headers
    /// up to -06).
    RateLimit,
}

impl HeaderStyle {
    fn names(self) -> [HeaderName; 3] {
        let names = match self {
            Self::XRateLimit => [
                "x-ratelimit-limit",
                "x-ratelimit-remaining",
                "x-ratelimit-reset",
            ],
            Self::RateLimit => ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"],
        };
        names.map(HeaderName::from_static)
    }
}

/// Where [`RateLimitHeaders`] reads a request's [`RateLimitStatus`]: a
/// [`RateLimiter`], or a [`KeyedRateLimiter`] with its key extractor as a
/// pair.
pub trait StatusSource<Req> {
    /// What is taken from the request before it moves on (its key).
    type Probe;

    /// Takes what [`status`](StatusSource::status) needs from `req`.
    fn probe(&self, req: &Req) -> Self::Probe;

    /// The status for a probed request.
    fn status(&self, probe: &Self::Probe) -> RateLimitStatus;
}

impl<Req> StatusSource<Req> for RateLimiter {
    type Probe = ();

    fn probe(&self, _: &Req) {}

    fn status(&self, (): &()) -> RateLimitStatus {
        RateLimiter::status(self)
    }
}

impl<Req, F, K> StatusSource<Req> for (KeyedRateLimiter<K>, F)
where
    F: KeyExtractor<Req, Key = K>,
    K: Hash + Eq,
{
    type Probe = K;

    fn probe(&self, req: &Req) -> K {
        self.1.extract(req)
    }

    fn status(&self, key: &K) -> RateLimitStatus {
        self.0.status(key)
    }
}

/// Adds rate-limit headers to every HTTP response (see the module docs).
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use evenkeel_middleware::rate_limit::{RateLimitHeadersLayer, RateLimiter};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # tokio_test::block_on(async {
/// let limiter = RateLimiter::per_second(10);
/// // In a real stack, a `RateLimitLayer` over the same limiter sits inside.
/// let handler = service_fn(|_: http::Request<()>| async { Ok::<_, Infallible>(http::Response::new(())) });
/// let svc = RateLimitHeadersLayer::new(limiter.clone()).layer(handler);
/// limiter.check().unwrap();
/// let resp = svc.oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(resp.headers()["x-ratelimit-limit"], "10");
/// assert_eq!(resp.headers()["x-ratelimit-remaining"], "9");
/// assert_eq!(resp.headers()["x-ratelimit-reset"], "1");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct RateLimitHeaders<S, Src> {
    inner: S,
    source: Src,
    style: HeaderStyle,
}

impl<S, Src> RateLimitHeaders<S, Src> {
    /// Adds the headers of `source` to `inner`'s responses.
    ///
    /// ```
    /// use evenkeel_middleware::rate_limit::{HeaderStyle, RateLimitHeaders, RateLimiter};
    /// let svc = RateLimitHeaders::new((), RateLimiter::per_second(1), HeaderStyle::RateLimit);
    /// # let _ = svc;
    /// ```
    pub fn new(inner: S, source: Src, style: HeaderStyle) -> Self {
        Self {
            inner,
            source,
            style,
        }
    }
}

impl<S, Src, B, RB> Service<http::Request<B>> for RateLimitHeaders<S, Src>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    Src: StatusSource<http::Request<B>> + Clone,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = HeadersFuture<S::Future, Src, http::Request<B>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let probe = self.source.probe(&req);
        HeadersFuture {
            future: self.inner.call(req),
            source: self.source.clone(),
            probe,
            style: self.style,
            _req: PhantomData,
        }
    }
}

pin_project! {
    /// The response future of [`RateLimitHeaders`]: the inner response,
    /// with the headers added.
    #[must_use = "futures do nothing unless polled"]
    pub struct HeadersFuture<F, Src, Req>
    where
        Src: StatusSource<Req>,
    {
        #[pin]
        future: F,
        source: Src,
        probe: Src::Probe,
        style: HeaderStyle,
        _req: PhantomData<fn(Req)>,
    }
}

impl<F, Src: StatusSource<Req>, Req> fmt::Debug for HeadersFuture<F, Src, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeadersFuture")
            .field("style", &self.style)
            .finish_non_exhaustive()
    }
}

impl<F, Src, Req, RB, E> Future for HeadersFuture<F, Src, Req>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
    Src: StatusSource<Req>,
{
    type Output = Result<http::Response<RB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut resp = std::task::ready!(this.future.poll(cx))?;
        let status = this.source.status(this.probe);
        let [limit, remaining, reset] = this.style.names();
        let headers = resp.headers_mut();
        headers.insert(limit, HeaderValue::from(status.limit));
        headers.insert(remaining, HeaderValue::from(status.remaining));
        headers.insert(reset, HeaderValue::from(retry_after_secs(status.reset)));
        Poll::Ready(Ok(resp))
    }
}

/// Applies [`RateLimitHeaders`]: put it outside
/// [`ErrorResponseLayer`](crate::ErrorResponseLayer), with the limiter the
/// rate-limit layer uses (a keyed one as `(limiter, extractor)`).
///
/// # Defaults
///
/// [`HeaderStyle::XRateLimit`].
///
/// ```
/// use std::net::IpAddr;
/// use evenkeel_middleware::rate_limit::{key::PeerIp, HeaderStyle, KeyedRateLimiter, RateLimitHeadersLayer};
///
/// let limiter = KeyedRateLimiter::<Option<IpAddr>>::new(10, std::time::Duration::from_secs(1));
/// let layer = RateLimitHeadersLayer::new((limiter, PeerIp::new())).style(HeaderStyle::RateLimit);
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct RateLimitHeadersLayer<Src> {
    source: Src,
    style: HeaderStyle,
}

impl<Src> RateLimitHeadersLayer<Src> {
    /// Headers read from `source`, in the default style.
    ///
    /// ```
    /// use evenkeel_middleware::rate_limit::{RateLimitHeadersLayer, RateLimiter};
    /// let _ = RateLimitHeadersLayer::new(RateLimiter::per_second(5));
    /// ```
    pub fn new(source: Src) -> Self {
        Self {
            source,
            style: HeaderStyle::default(),
        }
    }

    /// Writes the headers in `style`.
    ///
    /// ```
    /// use evenkeel_middleware::rate_limit::{HeaderStyle, RateLimitHeadersLayer, RateLimiter};
    /// let _ = RateLimitHeadersLayer::new(RateLimiter::per_second(5)).style(HeaderStyle::RateLimit);
    /// ```
    #[must_use]
    pub fn style(mut self, style: HeaderStyle) -> Self {
        self.style = style;
        self
    }
}

impl<S, Src: Clone> Layer<S> for RateLimitHeadersLayer<Src> {
    type Service = RateLimitHeaders<S, Src>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitHeaders::new(inner, self.source.clone(), self.style)
    }
}
