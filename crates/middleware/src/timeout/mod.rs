//! Timeouts: [`Timeout`] bounds a request's whole life (waiting for
//! readiness plus the call); [`AttemptTimeout`] bounds one call, to sit
//! inside a retry.
//!
//! tower's `Timeout` starts its timer in `call`, after `poll_ready` has
//! returned ready, so time spent waiting for readiness (a full concurrency
//! limit, a `Buffer`, a reconnecting client) is not covered at all
//! (tower#648): a request can wait forever before its "timeout" starts.
//!
//! [`Timeout`] starts its clock as soon as it has to wait: when the inner
//! service's `poll_ready` is pending, a timer runs inside `poll_ready`, and
//! if it fires first the service reports ready *without* the inner service
//! (which holds no reserved slot, since it never became ready) and `call`
//! fails with `TimedOut`. The response future then gets what is left of the
//! same deadline. When the inner service is ready at once (the common case)
//! the clock starts when the response future is first polled, and only if
//! the response is not ready at once: a response that is immediately
//! ready (a cache hit, a rejection from a layer below) costs no timer.
//!
//! When the timer fires while the inner service is still not ready, the
//! inner service may already hold something for the request that will now
//! never be made: a bulkhead permit, a drain guard, a circuit breaker's
//! half-open trial slot (each taken in its `poll_ready`). [`Timeout`] gives
//! it back by replacing the inner service with a fresh clone and dropping
//! the old one, so an expired request holds nothing (this is why its
//! `Service` impl needs `S: Clone`, as every tower stack served by axum or
//! hyper already is).
//!
//! The deadline starts at the first `poll_ready` that has to wait, so a
//! caller that polls readiness long before it has a request (a `Buffer`
//! worker) should not sit a `Timeout` directly above a service that is
//! often not ready.
//!
//! [`AttemptTimeout`] is tower's shape: readiness passes through, the timer
//! covers the call only; put it under [`Retry`](crate::Retry) so each attempt
//! gets its own budget while a [`Timeout`] above bounds them all.
//! Both fail with [`Error::TimedOut`].

mod attempt;
pub mod future;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Sleep;
use tower_layer::Layer;
use tower_service::Service;

use crate::admit::Admit;
use crate::error::{Error, LayerError, TimeoutScope};

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
#[derive(Debug)]
pub struct Timeout<S> {
    inner: S,
    after: Duration,
    /// Set when `poll_ready` first had to wait: the timer of the deadline.
    waiting: Option<Pin<Box<Sleep>>>,
    /// The timer fired while waiting for readiness: the next call fails.
    expired: bool,
}

impl<S: Clone> Clone for Timeout<S> {
    fn clone(&self) -> Self {
        // A clone starts fresh: a deadline belongs to one request.
        Self::new(self.inner.clone(), self.after)
    }
}

impl<S> Timeout<S> {
    /// Bounds `inner`'s readiness plus call by `after`.
    ///
    /// ```
    /// let svc = evenkeel_middleware::Timeout::new((), std::time::Duration::from_secs(1));
    /// assert_eq!(svc.duration(), std::time::Duration::from_secs(1));
    /// ```
    pub fn new(inner: S, after: Duration) -> Self {
        Self {
            inner,
            after,
            waiting: None,
            expired: false,
        }
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

    /// The wrapped service.
    ///
    /// ```
    /// let svc = evenkeel_middleware::Timeout::new(3_u8, std::time::Duration::from_secs(2));
    /// assert_eq!(*svc.get_ref(), 3);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, Req> Service<Req> for Timeout<S>
where
    S: Service<Req> + Clone,
    S::Error: LayerError,
{
    type Response = S::Response;
    type Error = Error<<S::Error as LayerError>::Inner>;
    type Future = future::ResponseFuture<S::Future, <S::Error as LayerError>::Inner>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.expired {
            // Timed out: ready without the inner service; `call` fails.
            return Poll::Ready(Ok(()));
        }
        match self.inner.poll_ready(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => {
                // The request this deadline belonged to will not be made.
                self.waiting = None;
                Poll::Ready(Err(e.into_error()))
            }
            Poll::Pending => {
                let after = self.after;
                let sleep = self.waiting.get_or_insert_with(|| {
                    // Saturated: a deadline too far to represent never fires.
                    Box::pin(tokio::time::sleep_until(evenkeel_retry::deadline_after(
                        after,
                    )))
                });
                if sleep.as_mut().poll(cx).is_ready() {
                    self.expired = true;
                    // Release what the inner service reserved for this
                    // request (a permit, a guard, a trial slot): a fresh
                    // clone holds nothing, the old one is dropped.
                    let fresh = self.inner.clone();
                    drop(std::mem::replace(&mut self.inner, fresh));
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let waited = self.waiting.take();
        if std::mem::take(&mut self.expired) {
            let error = Error::TimedOut {
                after: self.after,
                scope: TimeoutScope::Total,
            };
            return future::ResponseFuture::new(Admit::rejected(error), self.after);
        }
        let called = Admit::called(self.inner.call(req));
        match waited {
            // Readiness had to wait: its timer, already registered at the
            // deadline, goes on with the response (no second timer).
            Some(timer) => future::ResponseFuture::armed(called, timer, self.after),
            // Otherwise the clock starts at the first poll of the response,
            // and only if it is not ready at once.
            None => future::ResponseFuture::new(called, self.after),
        }
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
