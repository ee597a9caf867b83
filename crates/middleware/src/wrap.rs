//! [`WrapError`]: the adapter that puts an arbitrary error type under the
//! layers of this crate.
//!
//! Layers here need the inner service's error to implement
//! [`LayerError`](crate::LayerError) so a stack stays one flat
//! [`Error<E>`](crate::Error). Common error types have that impl; for any
//! other (one from a client library, `anyhow::Error`), place this layer
//! innermost and it wraps the error once as [`Error::Inner`].
//!
//! [`WrapErrorLayer::boxed`] erases the error into tower's
//! [`BoxError`] first: the one adapter for every client library whose
//! error is `Into<BoxError>` (hyper's, hyper-util's, reqwest's, tonic's),
//! and the way to give stacks over different clients one error type,
//! `Error<BoxError>`, whose rejections stay typed.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{BoxError, Error};

/// How [`WrapError`] converts the inner service's error before wrapping it:
/// [`AsIs`] or [`Boxed`].
pub trait ConvertError<E> {
    /// The error [`Error::Inner`] carries.
    type Output;

    /// Converts `e`.
    fn convert(e: E) -> Self::Output;
}

/// Keeps the inner error's type: `Error<E>`.
///
/// ```
/// use evenkeel_middleware::wrap::{AsIs, ConvertError};
/// assert_eq!(<AsIs as ConvertError<u8>>::convert(3), 3);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AsIs;

impl<E> ConvertError<E> for AsIs {
    type Output = E;

    fn convert(e: E) -> E {
        e
    }
}

/// Erases the inner error into tower's `BoxError`: `Error<BoxError>`.
///
/// ```
/// use evenkeel_middleware::wrap::{Boxed, ConvertError};
/// assert!(<Boxed as ConvertError<std::fmt::Error>>::convert(std::fmt::Error).is::<std::fmt::Error>());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Boxed;

impl<E: Into<BoxError>> ConvertError<E> for Boxed {
    type Output = BoxError;

    fn convert(e: E) -> BoxError {
        e.into()
    }
}

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
pub struct WrapError<S, C = AsIs> {
    inner: S,
    _convert: PhantomData<fn() -> C>,
}

impl<S> WrapError<S> {
    /// Wraps `inner`.
    ///
    /// ```
    /// let svc = evenkeel_middleware::WrapError::new(tower::service_fn(|x: u8| async move { Ok::<_, std::fmt::Error>(x) }));
    /// # let _ = svc;
    /// ```
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            _convert: PhantomData,
        }
    }
}

impl<S> WrapError<S, Boxed> {
    /// Wraps `inner`, erasing its error into `BoxError` first.
    ///
    /// ```
    /// use evenkeel_middleware::{error::BoxError, Error, WrapError};
    /// use tower::{service_fn, ServiceExt};
    ///
    /// # tokio_test::block_on(async {
    /// let svc = WrapError::boxed(service_fn(|_: ()| async { Err::<(), _>(std::fmt::Error) }));
    /// let err: Error<BoxError> = svc.oneshot(()).await.unwrap_err();
    /// assert!(err.downcast_inner_ref::<std::fmt::Error>().is_some());
    /// # });
    /// ```
    pub fn boxed(inner: S) -> Self {
        Self {
            inner,
            _convert: PhantomData,
        }
    }
}

impl<S, C> WrapError<S, C> {
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

impl<S, C, Req> Service<Req> for WrapError<S, C>
where
    S: Service<Req>,
    C: ConvertError<S::Error>,
{
    type Response = S::Response;
    type Error = Error<C::Output>;
    type Future = WrapErrorFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|e| Error::Inner(C::convert(e)))
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
    pub struct WrapErrorFuture<F, C = AsIs> {
        #[pin]
        future: F,
        _convert: PhantomData<fn() -> C>,
    }
}

impl<F, C> WrapErrorFuture<F, C> {
    pub(crate) fn new(future: F) -> Self {
        Self {
            future,
            _convert: PhantomData,
        }
    }
}

impl<F, C, T, E> Future for WrapErrorFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: ConvertError<E>,
{
    type Output = Result<T, Error<C::Output>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project()
            .future
            .poll(cx)
            .map_err(|e| Error::Inner(C::convert(e)))
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
pub struct WrapErrorLayer<C = AsIs> {
    _convert: PhantomData<fn() -> C>,
}

impl WrapErrorLayer {
    /// Creates the layer: errors keep their type, `Error<E>`.
    ///
    /// ```
    /// let _layer = evenkeel_middleware::WrapErrorLayer::new();
    /// ```
    pub fn new() -> Self {
        Self {
            _convert: PhantomData,
        }
    }

    /// Creates the layer that erases errors into tower's `BoxError`:
    /// `Error<BoxError>`, for any inner error that is `Into<BoxError>`.
    ///
    /// ```
    /// use evenkeel_middleware::{error::BoxError, Error, WrapErrorLayer};
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// # tokio_test::block_on(async {
    /// let svc = ServiceBuilder::new()
    ///     .layer(WrapErrorLayer::boxed())
    ///     .service_fn(|_: ()| async { Err::<(), _>(std::io::Error::other("reset")) });
    /// let err: Error<BoxError> = svc.oneshot(()).await.unwrap_err();
    /// assert_eq!(err.to_string(), "reset");
    /// # });
    /// ```
    pub fn boxed() -> WrapErrorLayer<Boxed> {
        WrapErrorLayer {
            _convert: PhantomData,
        }
    }
}

impl<S, C> Layer<S> for WrapErrorLayer<C> {
    type Service = WrapError<S, C>;

    fn layer(&self, inner: S) -> WrapError<S, C> {
        WrapError {
            inner,
            _convert: PhantomData,
        }
    }
}
