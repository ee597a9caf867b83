//! [`AttemptTimeout`]: tower's timeout shape, one call under a timer.

use std::task::{Context, Poll};
use std::time::Duration;

use tower_layer::Layer;
use tower_service::Service;

use super::future::AttemptFuture;
use crate::error::{Error, LayerError};

/// A per-attempt timeout: readiness passes through, the timer covers the
/// call. The clock starts at the response future's first poll, and only if
/// the response is not ready at once. Place it under [`Retry`](crate::Retry).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::{AttemptTimeoutLayer, Error};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let svc = ServiceBuilder::new()
///     .layer(AttemptTimeoutLayer::new(Duration::from_millis(100)))
///     .service_fn(|()| std::future::pending::<Result<(), std::io::Error>>());
/// assert!(matches!(svc.oneshot(()).await, Err(Error::TimedOut { after, .. })
///     if after == Duration::from_millis(100)));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AttemptTimeout<S> {
    inner: S,
    after: Duration,
}

impl<S> AttemptTimeout<S> {
    /// Bounds each call of `inner` by `after`.
    ///
    /// ```
    /// let svc = evenkeel_middleware::AttemptTimeout::new((), std::time::Duration::from_secs(1));
    /// assert_eq!(svc.duration().as_secs(), 1);
    /// ```
    pub fn new(inner: S, after: Duration) -> Self {
        Self { inner, after }
    }

    /// The timeout.
    ///
    /// ```
    /// let svc = evenkeel_middleware::AttemptTimeout::new((), std::time::Duration::from_secs(3));
    /// assert_eq!(svc.duration().as_secs(), 3);
    /// ```
    pub fn duration(&self) -> Duration {
        self.after
    }
}

impl<S, Req> Service<Req> for AttemptTimeout<S>
where
    S: Service<Req>,
    S::Error: LayerError,
{
    type Response = S::Response;
    type Error = Error<<S::Error as LayerError>::Inner>;
    type Future = AttemptFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(LayerError::into_error)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        AttemptFuture::new(self.inner.call(req), self.after)
    }
}

/// Applies [`AttemptTimeout`].
///
/// ```
/// let layer = evenkeel_middleware::AttemptTimeoutLayer::new(std::time::Duration::from_millis(250));
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AttemptTimeoutLayer {
    after: Duration,
}

impl AttemptTimeoutLayer {
    /// A per-attempt timeout of `after`.
    ///
    /// ```
    /// let layer = evenkeel_middleware::AttemptTimeoutLayer::new(std::time::Duration::from_millis(250));
    /// # let _ = layer;
    /// ```
    pub fn new(after: Duration) -> Self {
        Self { after }
    }
}

impl<S> Layer<S> for AttemptTimeoutLayer {
    type Service = AttemptTimeout<S>;

    fn layer(&self, inner: S) -> AttemptTimeout<S> {
        AttemptTimeout::new(inner, self.after)
    }
}
