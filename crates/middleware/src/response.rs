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
//! `Retry-After` is in whole seconds, rounded up (HTTP has no finer unit)
//! and clamped to [`MAX_RETRY_AFTER`](crate::error::MAX_RETRY_AFTER) (one
//! day), so no hint, however large, overflows or parks a client for
//! longer. The body is the error's message as plain text.
//!
//! # Your own mapping
//!
//! The status and body above are a default, not a rule: an API with JSON
//! error bodies (RFC 9457 problem details, say), or one whose inner error
//! is not an `IntoResponse` (hyper's, a `BoxError`), gives
//! [`ErrorResponseLayer::with_mapper`] a function from [`Error<E>`] to a
//! `Response`. [`Error::status`] and [`Error::retry_after_header`] give it
//! the defaults to build on.
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

use ::axum::response::{IntoResponse, Response};
use http::header::RETRY_AFTER;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{Error, LayerError};

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
        let retry_after = self.retry_after_header();
        // The message of a rejection never mentions `E`; drop it to format.
        let message = self.map_inner(|_| String::new()).to_string();
        let mut resp = (status, message).into_response();
        if let Some(value) = retry_after {
            resp.headers_mut().insert(RETRY_AFTER, value);
        }
        resp
    }
}

/// How [`ErrorResponse`] turns an [`Error<E>`] into a response.
///
/// Implemented by [`DefaultMapper`] (`Error<E>`'s own `IntoResponse`, for
/// `E: IntoResponse`) and by every `Fn(Error<E>) -> Response`.
///
/// ```
/// use axum::response::{IntoResponse, Response};
/// use evenkeel_middleware::{Error, MapErrorResponse};
///
/// let to_json = |e: Error<std::io::Error>| -> Response {
///     let status = e.status().unwrap_or(http::StatusCode::BAD_GATEWAY);
///     (status, format!("{{\"error\":\"{e}\"}}")).into_response()
/// };
/// let resp = to_json.to_response(Error::Inner(std::io::Error::other("down")));
/// assert_eq!(resp.status(), 502);
/// ```
pub trait MapErrorResponse<E> {
    /// The response for `error`.
    fn to_response(&self, error: Error<E>) -> Response;
}

/// The default mapping: `Error<E>`'s own `IntoResponse` (429; 503 with
/// `Retry-After`; 504; an inner error's own response).
///
/// ```
/// use evenkeel_middleware::{DefaultMapper, Error, MapErrorResponse};
///
/// let resp = DefaultMapper.to_response(Error::<std::convert::Infallible>::RateLimited { retry_after: Default::default() });
/// assert_eq!(resp.status(), 429);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultMapper;

impl<E: IntoResponse> MapErrorResponse<E> for DefaultMapper {
    fn to_response(&self, error: Error<E>) -> Response {
        error.into_response()
    }
}

impl<E, F> MapErrorResponse<E> for F
where
    F: Fn(Error<E>) -> Response,
{
    fn to_response(&self, error: Error<E>) -> Response {
        self(error)
    }
}

/// Turns every error of the inner stack into its HTTP response, so the
/// result is infallible, as axum's `Router::layer` requires.
///
/// The inner service's error must convert into a flat [`Error<E>`] (every
/// layer of this crate does). With the default mapper `E` must be
/// `IntoResponse` (an axum `Router`'s own error is `Infallible`, which
/// qualifies); with [`ErrorResponseLayer::with_mapper`] it can be anything.
///
/// # Examples
///
#[cfg_attr(feature = "bulkhead", doc = "```")]
#[cfg_attr(not(feature = "bulkhead"), doc = "```ignore")]
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
pub struct ErrorResponse<S, M = DefaultMapper> {
    inner: S,
    mapper: M,
    /// An error the inner service reported from `poll_ready`, answered as
    /// the response to the next call instead of failing readiness.
    ready_error: Option<ReadyError<M>>,
}

/// A deferred `poll_ready` error, kept `Sync` (a `Response` body is not).
type ReadyError<M> = Box<dyn FnOnce(&M) -> Response + Send + Sync>;

impl<S: std::fmt::Debug, M: std::fmt::Debug> std::fmt::Debug for ErrorResponse<S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorResponse")
            .field("inner", &self.inner)
            .field("mapper", &self.mapper)
            .field("ready_error", &self.ready_error.is_some())
            .finish()
    }
}

impl<S: Clone, M: Clone> Clone for ErrorResponse<S, M> {
    fn clone(&self) -> Self {
        Self::with_mapper(self.inner.clone(), self.mapper.clone())
    }
}

impl<S> ErrorResponse<S> {
    /// Wraps `inner`, with the default mapping.
    ///
    /// ```
    /// let svc = evenkeel_middleware::ErrorResponse::new(axum::Router::<()>::new());
    /// # let _ = svc;
    /// ```
    pub fn new(inner: S) -> Self {
        Self::with_mapper(inner, DefaultMapper)
    }
}

impl<S, M> ErrorResponse<S, M> {
    /// Wraps `inner`, answering errors with `mapper`.
    ///
    /// ```
    /// use axum::response::{IntoResponse, Response};
    /// use evenkeel_middleware::{Error, ErrorResponse};
    ///
    /// let svc = ErrorResponse::with_mapper(axum::Router::<()>::new(), |e: Error<std::convert::Infallible>| -> Response {
    ///     (e.status().unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR), "try later").into_response()
    /// });
    /// # let _ = svc;
    /// ```
    pub fn with_mapper(inner: S, mapper: M) -> Self {
        Self {
            inner,
            mapper,
            ready_error: None,
        }
    }
}

impl<S, M, Req> Service<Req> for ErrorResponse<S, M>
where
    S: Service<Req>,
    S::Response: IntoResponse,
    S::Error: LayerError + Send + Sync + 'static,
    M: MapErrorResponse<<S::Error as LayerError>::Inner> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ErrorResponseFuture<S::Future, M>;

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
                self.ready_error = Some(Box::new(move |m: &M| m.to_response(e.into_error())));
                Poll::Ready(Ok(()))
            }
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let state = match self.ready_error.take() {
            Some(respond) => State::Failed {
                response: Some(respond(&self.mapper)),
            },
            None => State::Called {
                future: self.inner.call(req),
            },
        };
        ErrorResponseFuture {
            state,
            mapper: self.mapper.clone(),
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
    /// use evenkeel_middleware::{error::TimeoutScope, Error, ErrorResponse};
    /// use tower::{service_fn, Service};
    ///
    /// let mut svc = ErrorResponse::new(service_fn(|_: ()| async {
    ///     Err::<Response, _>(Error::<Infallible>::TimedOut { after: Default::default(), scope: TimeoutScope::Total })
    /// }));
    /// let resp = tokio_test::block_on(svc.call(())).unwrap();
    /// assert_eq!(resp.status(), 504);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct ErrorResponseFuture<F, M = DefaultMapper> {
        #[pin]
        state: State<F>,
        mapper: M,
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

impl<F, M, T, SE> Future for ErrorResponseFuture<F, M>
where
    F: Future<Output = Result<T, SE>>,
    T: IntoResponse,
    SE: LayerError,
    M: MapErrorResponse<SE::Inner>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.state.project() {
            StateProj::Called { future } => future.poll(cx).map(|result| {
                Ok(match result {
                    Ok(resp) => resp.into_response(),
                    Err(e) => this.mapper.to_response(e.into_error()),
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
/// # Defaults
///
/// [`new`](ErrorResponseLayer::new) uses [`DefaultMapper`]: 429 for rate
/// limits; 503 with `Retry-After` for overload, an open circuit and
/// shutdown; 504 for timeouts; an inner error's own response.
///
#[cfg_attr(feature = "rate-limit", doc = "```")]
#[cfg_attr(not(feature = "rate-limit"), doc = "```ignore")]
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
pub struct ErrorResponseLayer<M = DefaultMapper> {
    mapper: M,
}

impl ErrorResponseLayer {
    /// Creates the layer, with the default mapping.
    ///
    /// ```
    /// let _layer = evenkeel_middleware::ErrorResponseLayer::new();
    /// ```
    pub fn new() -> Self {
        Self {
            mapper: DefaultMapper,
        }
    }
}

impl<M> ErrorResponseLayer<M> {
    /// Creates the layer, answering errors with `mapper` (a
    /// `Fn(Error<E>) -> Response`, or any [`MapErrorResponse`]).
    ///
    #[cfg_attr(feature = "rate-limit", doc = "```")]
    #[cfg_attr(not(feature = "rate-limit"), doc = "```ignore")]
    /// use axum::{response::{IntoResponse, Response}, routing::get, Router};
    /// use evenkeel_middleware::{Error, ErrorResponseLayer, RateLimitLayer};
    ///
    /// let json = |e: Error<std::convert::Infallible>| -> Response {
    ///     let mut resp = (e.status().unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
    ///         [("content-type", "application/json")], format!("{{\"error\":\"{e}\"}}")).into_response();
    ///     if let Some(v) = e.retry_after_header() {
    ///         resp.headers_mut().insert(http::header::RETRY_AFTER, v);
    ///     }
    ///     resp
    /// };
    /// let app: Router = Router::new()
    ///     .route("/", get(|| async { "hello" }))
    ///     .layer((ErrorResponseLayer::with_mapper(json), RateLimitLayer::per_second(100)));
    /// # let _ = app;
    /// ```
    pub fn with_mapper(mapper: M) -> Self {
        Self { mapper }
    }
}

impl<S, M: Clone> Layer<S> for ErrorResponseLayer<M> {
    type Service = ErrorResponse<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorResponse::with_mapper(inner, self.mapper.clone())
    }
}
