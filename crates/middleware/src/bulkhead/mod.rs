//! A bulkhead: a concurrency limit that rejects when full.
//!
//! tower's `ConcurrencyLimit` makes excess callers wait in `poll_ready`
//! forever (tower#793); rejecting needs a `LoadShed` on top, which then
//! answers with an opaque `Overloaded` error boxed into `BoxError`.
//!
//! [`Bulkhead`] takes a permit in `poll_ready`, before touching the inner
//! service, exactly like `ConcurrencyLimit`, and holds it until the
//! response future completes or is dropped. When no permit is free it
//! reports ready without polling the inner service, and `call` resolves to
//! [`Error::Overloaded`] with a retry-after hint.
//! Optionally it waits up to [`max_wait`](BulkheadLayer::max_wait) for a
//! permit first. Clones of the layer and of the service share the permits.

pub mod future;
pub(crate) mod permit;

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tower_layer::Layer;
use tower_service::Service;

use crate::admit::Admit;
use crate::error::{Error, LayerError};
use permit::{Permit, Shared, Wait, try_acquire};

/// Where a [`Bulkhead`] service stands between `poll_ready` and `call`.
#[derive(Debug)]
enum Admission {
    /// Nothing decided yet.
    Undecided,
    /// Waiting (up to the maximum) for a permit.
    Waiting(Wait),
    /// Holding a permit for the next call.
    Admitted(Permit),
    /// Full: the next call is rejected.
    Rejected,
}

/// Limits concurrent requests to the inner service; rejects the excess.
///
/// # Examples
///
/// ```
/// use evenkeel_middleware::{BulkheadLayer, Error};
/// use tower::{Layer, Service, ServiceExt};
///
/// # tokio_test::block_on(async {
/// let layer = BulkheadLayer::new(1);
/// let mut a = layer.layer(tower::service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
/// let mut b = a.clone();
///
/// // `a` holds the only permit from `poll_ready` until its future completes.
/// let in_flight = a.ready().await.unwrap().call(1);
/// let rejected = b.ready().await.unwrap().call(2).await;
/// assert!(matches!(rejected, Err(Error::Overloaded { .. })));
/// assert_eq!(in_flight.await.unwrap(), 1);
/// assert_eq!(b.ready().await.unwrap().call(3).await.unwrap(), 3);
/// # });
/// ```
#[derive(Debug)]
pub struct Bulkhead<S> {
    inner: S,
    shared: Arc<Shared>,
    admission: Admission,
}

impl<S: Clone> Clone for Bulkhead<S> {
    fn clone(&self) -> Self {
        // A clone holds no permit: a permit belongs to one request.
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            admission: Admission::Undecided,
        }
    }
}

impl<S> Bulkhead<S> {
    /// The wrapped service.
    ///
    /// ```
    /// use tower::Layer;
    /// let svc = evenkeel_middleware::BulkheadLayer::new(4).layer(7_u8);
    /// assert_eq!(*svc.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// How many permits are free right now.
    ///
    /// ```
    /// use tower::Layer;
    /// let svc = evenkeel_middleware::BulkheadLayer::new(4).layer(());
    /// assert_eq!(svc.available(), 4);
    /// ```
    pub fn available(&self) -> usize {
        self.shared.available()
    }

    /// The configured maximum concurrency.
    ///
    /// ```
    /// use tower::Layer;
    /// let svc = evenkeel_middleware::BulkheadLayer::new(4).layer(());
    /// assert_eq!(svc.max_concurrency(), 4);
    /// ```
    pub fn max_concurrency(&self) -> usize {
        self.shared.max
    }
}

impl<S, Req> Service<Req> for Bulkhead<S>
where
    S: Service<Req>,
    S::Error: LayerError,
{
    type Response = S::Response;
    type Error = Error<<S::Error as LayerError>::Inner>;
    type Future = future::ResponseFuture<S::Future, <S::Error as LayerError>::Inner>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        loop {
            match &mut self.admission {
                Admission::Undecided => {
                    self.admission = match try_acquire(&self.shared) {
                        Some(permit) => Admission::Admitted(permit),
                        None => match self.shared.max_wait {
                            Some(wait) if !wait.is_zero() => {
                                Admission::Waiting(Wait::new(&self.shared, wait))
                            }
                            _ => Admission::Rejected,
                        },
                    };
                }
                Admission::Waiting(wait) => {
                    self.admission = match std::task::ready!(wait.poll(cx)) {
                        Some(permit) => Admission::Admitted(permit),
                        None => Admission::Rejected,
                    };
                }
                // Full: report ready without polling the inner service, so no
                // inner readiness is reserved for a call that will not happen.
                Admission::Rejected => return Poll::Ready(Ok(())),
                Admission::Admitted(_) => {
                    return self.inner.poll_ready(cx).map_err(LayerError::into_error);
                }
            }
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match std::mem::replace(&mut self.admission, Admission::Undecided) {
            Admission::Admitted(permit) => {
                future::ResponseFuture::new(Admit::called(self.inner.call(req)), Some(permit))
            }
            // Rejected, or `call` without a ready `poll_ready` (a caller bug):
            // refuse rather than exceed the limit.
            Admission::Rejected | Admission::Undecided | Admission::Waiting(_) => {
                future::ResponseFuture::new(
                    Admit::rejected(Error::Overloaded {
                        retry_after: self.shared.retry_after,
                    }),
                    None,
                )
            }
        }
    }
}

/// Applies [`Bulkhead`]; every service it makes shares one set of permits.
///
/// # Defaults
///
/// No waiting (reject at once when full); a retry-after hint of 1 second.
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::BulkheadLayer;
///
/// let layer = BulkheadLayer::new(64)
///     .max_wait(Duration::from_millis(50))
///     .retry_after(Duration::from_secs(2));
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct BulkheadLayer {
    shared: Arc<Shared>,
}

impl BulkheadLayer {
    /// At most `max_concurrency` requests in flight at once.
    ///
    /// ```
    /// let layer = evenkeel_middleware::BulkheadLayer::new(16);
    /// # let _ = layer;
    /// ```
    pub fn new(max_concurrency: usize) -> Self {
        Self::build(max_concurrency, None, Duration::from_secs(1))
    }

    fn build(max_concurrency: usize, max_wait: Option<Duration>, retry_after: Duration) -> Self {
        Self {
            shared: Arc::new(Shared::new(max_concurrency, max_wait, retry_after)),
        }
    }

    /// Waits up to `max_wait` for a permit before rejecting. Returns a new
    /// layer with fresh permits: configure before cloning.
    ///
    /// ```
    /// let layer = evenkeel_middleware::BulkheadLayer::new(16).max_wait(std::time::Duration::from_millis(10));
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn max_wait(self, max_wait: Duration) -> Self {
        let s = &self.shared;
        Self::build(s.max, Some(max_wait), s.retry_after)
    }

    /// The retry-after hint carried by [`Error::Overloaded`]. Returns a new
    /// layer with fresh permits: configure before cloning.
    ///
    /// ```
    /// let layer = evenkeel_middleware::BulkheadLayer::new(16).retry_after(std::time::Duration::from_secs(5));
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn retry_after(self, retry_after: Duration) -> Self {
        let s = &self.shared;
        Self::build(s.max, s.max_wait, retry_after)
    }

    /// The shared permits (for the server preset, which fuses them in).
    #[cfg(all(feature = "rate-limit", feature = "timeout", feature = "drain"))]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// How many permits are free right now.
    ///
    /// ```
    /// assert_eq!(evenkeel_middleware::BulkheadLayer::new(3).available(), 3);
    /// ```
    pub fn available(&self) -> usize {
        self.shared.available()
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = Bulkhead<S>;

    fn layer(&self, inner: S) -> Bulkhead<S> {
        Bulkhead {
            inner,
            shared: Arc::clone(&self.shared),
            admission: Admission::Undecided,
        }
    }
}
