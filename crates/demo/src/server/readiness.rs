//! Readiness that means "can do work".
//!
//! `GET /readyz` tells a load balancer whether to route here. Two things
//! make it false: the shutdown coordinator leaving its serving phase (the
//! drain has begun), and the worker pool going away. The second is what
//! this module watches. Jobs admitted while no worker runs would only wait
//! in the queue, so a server without workers must not say it is ready, even
//! though its HTTP side answers perfectly well.
//!
//! The supervisor's task holds a [`WorkersAlive`] for as long as it runs.
//! However the task ends (the supervisor returns or gives up, the task
//! panics, or it is aborted), dropping the value marks the server not ready
//! and logs why: at `error` when nobody asked the workers to stop, at
//! `info` during shutdown, when they are meant to stop.

use std::sync::{Arc, OnceLock};

use evenkeel_shutdown::Shutdown;

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
}

impl Readiness {
    /// `true` until the worker supervisor's task has ended.
    pub fn is_ready(&self) -> bool {
        self.down.get().is_none()
    }

    /// Why the server is not ready (the first reason recorded), if it is
    /// not.
    pub fn why_not(&self) -> Option<&str> {
        self.down.get().map(String::as_str)
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
            readiness.why_not(),
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
            readiness.why_not(),
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
        assert_eq!(readiness.why_not(), Some("restart intensity exceeded"));
    }
}
