//! axum integration (feature `axum`): [`Error`] as an HTTP response, and
//! [`ErrorResponseLayer`], which lets a stack of these layers sit on an axum
//! `Router` without `HandleErrorLayer`.
//!
//! # The mapping
//!
//! | error | status | `Retry-After` |
//! |---|---|---|
//! | [`Error::RateLimited`] | 429 Too Many Requests | yes |
//! | [`Error::Overloaded`] | 503 Service Unavailable | yes |
//! | [`Error::CircuitOpen`] | 503 Service Unavailable | yes |
//! | [`Error::ShuttingDown`] | 503 Service Unavailable | yes |
//! | [`Error::TimedOut`] | 504 Gateway Timeout | no |
//! | [`Error::Inner`] | the inner error's own response | as it sets |
//!
//! `Retry-After` is in whole seconds, rounded up (HTTP has no finer unit).
//! The body is the error's message as plain text.
//!
//! # Why a layer as well
//!
//! axum's `Router::layer` requires the layered service to be infallible
//! (`Error: Into<Infallible>`), so an `IntoResponse` impl on the error is
//! not enough by itself: something has to turn the `Err` into an `Ok`
//! response. tower's answer is `HandleErrorLayer` plus a handler that
//! downcasts a `BoxError`. Here the error is already typed and already
//! knows its response, so [`ErrorResponseLayer`] does it with no code.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ::axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header::RETRY_AFTER;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{Error, LayerError};

/// Formats a retry-after hint as an HTTP `Retry-After` value: whole
/// seconds, rounded up.
fn retry_after_value(d: Duration) -> HeaderValue {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    HeaderValue::from(secs)
}

/// 429 for rate limits; 503 with `Retry-After` for overload, open circuit
/// and shutdown; 504 for timeouts; an inner error becomes its own response.
///
/// ```
/// use std::time::Duration;
/// use axum::response::IntoResponse;
/// use evenkeel_middleware::Error;
///
/// let e: Error<std::convert::Infallible> = Error::Overloaded { retry_after: Duration::from_millis(1500) };
/// let resp = e.into_response();
/// assert_eq!(resp.status(), 503);
/// assert_eq!(resp.headers()["retry-after"], "2");
/// ```
impl<E: IntoResponse> IntoResponse for Error<E> {
    fn into_response(self) -> Response {
        if let Error::Inner(e) = self {
            return e.into_response();
        }
        // Every variant but `Inner` has a status; 500 is never reached.
        let status = self
            .status()
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.retry_after();
        // The message of a rejection never mentions `E`; drop it to format.
        let message = self.map_inner(|_| String::new()).to_string();
        let mut resp = (status, message).into_response();
        if let Some(d) = retry_after {
            resp.headers_mut().insert(RETRY_AFTER, retry_after_value(d));
        }
        resp
    }
}

/// Turns every error of the inner stack into its HTTP response, so the
/// result is infallible, as axum's `Router::layer` requires.
///
/// The inner service's error must convert into a flat [`Error<E>`] (every
/// layer of this crate does) with `E: IntoResponse`; an axum `Router`'s own
/// error is `Infallible`, which qualifies.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use axum::{routing::get, Router};
/// use evenkeel_middleware::{BulkheadLayer, ErrorResponseLayer};
/// use tower::ServiceBuilder;
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(
///         ServiceBuilder::new()
///             .layer(ErrorResponseLayer::new())
///             .layer(BulkheadLayer::new(64)),
///     );
/// # let _ = app;
/// ```
pub struct ErrorResponse<S> {
    inner: S,
    /// An error the inner service reported from `poll_ready`, answered as
    /// the response to the next call instead of failing readiness.
    ready_error: Option<ReadyError>,
}

/// A deferred `poll_ready` error, kept `Sync` (a `Response` body is not).
type ReadyError = Box<dyn FnOnce() -> Response + Send + Sync>;

impl<S: std::fmt::Debug> std::fmt::Debug for ErrorResponse<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorResponse")
            .field("inner", &self.inner)
            .field("ready_error", &self.ready_error.is_some())
            .finish()
    }
}

impl<S: Clone> Clone for ErrorResponse<S> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone())
    }
}

impl<S> ErrorResponse<S> {
    /// Wraps `inner`.
    ///
    /// ```
    /// let svc = evenkeel_middleware::ErrorResponse::new(axum::Router::<()>::new());
    /// # let _ = svc;
    /// ```
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            ready_error: None,
        }
    }
}

impl<S, Req> Service<Req> for ErrorResponse<S>
where
    S: Service<Req>,
    S::Response: IntoResponse,
    S::Error: LayerError + Send + Sync + 'static,
    <S::Error as LayerError>::Inner: IntoResponse,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ErrorResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.ready_error.is_some() {
            return Poll::Ready(Ok(()));
        }
        // A failing `poll_ready` would poison an axum router. Layers of this
        // crate never fail there; any other inner error is answered as the
        // response to the next call instead.
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => {
                self.ready_error = Some(Box::new(move || e.into_error().into_response()));
                Poll::Ready(Ok(()))
            }
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.ready_error.take() {
            Some(respond) => ErrorResponseFuture {
                state: State::Failed {
                    response: Some(respond()),
                },
            },
            None => ErrorResponseFuture {
                state: State::Called {
                    future: self.inner.call(req),
                },
            },
        }
    }
}

pin_project! {
    /// The response future of [`ErrorResponse`]: the inner response, or the
    /// error's response.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use axum::response::Response;
    /// use evenkeel_middleware::{Error, ErrorResponse};
    /// use tower::{service_fn, Service};
    ///
    /// let mut svc = ErrorResponse::new(service_fn(|_: ()| async {
    ///     Err::<Response, _>(Error::<Infallible>::TimedOut { after: Default::default() })
    /// }));
    /// let resp = tokio_test::block_on(svc.call(())).unwrap();
    /// assert_eq!(resp.status(), 504);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct ErrorResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F> {
        Called { #[pin] future: F },
        Failed { response: Option<Response> },
    }
}

impl<F, T, SE> Future for ErrorResponseFuture<F>
where
    F: Future<Output = Result<T, SE>>,
    T: IntoResponse,
    SE: LayerError,
    SE::Inner: IntoResponse,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called { future } => future.poll(cx).map(|result| {
                Ok(match result {
                    Ok(resp) => resp.into_response(),
                    Err(e) => e.into_error().into_response(),
                })
            }),
            StateProj::Failed { response } => match response.take() {
                Some(resp) => Poll::Ready(Ok(resp)),
                // Polled after completion: a caller bug; do not panic.
                None => Poll::Pending,
            },
        }
    }
}

/// Applies [`ErrorResponse`]: put it outermost, above the layers of this
/// crate, when the stack goes on an axum `Router`.
///
/// ```
/// use axum::{routing::get, Router};
/// use evenkeel_middleware::{ErrorResponseLayer, RateLimitLayer};
/// use std::time::Duration;
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer((ErrorResponseLayer::new(), RateLimitLayer::per_second(100)));
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorResponseLayer {
    _priv: (),
}

impl ErrorResponseLayer {
    /// Creates the layer.
    ///
    /// ```
    /// let _layer = evenkeel_middleware::ErrorResponseLayer::new();
    /// ```
    pub fn new() -> Self {
        Self { _priv: () }
    }
}

impl<S> Layer<S> for ErrorResponseLayer {
    type Service = ErrorResponse<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorResponse::new(inner)
    }
}
