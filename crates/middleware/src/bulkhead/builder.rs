//! [`Builder`]: a bulkhead's configuration, and the state every clone of
//! the layer shares (a tokio [`Semaphore`]).
//!
//! The permits are a tokio `Semaphore`: fair (a freed permit goes to the
//! longest waiter, so newcomers cannot overtake a bounded wait) and tested
//! by tokio's own model checks. The fast path (`try_acquire_owned`) is one
//! compare-and-swap; a release takes the semaphore's lock only to hand the
//! permit over.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::BulkheadLayer;

/// What a [`Bulkhead`](crate::Bulkhead) reports to its
/// [`on_event`](Builder::on_event) listener (and, with the `tracing`
/// feature, as a `tracing` event at `warn` level, target
/// `evenkeel_middleware::bulkhead`).
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::bulkhead::BulkheadEvent;
///
/// let event = BulkheadEvent::Rejected { max_concurrency: 8, waited: Duration::ZERO };
/// assert!(matches!(event, BulkheadEvent::Rejected { max_concurrency: 8, .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BulkheadEvent {
    /// Every permit was taken (after waiting `waited`, the configured
    /// maximum wait, or at once): the request was refused as overloaded.
    Rejected {
        /// The configured limit.
        max_concurrency: usize,
        /// How long the request waited for a permit before the refusal.
        waited: Duration,
    },
}

pub(super) type Listener = Arc<dyn Fn(&BulkheadEvent) + Send + Sync>;

/// Shared configuration and permits.
pub(crate) struct Shared {
    pub(crate) semaphore: Arc<Semaphore>,
    pub(crate) max: usize,
    pub(crate) max_wait: Option<Duration>,
    pub(crate) retry_after: Duration,
    listener: Option<Listener>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("available", &self.semaphore.available_permits())
            .field("max", &self.max)
            .field("max_wait", &self.max_wait)
            .field("retry_after", &self.retry_after)
            .field("listener", &self.listener.is_some())
            .finish()
    }
}

impl Shared {
    /// Reports a refusal to the listener and to `tracing`.
    pub(crate) fn rejected(&self, waited: Duration) {
        #[cfg(feature = "tracing")]
        tracing::warn!(
            target: "evenkeel_middleware::bulkhead",
            max_concurrency = self.max,
            waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            "bulkhead full, request rejected"
        );
        if let Some(listener) = &self.listener {
            listener(&BulkheadEvent::Rejected {
                max_concurrency: self.max,
                waited,
            });
        }
    }

    /// The wait to use, if any (a zero wait is no wait).
    pub(crate) fn wait(&self) -> Option<Duration> {
        self.max_wait.filter(|w| !w.is_zero())
    }
}

/// Configures a [`BulkheadLayer`]; [`build`](Builder::build) makes the one
/// set of permits that the layer and all its clones share.
///
/// # Defaults
///
/// | setting | default |
/// |---|---|
/// | [`max_wait`](Builder::max_wait) | none: reject at once when full |
/// | [`retry_after`](Builder::retry_after) | 1 s |
/// | [`on_event`](Builder::on_event) | none |
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::BulkheadLayer;
///
/// let layer = BulkheadLayer::builder(64)
///     .max_wait(Duration::from_millis(50))
///     .retry_after(Duration::from_secs(2))
///     .on_event(|e| eprintln!("bulkhead: {e:?}"))
///     .build();
/// assert_eq!(layer.available(), 64);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Clone)]
pub struct Builder {
    max: usize,
    max_wait: Option<Duration>,
    retry_after: Duration,
    listener: Option<Listener>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("max", &self.max)
            .field("max_wait", &self.max_wait)
            .field("retry_after", &self.retry_after)
            .field("listener", &self.listener.is_some())
            .finish()
    }
}

impl Builder {
    pub(super) fn new(max_concurrency: usize) -> Self {
        Self {
            max: max_concurrency.min(Semaphore::MAX_PERMITS),
            max_wait: None,
            retry_after: Duration::from_secs(1),
            listener: None,
        }
    }

    /// Waits up to `max_wait` for a permit before rejecting; waiters are
    /// served first come, first served.
    ///
    /// ```
    /// let layer = evenkeel_middleware::BulkheadLayer::builder(16)
    ///     .max_wait(std::time::Duration::from_millis(10))
    ///     .build();
    /// # let _ = layer;
    /// ```
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = Some(max_wait);
        self
    }

    /// The retry-after hint carried by
    /// [`Error::Overloaded`](crate::Error::Overloaded).
    ///
    /// ```
    /// let layer = evenkeel_middleware::BulkheadLayer::builder(16)
    ///     .retry_after(std::time::Duration::from_secs(5))
    ///     .build();
    /// # let _ = layer;
    /// ```
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Calls `f` for every [`BulkheadEvent`] (on the request's task; keep
    /// it short, for example a metrics counter).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    ///
    /// let rejected = Arc::new(AtomicU64::new(0));
    /// let counter = Arc::clone(&rejected);
    /// let layer = evenkeel_middleware::BulkheadLayer::builder(16)
    ///     .on_event(move |_| { counter.fetch_add(1, Ordering::Relaxed); })
    ///     .build();
    /// # let _ = layer;
    /// ```
    pub fn on_event(mut self, f: impl Fn(&BulkheadEvent) + Send + Sync + 'static) -> Self {
        self.listener = Some(Arc::new(f));
        self
    }

    /// The layer, with one fresh set of permits shared by all its clones.
    ///
    /// ```
    /// let layer = evenkeel_middleware::BulkheadLayer::builder(4).build();
    /// assert_eq!(layer.available(), 4);
    /// ```
    pub fn build(self) -> BulkheadLayer {
        BulkheadLayer {
            shared: Arc::new(Shared {
                semaphore: Arc::new(Semaphore::new(self.max)),
                max: self.max,
                max_wait: self.max_wait,
                retry_after: self.retry_after,
                listener: self.listener,
            }),
        }
    }
}
