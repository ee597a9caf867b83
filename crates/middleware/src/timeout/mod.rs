//! Timeouts: [`Timeout`] bounds a request's whole life (waiting for
//! readiness plus the call); [`AttemptTimeout`] bounds one call, to sit
//! inside a retry.
//!
//! tower's `Timeout` starts its timer in `call`, after `poll_ready` has
//! returned ready, so time spent waiting for readiness (a full concurrency
//! limit, a `Buffer`, a reconnecting client) is not covered at all
//! (tower#648): a request can wait forever before its "timeout" starts.
//!
//! [`Timeout`] reports ready at once and moves the inner service into the
//! response future (the inner service must be `Clone`; `call` leaves a clone
//! in its place), where readiness and the call both run under one timer.
//! [`AttemptTimeout`] is tower's shape: readiness passes through, the timer
//! covers the call only; put it under [`Retry`](crate::Retry) so each attempt
//! gets its own budget while a [`Timeout`] above bounds them all.
//! Both fail with [`Error::TimedOut`].

mod attempt;
pub mod future;

use std::task::{Context, Poll};
use std::time::Duration;

use tower_layer::Layer;
use tower_service::Service;

use crate::error::{Error, LayerError};
use crate::ready_call::take_service;

pub use attempt::{AttemptTimeout, AttemptTimeoutLayer};

/// A total timeout: readiness plus call, under one deadline.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::{Error, TimeoutLayer};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let svc = ServiceBuilder::new()
///     .layer(TimeoutLayer::new(Duration::from_secs(1)))
///     .service_fn(|d: u64| async move {
///         tokio::time::sleep(Duration::from_secs(d)).await;
///         Ok::<_, std::io::Error>(d)
///     });
/// assert_eq!(svc.clone().oneshot(0).await.unwrap(), 0);
/// assert!(matches!(svc.oneshot(5).await, Err(Error::TimedOut { .. })));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    after: Duration,
}

impl<S> Timeout<S> {
    /// Bounds `inner`'s readiness plus call by `after`.
    ///
    /// ```
    /// let svc = evenkeel_middleware::Timeout::new((), std::time::Duration::from_secs(1));
    /// assert_eq!(svc.duration(), std::time::Duration::from_secs(1));
    /// ```
    pub fn new(inner: S, after: Duration) -> Self {
        Self { inner, after }
    }

    /// The timeout.
    ///
    /// ```
    /// let svc = evenkeel_middleware::Timeout::new((), std::time::Duration::from_secs(2));
    /// assert_eq!(svc.duration().as_secs(), 2);
    /// ```
    pub fn duration(&self) -> Duration {
        self.after
    }
}

impl<S, Req> Service<Req> for Timeout<S>
where
    S: Service<Req> + Clone,
    S::Error: LayerError,
{
    type Response = S::Response;
    type Error = Error<<S::Error as LayerError>::Inner>;
    type Future = future::ResponseFuture<S, Req>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is awaited inside the response future, under the timer.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        future::ResponseFuture::new(take_service(&mut self.inner), req, self.after)
    }
}

/// Applies [`Timeout`].
///
/// ```
/// let layer = evenkeel_middleware::TimeoutLayer::new(std::time::Duration::from_secs(10));
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer {
    after: Duration,
}

impl TimeoutLayer {
    /// A total timeout of `after`.
    ///
    /// ```
    /// let layer = evenkeel_middleware::TimeoutLayer::new(std::time::Duration::from_secs(10));
    /// # let _ = layer;
    /// ```
    pub fn new(after: Duration) -> Self {
        Self { after }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout::new(inner, self.after)
    }
}
