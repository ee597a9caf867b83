//! Response futures of the rate-limit layers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_service::Service;

use crate::admit::Admit;
use crate::error::{Error, LayerError};
use crate::ready_call::ReadyCall;

pin_project! {
    /// The response future of [`RateLimit`](crate::RateLimit): the inner
    /// response, or [`Error::RateLimited`] on its first poll.
    ///
    /// ```
    /// use evenkeel_middleware::RateLimitLayer;
    /// use tower::{Layer, Service, ServiceExt};
    ///
    /// # tokio_test::block_on(async {
    /// let mut svc = RateLimitLayer::per_second(1).layer(tower::service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
    /// let fut = svc.ready().await.unwrap().call(3);
    /// assert_eq!(fut.await.unwrap(), 3);
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct ResponseFuture<F, E> {
        #[pin]
        inner: Admit<F, E>,
    }
}

impl<F, E> ResponseFuture<F, E> {
    pub(crate) fn new(inner: Admit<F, E>) -> Self {
        Self { inner }
    }
}

impl<F, T, SE> Future for ResponseFuture<F, SE::Inner>
where
    F: Future<Output = Result<T, SE>>,
    SE: LayerError,
{
    type Output = Result<T, Error<SE::Inner>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

pin_project! {
    /// The response future of [`KeyedRateLimit`](crate::KeyedRateLimit): it
    /// awaits the inner service's readiness, then its response; or resolves
    /// to [`Error::RateLimited`] on its first poll.
    ///
    /// ```
    /// use evenkeel_middleware::{rate_limit::KeyedRateLimiter, KeyedRateLimit};
    /// use tower::Service;
    ///
    /// let limiter = KeyedRateLimiter::new(1, std::time::Duration::from_secs(1));
    /// let mut svc = KeyedRateLimit::new(tower::service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }), limiter, |x: &u8| *x);
    /// assert_eq!(tokio_test::block_on(svc.call(4)).unwrap(), 4);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct KeyedResponseFuture<S, Req>
    where
        S: Service<Req>,
        S::Error: LayerError,
    {
        #[pin]
        inner: Admit<ReadyCall<S, Req, S::Future>, <S::Error as LayerError>::Inner>,
    }
}

impl<S, Req> KeyedResponseFuture<S, Req>
where
    S: Service<Req>,
    S::Error: LayerError,
{
    pub(crate) fn new(
        inner: Admit<ReadyCall<S, Req, S::Future>, <S::Error as LayerError>::Inner>,
    ) -> Self {
        Self { inner }
    }
}

impl<S, Req> fmt::Debug for KeyedResponseFuture<S, Req>
where
    S: Service<Req>,
    S::Error: LayerError,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedResponseFuture")
            .finish_non_exhaustive()
    }
}

impl<S, Req> Future for KeyedResponseFuture<S, Req>
where
    S: Service<Req>,
    S::Error: LayerError,
{
    type Output = Result<S::Response, Error<<S::Error as LayerError>::Inner>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}
