//! Store health: whether the job store can write right now, watched from
//! the outside of any backend.
//!
//! [`Watched`] wraps a [`JobStore`] and looks at every answer. An error that
//! is the storage failing ([`StoreError::is_failure`]: the disk is full or
//! read-only, an I/O error, PostgreSQL unreachable) is counted by
//! operation and marks the store **failing**; the next write that succeeds
//! marks it healthy again. The two transitions are logged, once each: a
//! failure episode is one `error` line ("job store failing") and one
//! `warn` line ("job store recovered", a warning so that a log filtered to
//! warnings shows both), however many requests it refused in
//! between, so a full disk does not also flood the log.
//!
//! [`StoreHealth`] is what the rest of the server reads: `/readyz` answers
//! 503 while the store is failing (a load balancer should send jobs to a
//! server that can keep them), and the metrics count every failure in
//! `evenkeel_store_errors_total{op}`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::{
    Claims, Clock, Enqueued, JobRecord, JobStore, Lease, Nacked, NewJob, StoreError, StoreFuture,
    StoreStats,
};
use crate::server::job::JobId;

type OnError = Box<dyn Fn(&'static str) + Send + Sync>;

/// Whether the store is failing, and what to do on each failure.
///
/// ```
/// use evenkeel_demo::server::store::StoreHealth;
///
/// let health = StoreHealth::default();
/// assert!(!health.is_failing());
/// assert_eq!(health.why(), None);
/// ```
#[derive(Default)]
pub struct StoreHealth {
    failing: AtomicBool,
    why: Mutex<Option<String>>,
    on_error: Option<OnError>,
}

impl fmt::Debug for StoreHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreHealth")
            .field("failing", &self.is_failing())
            .finish_non_exhaustive()
    }
}

impl StoreHealth {
    /// Health that calls `on_error(op)` for every failed store call (the
    /// server counts them in its metrics).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use evenkeel_demo::server::store::StoreHealth;
    ///
    /// let seen = Arc::new(AtomicU32::new(0));
    /// let health = StoreHealth::counting({
    ///     let seen = Arc::clone(&seen);
    ///     move |_op| { seen.fetch_add(1, Ordering::Relaxed); }
    /// });
    /// assert!(!health.is_failing());
    /// ```
    pub fn counting(on_error: impl Fn(&'static str) + Send + Sync + 'static) -> Self {
        Self {
            on_error: Some(Box::new(on_error)),
            ..Self::default()
        }
    }

    /// Whether the last write failed and none has succeeded since.
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Acquire)
    }

    /// The error that started the current failure episode, if failing.
    pub fn why(&self) -> Option<String> {
        if !self.is_failing() {
            return None;
        }
        self.why
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn failed(&self, op: &'static str, error: &StoreError) {
        if let Some(count) = &self.on_error {
            count(op);
        }
        if !self.failing.swap(true, Ordering::AcqRel) {
            tracing::error!(%op, %error, "job store failing: refusing new jobs until a write succeeds");
            *self.why.lock().unwrap_or_else(PoisonError::into_inner) = Some(error.to_string());
        }
    }

    fn wrote(&self) {
        if self.failing.load(Ordering::Acquire) && self.failing.swap(false, Ordering::AcqRel) {
            // At `warn`, like the failure it ends: whoever sees one sees both.
            tracing::warn!("job store recovered: writes succeed again");
        }
    }
}

/// A [`JobStore`] whose answers feed a [`StoreHealth`]; see the module
/// docs. Every call is passed through unchanged.
///
/// ```
/// use std::sync::Arc;
/// use evenkeel_demo::server::store::{JobStore, MemoryStore, StoreHealth, StoreOptions, Watched};
///
/// let health = Arc::new(StoreHealth::default());
/// let store = Watched::new(Arc::new(MemoryStore::new(StoreOptions::default())), Arc::clone(&health));
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// assert_eq!(store.stats().await.unwrap().ready, 0);
/// # });
/// assert!(!health.is_failing());
/// ```
#[derive(Debug)]
pub struct Watched {
    inner: Arc<dyn JobStore>,
    health: Arc<StoreHealth>,
}

impl Watched {
    /// Watches `inner`'s answers with `health`.
    pub fn new(inner: Arc<dyn JobStore>, health: Arc<StoreHealth>) -> Self {
        Self { inner, health }
    }

    /// Passes `call` through, noting its outcome; `wrote` says whether a
    /// success stored something (so the storage takes writes again; a
    /// call that changed nothing proves nothing).
    fn watch<'a, T: Send + 'a>(
        &'a self,
        op: &'static str,
        wrote: fn(&T) -> bool,
        call: StoreFuture<'a, T>,
    ) -> StoreFuture<'a, T> {
        Box::pin(async move {
            let out = call.await;
            match &out {
                Err(e) if e.is_failure() => self.health.failed(op, e),
                Ok(value) if wrote(value) => self.health.wrote(),
                _ => {}
            }
            out
        })
    }
}

impl JobStore for Watched {
    fn enqueue(&self, job: NewJob) -> StoreFuture<'_, Enqueued> {
        self.watch(
            "enqueue",
            |e| matches!(e, Enqueued::Created(_)),
            self.inner.enqueue(job),
        )
    }

    fn claim(&self, max: usize, lease_for: Duration) -> StoreFuture<'_, Claims> {
        self.watch(
            "claim",
            |c| !c.jobs.is_empty() || !c.dead_lettered.is_empty(),
            self.inner.claim(max, lease_for),
        )
    }

    fn extend(&self, lease: Lease, lease_for: Duration) -> StoreFuture<'_, Lease> {
        self.watch("extend", |_| true, self.inner.extend(lease, lease_for))
    }

    fn ack(&self, lease: Lease) -> StoreFuture<'_, ()> {
        self.watch("ack", |()| true, self.inner.ack(lease))
    }

    fn nack(&self, lease: Lease, error: String, delay: Duration) -> StoreFuture<'_, Nacked> {
        self.watch("nack", |_| true, self.inner.nack(lease, error, delay))
    }

    fn dead_letter(&self, lease: Lease, reason: String) -> StoreFuture<'_, ()> {
        self.watch(
            "dead_letter",
            |()| true,
            self.inner.dead_letter(lease, reason),
        )
    }

    fn release(&self, lease: Lease) -> StoreFuture<'_, ()> {
        self.watch("release", |()| true, self.inner.release(lease))
    }

    fn recover(&self) -> StoreFuture<'_, u64> {
        self.watch("recover", |n| *n > 0, self.inner.recover())
    }

    fn get(&self, id: JobId) -> StoreFuture<'_, Option<JobRecord>> {
        self.watch("get", |_| false, self.inner.get(id))
    }

    fn stats(&self) -> StoreFuture<'_, StoreStats> {
        self.watch("stats", |_| false, self.inner.stats())
    }

    fn prune(&self) -> StoreFuture<'_, u64> {
        self.watch("prune", |n| *n > 0, self.inner.prune())
    }

    fn wait_for_work(&self, max_wait: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.inner.wait_for_work(max_wait)
    }

    fn is_shared(&self) -> bool {
        self.inner.is_shared()
    }

    fn clock(&self) -> &dyn Clock {
        self.inner.clock()
    }
}
