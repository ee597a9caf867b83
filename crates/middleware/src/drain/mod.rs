//! Drain: hold a [`DrainGuard`] for every in-flight request, and refuse new
//! requests once shutdown has begun draining.
//!
//! A graceful shutdown needs to know which requests are still running, and
//! must stop admitting new ones at the right moment (after load balancers
//! have stopped routing here, before the process exits). `evenkeel-shutdown`
//! models both with guards: [`Shutdown::guard`] grants one while intake is
//! open and refuses once the drain has begun, and the drain waits for every
//! guard to drop.
//!
//! [`Drain`] takes a guard in `poll_ready`, before polling the inner
//! service, and moves it into the response future and from there into the
//! response (see [`ResponseHold`]), so the request
//! counts as in flight until its response is complete: for an
//! `http::Response<B>`, until its body has ended or been dropped, so a
//! streaming response (server-sent events, a download) keeps the drain
//! waiting until its last frame.
//! When the guard is refused it reports ready without touching the inner
//! service, and `call` resolves to
//! [`Error::ShuttingDown`] with a retry-after
//! hint (503 with `Retry-After` under the `axum` feature).
//!
//! Like a bulkhead permit, the guard is held from `poll_ready` to the end of
//! the response: a service driven ready and then left idle (not the case
//! with axum or hyper, which call at once) keeps the drain waiting until it
//! is called, polled again, or dropped. A guard taken by an early
//! `poll_ready` (tower's balance and ready-cache poll readiness ahead of
//! time) is re-checked when `poll_ready` is called again: once the drain
//! has begun it is given back and the request refused.
//!
//! Refusals are reported to an optional listener
//! ([`DrainLayer::on_event`]) and, with the `tracing` feature, as `tracing`
//! events (target `evenkeel_middleware::drain`). The drain's own progress
//! and outcome are [`Shutdown::drain`]'s report.

pub mod future;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use evenkeel_shutdown::{DrainGuard, Shutdown};
use tower_layer::Layer;
use tower_service::Service;

use crate::admit::Admit;
use crate::error::{Error, LayerError};
use crate::hold::ResponseHold;

/// What a [`Drain`] reports to its [`on_event`](DrainLayer::on_event)
/// listener (and, with the `tracing` feature, as `tracing` events, target
/// `evenkeel_middleware::drain`: `Begun` at `info`, `Refused` at `debug`).
///
/// ```
/// use evenkeel_middleware::drain::DrainEvent;
/// assert_ne!(DrainEvent::Begun, DrainEvent::Refused);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DrainEvent {
    /// This layer saw the drain for the first time (its first refusal);
    /// reported once per layer.
    Begun,
    /// A request was refused because the drain has begun.
    Refused,
}

/// The listener and its "seen the drain" flag, shared by a layer's services.
struct Events {
    listener: Box<dyn Fn(&DrainEvent) + Send + Sync>,
    begun: AtomicBool,
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("begun", &self.begun)
            .finish_non_exhaustive()
    }
}

/// Reports a refusal (and the first one as the drain's beginning).
fn refused(events: Option<&Arc<Events>>) {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "evenkeel_middleware::drain", "draining, request refused");
    if let Some(events) = events {
        if !events.begun.swap(true, Ordering::Relaxed) {
            #[cfg(feature = "tracing")]
            tracing::info!(target: "evenkeel_middleware::drain", "drain begun: refusing new requests");
            (events.listener)(&DrainEvent::Begun);
        }
        (events.listener)(&DrainEvent::Refused);
    }
}

/// Tracks in-flight requests for a [`Shutdown`] and refuses new ones once
/// it drains.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::{DrainLayer, Error};
/// use evenkeel_shutdown::Shutdown;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let shutdown = Shutdown::new();
/// let svc = ServiceBuilder::new()
///     .layer(DrainLayer::new(shutdown.clone()))
///     .service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) });
///
/// assert_eq!(svc.clone().oneshot(1).await.unwrap(), 1);
/// shutdown.drain(Duration::from_secs(1)).await;
/// assert!(matches!(svc.oneshot(2).await, Err(Error::ShuttingDown { .. })));
/// # }
/// ```
#[derive(Debug)]
pub struct Drain<S> {
    inner: S,
    shutdown: Shutdown,
    retry_after: Duration,
    events: Option<Arc<Events>>,
    /// The decision taken in `poll_ready`, consumed by `call`.
    admission: Admission,
}

/// Where a [`Drain`] service stands between `poll_ready` and `call`.
#[derive(Debug)]
enum Admission {
    Undecided,
    Admitted(DrainGuard),
    Refused,
}

impl Admission {
    fn decide(shutdown: &Shutdown, events: Option<&Arc<Events>>) -> Self {
        if let Ok(guard) = shutdown.guard() {
            Self::Admitted(guard)
        } else {
            refused(events);
            Self::Refused
        }
    }
}

impl<S: Clone> Clone for Drain<S> {
    fn clone(&self) -> Self {
        // A clone holds no guard: a guard belongs to one request.
        Self {
            inner: self.inner.clone(),
            shutdown: self.shutdown.clone(),
            retry_after: self.retry_after,
            events: self.events.clone(),
            admission: Admission::Undecided,
        }
    }
}

impl<S> Drain<S> {
    /// The shutdown this service reports to.
    ///
    /// ```
    /// use tower::Layer;
    /// let shutdown = evenkeel_shutdown::Shutdown::new();
    /// let svc = evenkeel_middleware::DrainLayer::new(shutdown.clone()).layer(());
    /// assert!(!svc.shutdown().is_triggered());
    /// ```
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }
}

impl<S, Req> Service<Req> for Drain<S>
where
    S: Service<Req>,
    S::Error: LayerError,
    S::Response: ResponseHold,
{
    type Response = <S::Response as ResponseHold>::Held;
    type Error = Error<<S::Error as LayerError>::Inner>;
    type Future = future::ResponseFuture<S::Future, <S::Error as LayerError>::Inner>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self.admission {
            Admission::Undecided => {
                self.admission = Admission::decide(&self.shutdown, self.events.as_ref());
            }
            // Polled again while holding a guard: a guard taken before the
            // drain began must not admit a request that comes after it.
            Admission::Admitted(_) if !self.shutdown.phase().admits_work() => {
                refused(self.events.as_ref());
                self.admission = Admission::Refused;
            }
            Admission::Admitted(_) | Admission::Refused => {}
        }
        match self.admission {
            // Draining: report ready without polling the inner service.
            Admission::Refused | Admission::Undecided => Poll::Ready(Ok(())),
            Admission::Admitted(_) => self.inner.poll_ready(cx).map_err(LayerError::into_error),
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // `None` means `call` without `poll_ready`, a caller bug; decide now.
        let decision = match std::mem::replace(&mut self.admission, Admission::Undecided) {
            Admission::Undecided => Admission::decide(&self.shutdown, self.events.as_ref()),
            decided => decided,
        };
        match decision {
            Admission::Admitted(guard) => {
                future::ResponseFuture::new(Admit::called(self.inner.call(req)), Some(guard))
            }
            Admission::Refused | Admission::Undecided => future::ResponseFuture::new(
                Admit::rejected(Error::ShuttingDown {
                    retry_after: self.retry_after,
                }),
                None,
            ),
        }
    }
}

/// Applies [`Drain`].
///
/// # Defaults
///
/// A retry-after hint of 5 seconds on [`Error::ShuttingDown`].
///
/// ```
/// use std::time::Duration;
/// let layer = evenkeel_middleware::DrainLayer::new(evenkeel_shutdown::Shutdown::new())
///     .retry_after(Duration::from_secs(2));
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct DrainLayer {
    shutdown: Shutdown,
    retry_after: Duration,
    events: Option<Arc<Events>>,
}

impl DrainLayer {
    /// A layer reporting to `shutdown`.
    ///
    /// ```
    /// let layer = evenkeel_middleware::DrainLayer::new(evenkeel_shutdown::Shutdown::new());
    /// # let _ = layer;
    /// ```
    pub fn new(shutdown: Shutdown) -> Self {
        Self {
            shutdown,
            retry_after: Duration::from_secs(5),
            events: None,
        }
    }

    /// The retry-after hint carried by [`Error::ShuttingDown`].
    ///
    /// ```
    /// let layer = evenkeel_middleware::DrainLayer::new(evenkeel_shutdown::Shutdown::new())
    ///     .retry_after(std::time::Duration::from_secs(1));
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Calls `f` for every [`DrainEvent`] (on the request's task; keep it
    /// short). The services this layer makes share the listener.
    ///
    /// ```
    /// use evenkeel_middleware::{drain::DrainEvent, DrainLayer};
    /// let layer = DrainLayer::new(evenkeel_shutdown::Shutdown::new())
    ///     .on_event(|e| if *e == DrainEvent::Begun { eprintln!("draining") });
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn on_event(mut self, f: impl Fn(&DrainEvent) + Send + Sync + 'static) -> Self {
        self.events = Some(Arc::new(Events {
            listener: Box::new(f),
            begun: AtomicBool::new(false),
        }));
        self
    }
}

impl DrainLayer {
    /// The shutdown and retry-after hint (for the server preset).
    #[cfg(all(feature = "rate-limit", feature = "timeout", feature = "bulkhead"))]
    pub(crate) fn parts(&self) -> (&Shutdown, Duration) {
        (&self.shutdown, self.retry_after)
    }
}

impl<S> Layer<S> for DrainLayer {
    type Service = Drain<S>;

    fn layer(&self, inner: S) -> Drain<S> {
        Drain {
            inner,
            shutdown: self.shutdown.clone(),
            retry_after: self.retry_after,
            events: self.events.clone(),
            admission: Admission::Undecided,
        }
    }
}
