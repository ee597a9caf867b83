//! Readiness that means "can do work".
//!
//! `GET /readyz` tells a load balancer whether to route here. Three things
//! make it false: the shutdown coordinator leaving its serving phase (the
//! drain has begun), the worker pool going away, and the job store failing
//! to write (disk full, read-only, database unreachable; see
//! `store::health`), which lasts only until a write succeeds again. The
//! last two are what this module watches. Jobs admitted while no worker runs would only wait
//! in the queue, so a server without workers must not say it is ready, even
//! though its HTTP side answers perfectly well.
//!
//! The supervisor's task holds a [`WorkersAlive`] for as long as it runs.
//! However the task ends (the supervisor returns or gives up, the task
//! panics, or it is aborted), dropping the value marks the server not ready
//! and logs why: at `error` when nobody asked the workers to stop, at
//! `info` during shutdown, when they are meant to stop.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use evenkeel_shutdown::Shutdown;

use super::store::StoreHealth;

/// Whether the workers are still there; cheap to clone (shared).
///
/// ```
/// use evenkeel_demo::server::Readiness;
///
/// let readiness = Readiness::default();
/// assert!(readiness.is_ready());
/// assert_eq!(readiness.why_not(), None);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    down: Arc<OnceLock<String>>,
    store: Option<Arc<StoreHealth>>,
}

impl Readiness {
    /// Readiness that is also false while `store` is failing.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use evenkeel_demo::server::Readiness;
    /// use evenkeel_demo::server::store::StoreHealth;
    ///
    /// let readiness = Readiness::watching(Arc::new(StoreHealth::default()));
    /// assert!(readiness.is_ready());
    /// ```
    pub fn watching(store: Arc<StoreHealth>) -> Self {
        Self {
            store: Some(store),
            ..Self::default()
        }
    }

    /// `true` until the worker supervisor's task has ended, and while the
    /// store (if watched) is not failing.
    pub fn is_ready(&self) -> bool {
        self.why_not().is_none()
    }

    /// Why the server is not ready, if it is not: the workers' end (the
    /// first reason recorded) or the store's failure.
    pub fn why_not(&self) -> Option<Cow<'_, str>> {
        if let Some(down) = self.down.get() {
            return Some(Cow::Borrowed(down));
        }
        let store = self.store.as_ref()?;
        store.is_failing().then(|| {
            let why = store.why().unwrap_or_default();
            Cow::Owned(format!("the job store is failing: {why}"))
        })
    }

    /// The value the worker supervisor's task holds; `stopping` is the
    /// server's shutdown (once it has triggered, the workers ending is
    /// expected).
    pub(crate) fn workers_alive(&self, stopping: Shutdown) -> WorkersAlive {
        WorkersAlive {
            readiness: self.clone(),
            stopping,
            reason: None,
        }
    }
}

/// Marks the server not ready when dropped; see the module docs.
#[derive(Debug)]
pub(crate) struct WorkersAlive {
    readiness: Readiness,
    stopping: Shutdown,
    reason: Option<String>,
}

impl WorkersAlive {
    /// The supervisor ended on its own, for `reason`.
    pub(crate) fn ended(mut self, reason: impl Into<String>) {
        self.reason = Some(reason.into());
    }
}

impl Drop for WorkersAlive {
    fn drop(&mut self) {
        let reason = self.reason.take().unwrap_or_else(|| {
            if std::thread::panicking() {
                "the worker supervisor task panicked".to_owned()
            } else {
                "the worker supervisor task was cancelled".to_owned()
            }
        });
        if self.stopping.is_triggered() {
            tracing::info!(%reason, "workers stopped; readiness is false");
        } else {
            tracing::error!(%reason, "no workers left; readiness is false");
        }
        // The first reason stays: a later one only describes the aftermath.
        let _ = self.readiness.down.set(reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A supervisor task that panics takes readiness down with it, and the
    /// reason says so.
    #[test]
    fn a_panicking_holder_marks_not_ready() {
        let readiness = Readiness::default();
        let alive = readiness.workers_alive(Shutdown::new());
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _alive = alive;
            panic!("supervisor bug");
        }));
        assert!(result.is_err());
        assert!(!readiness.is_ready());
        assert_eq!(
            readiness.why_not().as_deref(),
            Some("the worker supervisor task panicked")
        );
    }

    /// An aborted task (its future dropped) marks not ready too.
    #[tokio::test]
    async fn an_aborted_holder_marks_not_ready() {
        let readiness = Readiness::default();
        let alive = readiness.workers_alive(Shutdown::new());
        let task = tokio::spawn(async move {
            let _alive = alive;
            std::future::pending::<()>().await;
        });
        assert!(readiness.is_ready());
        task.abort();
        let _ = task.await;
        assert_eq!(
            readiness.why_not().as_deref(),
            Some("the worker supervisor task was cancelled")
        );
    }

    /// A supervisor that gives up records its own reason.
    #[test]
    fn an_explicit_reason_wins() {
        let readiness = Readiness::default();
        readiness
            .workers_alive(Shutdown::new())
            .ended("restart intensity exceeded");
        assert_eq!(
            readiness.why_not().as_deref(),
            Some("restart intensity exceeded")
        );
    }
}
