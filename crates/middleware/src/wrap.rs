//! [`WrapError`]: the adapter that puts an arbitrary error type under the
//! layers of this crate.
//!
//! Layers here need the inner service's error to implement
//! [`LayerError`](crate::LayerError) so a stack stays one flat
//! [`Error<E>`](crate::Error). Common error types have that impl; for any
//! other (one from a client library, `anyhow::Error`), place this layer
//! innermost and it wraps the error once as [`Error::Inner`](crate::Error::Inner).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::error::Error;

/// Wraps every error of the inner service as [`Error::Inner`].
///
/// # Examples
///
/// ```
/// use evenkeel_middleware::{Error, WrapError};
/// use tower::{service_fn, ServiceExt};
///
/// #[derive(Debug)]
/// struct Foreign;
///
/// # tokio_test::block_on(async {
/// let svc = WrapError::new(service_fn(|_: ()| async { Err::<(), _>(Foreign) }));
/// let err = svc.oneshot(()).await.unwrap_err();
/// assert!(matches!(err, Error::Inner(Foreign)));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct WrapError<S> {
    inner: S,
}

impl<S> WrapError<S> {
    /// Wraps `inner`.
    ///
    /// ```
    /// let svc = evenkeel_middleware::WrapError::new(tower::service_fn(|x: u8| async move { Ok::<_, std::fmt::Error>(x) }));
    /// # let _ = svc;
    /// ```
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The wrapped service.
    ///
    /// ```
    /// let svc = evenkeel_middleware::WrapError::new(5_u8);
    /// assert_eq!(*svc.get_ref(), 5);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the service.
    ///
    /// ```
    /// let svc = evenkeel_middleware::WrapError::new(5_u8);
    /// assert_eq!(svc.into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req> Service<Req> for WrapError<S>
where
    S: Service<Req>,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = WrapErrorFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        WrapErrorFuture::new(self.inner.call(req))
    }
}

pin_project! {
    /// The response future of [`WrapError`].
    ///
    /// ```
    /// use evenkeel_middleware::{WrapError, WrapErrorFuture};
    /// use tower::{service_fn, Service};
    ///
    /// let mut svc = WrapError::new(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
    /// let fut = svc.call(1);
    /// assert_eq!(tokio_test::block_on(fut).unwrap(), 1);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct WrapErrorFuture<F> {
        #[pin]
        future: F,
    }
}

impl<F> WrapErrorFuture<F> {
    pub(crate) fn new(future: F) -> Self {
        Self { future }
    }
}

impl<F, T, E> Future for WrapErrorFuture<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().future.poll(cx).map_err(Error::Inner)
    }
}

/// Applies [`WrapError`].
///
/// ```
/// use evenkeel_middleware::WrapErrorLayer;
/// use tower::ServiceBuilder;
///
/// let svc = ServiceBuilder::new()
///     .layer(WrapErrorLayer::new())
///     .service_fn(|x: u8| async move { Ok::<_, std::fmt::Error>(x) });
/// # let _ = svc;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct WrapErrorLayer {
    _priv: (),
}

impl WrapErrorLayer {
    /// Creates the layer.
    ///
    /// ```
    /// let _layer = evenkeel_middleware::WrapErrorLayer::new();
    /// ```
    pub fn new() -> Self {
        Self { _priv: () }
    }
}

impl<S> Layer<S> for WrapErrorLayer {
    type Service = WrapError<S>;

    fn layer(&self, inner: S) -> WrapError<S> {
        WrapError::new(inner)
    }
}
