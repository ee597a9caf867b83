//! [`ServerService`]: the server preset's stack fused into one service.
//!
//! Composed from the separate layers, the stack costs one shared-state
//! `Arc` clone per layer per request, a nested future per layer, and two
//! clock readings (the rate limiter's and the timeout's). Fused, it clones
//! one `Arc`, builds one future, and reads the clock once: the rate
//! limiter's reading is the timeout's start. The behaviour is exactly that
//! of `RateLimit → Timeout → Bulkhead → Drain`, with the same errors, and
//! the same rule that a refusal never polls the inner service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use evenkeel_shutdown::{DrainGuard, Shutdown};
use pin_project_lite::pin_project;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use crate::admit::Admit;
use crate::bulkhead::{self, Acquire};
use crate::error::{Error, LayerError};
use crate::hold::{Hold, ResponseHold};
use crate::rate_limit::RateLimiter;
use crate::timeout::future::ResponseFuture as DeadlineFuture;

/// Everything the preset's services share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) limiter: RateLimiter,
    pub(crate) after: Duration,
    pub(crate) bulkhead: Arc<bulkhead::Shared>,
    pub(crate) shutdown: Shutdown,
    pub(crate) drain_retry_after: Duration,
}

/// The service a [`ServerLayer`](super::ServerLayer) builds around `S`:
/// rate limit → total timeout → bulkhead → drain → `S`, fused.
///
/// The total timeout starts when the rate limiter admits the request in
/// `poll_ready` (with axum and hyper, which call at once, that is when the
/// request arrives) and covers waiting for a bulkhead permit, for `S` to be
/// ready, and the response. The bulkhead permit and the drain guard are
/// kept until the response is complete (for an `http::Response<B>`, the
/// end of its body; see [`ResponseHold`]). A `call` not preceded by a
/// ready `poll_ready` is refused as overloaded.
///
/// `S`'s error must be a [`LayerError`]: an application error (wrapped
/// once as [`Error::Inner`]) or a stack of this crate's layers, whose
/// `Error<E>` passes through unnested. For any other error type, put
/// [`WrapErrorLayer`](crate::WrapErrorLayer) under the preset.
///
/// ```
/// use evenkeel_middleware::preset::ServerLayer;
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let svc = ServerLayer::new(evenkeel_shutdown::Shutdown::new())
///     .layer(tower::service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
/// assert_eq!(svc.oneshot(1).await.unwrap(), 1);
/// # }
/// ```
#[derive(Debug)]
pub struct ServerService<S> {
    inner: S,
    shared: Arc<Shared>,
    front: Front,
}

/// Where one request stands between `poll_ready` and `call`.
#[derive(Debug)]
enum Front {
    Undecided,
    /// Refused; `call` returns this (an `Error` without its inner type).
    Refused(Refusal),
    /// Admitted by the rate limiter at `start`; collecting the rest.
    Admitting(Admitting),
}

#[derive(Debug, Clone, Copy)]
enum Refusal {
    RateLimited(Duration),
    Overloaded(Duration),
    ShuttingDown(Duration),
    TimedOut(Duration),
}

impl Refusal {
    fn into_error<E>(self) -> Error<E> {
        match self {
            Self::RateLimited(retry_after) => Error::RateLimited { retry_after },
            Self::Overloaded(retry_after) => Error::Overloaded { retry_after },
            Self::ShuttingDown(retry_after) => Error::ShuttingDown { retry_after },
            Self::TimedOut(after) => Error::TimedOut {
                after,
                scope: crate::error::TimeoutScope::Total,
            },
        }
    }
}

struct Admitting {
    /// When the rate limiter admitted the request: the total timeout's
    /// start. The deadline is computed only if a timer is armed.
    start: Instant,
    permit: Option<OwnedSemaphorePermit>,
    wait: Option<Acquire>,
    guard: Option<DrainGuard>,
    /// Runs while something below is pending.
    timer: Option<Pin<Box<Sleep>>>,
}

impl fmt::Debug for Admitting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admitting")
            .field("start", &self.start)
            .field("permit", &self.permit.is_some())
            .field("waiting", &self.wait.is_some())
            .field("guard", &self.guard.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> ServerService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self {
            inner,
            shared,
            front: Front::Undecided,
        }
    }
}

impl<S: Clone> Clone for ServerService<S> {
    fn clone(&self) -> Self {
        // A clone starts undecided: an admission belongs to one request.
        Self::new(self.inner.clone(), Arc::clone(&self.shared))
    }
}

/// `start + after`, saturated (the workspace's one helper).
fn deadline(start: Instant, after: Duration) -> Instant {
    evenkeel_retry::saturating_deadline(start, after)
}

impl<S, Req> Service<Req> for ServerService<S>
where
    S: Service<Req>,
    S::Error: LayerError,
    S::Response: ResponseHold,
{
    type Response = <S::Response as ResponseHold>::Held;
    type Error = Error<<S::Error as LayerError>::Inner>;
    type Future = ServerFuture<S::Future, <S::Error as LayerError>::Inner>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let shared = &*self.shared;
        if let Front::Undecided = self.front {
            let now = Instant::now();
            self.front = match shared.limiter.check_at(now) {
                Ok(()) => Front::Admitting(Admitting {
                    start: now,
                    permit: None,
                    wait: None,
                    guard: None,
                    timer: None,
                }),
                Err(retry_after) => Front::Refused(Refusal::RateLimited(retry_after)),
            };
        }
        let Front::Admitting(a) = &mut self.front else {
            // Refused: ready without the inner service; `call` fails.
            return Poll::Ready(Ok(()));
        };
        'below: {
            if a.permit.is_none() {
                let bulkhead = &shared.bulkhead;
                a.permit = Arc::clone(&bulkhead.semaphore).try_acquire_owned().ok();
                if a.permit.is_none() {
                    let refused = Refusal::Overloaded(bulkhead.retry_after);
                    let Some(max_wait) = bulkhead.wait() else {
                        bulkhead.rejected(Duration::ZERO);
                        self.front = Front::Refused(refused);
                        return Poll::Ready(Ok(()));
                    };
                    let wait = a
                        .wait
                        .get_or_insert_with(|| bulkhead::acquire(bulkhead, max_wait));
                    match wait.as_mut().poll(cx) {
                        Poll::Ready(Some(permit)) => {
                            a.permit = Some(permit);
                            a.wait = None;
                        }
                        Poll::Ready(None) => {
                            bulkhead.rejected(max_wait);
                            self.front = Front::Refused(refused);
                            return Poll::Ready(Ok(()));
                        }
                        Poll::Pending => break 'below,
                    }
                }
            }
            // A guard taken by an earlier `poll_ready` is re-checked: once
            // the drain has begun, a request not yet called is refused.
            let draining = match &a.guard {
                None => match shared.shutdown.guard() {
                    Ok(guard) => {
                        a.guard = Some(guard);
                        false
                    }
                    Err(_) => true,
                },
                Some(_) => !shared.shutdown.phase().admits_work(),
            };
            if draining {
                let refused = Refusal::ShuttingDown(shared.drain_retry_after);
                self.front = Front::Refused(refused);
                return Poll::Ready(Ok(()));
            }
            if let Poll::Ready(result) = self.inner.poll_ready(cx) {
                return Poll::Ready(result.map_err(LayerError::into_error));
            }
        }
        // Something below is pending: the total timeout runs meanwhile.
        let timer = a.timer.get_or_insert_with(|| {
            Box::pin(tokio::time::sleep_until(deadline(a.start, shared.after)))
        });
        if timer.as_mut().poll(cx).is_ready() {
            self.front = Front::Refused(Refusal::TimedOut(shared.after));
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let after = self.shared.after;
        let refusal = match std::mem::replace(&mut self.front, Front::Undecided) {
            Front::Admitting(a) => match a {
                Admitting {
                    start,
                    permit: Some(permit),
                    guard: Some(guard),
                    timer,
                    ..
                } => {
                    let future = Admit::called(self.inner.call(req));
                    let inner = match timer {
                        // Something below made readiness wait: its timer,
                        // registered at the deadline, goes on with the
                        // response instead of a second one.
                        Some(timer) => DeadlineFuture::armed(future, timer, after),
                        None => DeadlineFuture::started(future, start, after),
                    };
                    return ServerFuture {
                        inner,
                        hold: Some((permit, guard)),
                    };
                }
                // `call` before `poll_ready` finished: refuse.
                _ => Refusal::Overloaded(self.shared.bulkhead.retry_after),
            },
            Front::Refused(refusal) => refusal,
            Front::Undecided => Refusal::Overloaded(self.shared.bulkhead.retry_after),
        };
        ServerFuture {
            inner: DeadlineFuture::new(Admit::rejected(refusal.into_error()), after),
            hold: None,
        }
    }
}

pin_project! {
    /// The response future of [`ServerService`]: the inner response under
    /// the deadline, carrying the bulkhead permit and the drain guard until
    /// the response is complete (see [`ResponseHold`]); or the refusal on
    /// its first poll. Dropped before it resolves, it releases both.
    ///
    /// ```
    /// use evenkeel_middleware::preset::ServerLayer;
    /// use tower::{Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let mut svc = ServerLayer::new(evenkeel_shutdown::Shutdown::new())
    ///     .layer(tower::service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
    /// let fut = svc.ready().await.unwrap().call(2);
    /// assert_eq!(fut.await.unwrap(), 2);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct ServerFuture<F, E> {
        #[pin]
        inner: DeadlineFuture<F, E>,
        hold: Option<(OwnedSemaphorePermit, DrainGuard)>,
    }
}

impl<F, T, SE> Future for ServerFuture<F, SE::Inner>
where
    F: Future<Output = Result<T, SE>>,
    SE: LayerError,
    T: ResponseHold,
{
    type Output = Result<T::Held, Error<SE::Inner>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        // An error is complete now; a response keeps both until it is.
        let hold = this.hold.take();
        Poll::Ready(out.map(|response| match hold {
            Some((permit, guard)) => response.hold(Hold::both(permit, guard)),
            None => response.hold(Hold::default()),
        }))
    }
}
