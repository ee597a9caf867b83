//! A bulkhead: a concurrency limit that rejects when full.
//!
//! tower's `ConcurrencyLimit` makes excess callers wait in `poll_ready`
//! forever (tower#793); rejecting needs a `LoadShed` on top, which then
//! answers with an opaque `Overloaded` error boxed into `BoxError`.
//!
//! [`Bulkhead`] takes a permit in `poll_ready`, before touching the inner
//! service, exactly like `ConcurrencyLimit`, and holds it until the
//! response is *complete*: for an `http::Response<B>` that is the end of
//! its body (see [`ResponseHold`]), so a streaming
//! response counts against the limit for as long as it streams. When no
//! permit is free it reports ready without polling the inner service, and
//! `call` resolves to [`Error::Overloaded`] with a retry-after hint.
//! Optionally it waits up to [`max_wait`](Builder::max_wait) for a permit
//! first, in a fair queue. Clones of the layer and of the service share the
//! permits (a tokio `Semaphore`).
//!
//! A refusal cached by `poll_ready` is re-checked by the next `poll_ready`
//! (callers such as tower's balance poll readiness early and again before
//! calling), so a freed permit is not refused on stale information.

mod builder;
pub mod future;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tower_layer::Layer;
use tower_service::Service;

use crate::admit::Admit;
use crate::error::{Error, LayerError};
use crate::hold::ResponseHold;

pub(crate) use builder::Shared;
pub use builder::{Builder, BulkheadEvent};

/// A bounded wait for a permit: `None` once the maximum wait has passed.
pub(crate) type Acquire = Pin<Box<dyn Future<Output = Option<OwnedSemaphorePermit>> + Send + Sync>>;

/// Starts a bounded, fair wait for one of `shared`'s permits.
pub(crate) fn acquire(shared: &Shared, max_wait: Duration) -> Acquire {
    let semaphore = Arc::clone(&shared.semaphore);
    Box::pin(async move {
        // The semaphore is never closed, so `acquire_owned` cannot fail.
        match tokio::time::timeout(max_wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Some(permit),
            Ok(Err(_)) | Err(_) => None,
        }
    })
}

/// Where a [`Bulkhead`] service stands between `poll_ready` and `call`.
enum Admission {
    /// Nothing decided yet.
    Undecided,
    /// Waiting (up to the maximum) for a permit.
    Waiting(Acquire),
    /// Holding a permit for the next call.
    Admitted(OwnedSemaphorePermit),
    /// Full: the next call is rejected (re-checked by the next `poll_ready`).
    Rejected,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Undecided => "Undecided",
            Self::Waiting(_) => "Waiting",
            Self::Admitted(_) => "Admitted",
            Self::Rejected => "Rejected",
        })
    }
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
/// // `a` holds the only permit from `poll_ready` until its response is complete.
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
        self.shared.semaphore.available_permits()
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
    S::Response: ResponseHold,
{
    type Response = <S::Response as ResponseHold>::Held;
    type Error = Error<<S::Error as LayerError>::Inner>;
    type Future = future::ResponseFuture<S::Future, <S::Error as LayerError>::Inner>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        loop {
            match &mut self.admission {
                Admission::Undecided => {
                    self.admission = match Arc::clone(&self.shared.semaphore).try_acquire_owned() {
                        Ok(permit) => Admission::Admitted(permit),
                        Err(_) => {
                            if let Some(wait) = self.shared.wait() {
                                Admission::Waiting(acquire(&self.shared, wait))
                            } else {
                                self.shared.rejected(Duration::ZERO);
                                Admission::Rejected
                            }
                        }
                    };
                }
                Admission::Waiting(wait) => {
                    self.admission = if let Some(permit) = std::task::ready!(wait.as_mut().poll(cx))
                    {
                        Admission::Admitted(permit)
                    } else {
                        self.shared
                            .rejected(self.shared.max_wait.unwrap_or_default());
                        Admission::Rejected
                    };
                }
                Admission::Rejected => {
                    // Polled again: the refusal may be stale (a permit freed
                    // since). Re-check once, without starting another wait.
                    return match Arc::clone(&self.shared.semaphore).try_acquire_owned() {
                        Ok(permit) => {
                            self.admission = Admission::Admitted(permit);
                            continue;
                        }
                        // Still full: ready without polling the inner
                        // service, so no inner readiness is reserved for a
                        // call that will not happen.
                        Err(_) => Poll::Ready(Ok(())),
                    };
                }
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

/// Applies [`Bulkhead`]; every service it makes, and every clone of the
/// layer, shares one set of permits. Configure it with
/// [`builder`](BulkheadLayer::builder).
///
/// # Defaults
///
/// No waiting (reject at once when full); a retry-after hint of 1 second
/// (see [`Builder`]). A limit above tokio's `Semaphore::MAX_PERMITS`
/// (2⁶¹ − 1 on 64-bit targets) is that maximum.
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::BulkheadLayer;
///
/// let layer = BulkheadLayer::builder(64)
///     .max_wait(Duration::from_millis(50))
///     .retry_after(Duration::from_secs(2))
///     .build();
/// let clone = layer.clone(); // shares the 64 permits
/// # let _ = clone;
/// ```
#[derive(Debug, Clone)]
pub struct BulkheadLayer {
    shared: Arc<Shared>,
}

impl BulkheadLayer {
    /// At most `max_concurrency` requests in flight at once, with the
    /// defaults.
    ///
    /// ```
    /// let layer = evenkeel_middleware::BulkheadLayer::new(16);
    /// assert_eq!(layer.available(), 16);
    /// ```
    pub fn new(max_concurrency: usize) -> Self {
        Self::builder(max_concurrency).build()
    }

    /// A [`Builder`] for a bulkhead of `max_concurrency` permits.
    ///
    /// ```
    /// let layer = evenkeel_middleware::BulkheadLayer::builder(16)
    ///     .max_wait(std::time::Duration::from_millis(10))
    ///     .build();
    /// # let _ = layer;
    /// ```
    pub fn builder(max_concurrency: usize) -> Builder {
        Builder::new(max_concurrency)
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
        self.shared.semaphore.available_permits()
    }

    /// The configured maximum concurrency.
    ///
    /// ```
    /// assert_eq!(evenkeel_middleware::BulkheadLayer::new(3).max_concurrency(), 3);
    /// ```
    pub fn max_concurrency(&self) -> usize {
        self.shared.max
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
