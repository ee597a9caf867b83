//! The worker pool: N workers under an `evenkeel_tasks::Supervisor`.
//!
//! Each worker is a child named `worker-<n>` whose factory builds a fresh
//! [`worker::work`] future for every start. The restart policy is
//! `Transient` (OTP's meaning): a worker that *returns* has run out of work
//! (intake stopped and the store is empty) and stays down; a worker that *panics*
//! (a job asked it to) is restarted after a short backoff, and the job it
//! was running has already been re-queued or recorded by then (see
//! `execute`).
//!
//! # Two shutdowns, on purpose
//!
//! A supervisor stops its children when the `Shutdown` it runs under
//! triggers. The server's own shutdown triggers at the *first signal*, and
//! that is exactly when the workers must keep going: the drain is them
//! finishing the accepted jobs. So the supervisor runs under its own
//! [`Shutdown`], which the server triggers only at the drain deadline (or a
//! second signal), when whatever is still running is released to the store. Each
//! child's cancellation token is its `stop`; a worker returns as soon as it
//! sees it, so the grace period is short.
//!
//! # Restart intensity
//!
//! At most [`MAX_RESTARTS`] restarts within [`RESTART_WINDOW`]: generous,
//! because a demo sends panicking jobs on purpose, but finite, so a
//! crash loop ends. If the supervisor gives up, the server has no workers
//! left; it logs why and triggers its own shutdown (fatal); the accepted
//! jobs stay in the store for the next start.

use std::sync::Arc;
use std::time::Duration;

use evenkeel_retry::Backoff;
use evenkeel_shutdown::{Reason, Shutdown};
use evenkeel_tasks::{ChildSpec, Restart, Supervisor, SupervisorEvent};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::execute::JobContext;
use super::metrics::Metrics;
use super::readiness::Readiness;
use super::worker;

/// Restarts allowed within [`RESTART_WINDOW`] before the supervisor gives
/// up.
pub(crate) const MAX_RESTARTS: u32 = 100;
/// The sliding window of the restart intensity.
pub(crate) const RESTART_WINDOW: Duration = Duration::from_secs(10);

/// The running pool.
#[derive(Debug)]
pub(crate) struct Workers {
    stop: Shutdown,
    supervisor: JoinHandle<()>,
}

/// Starts `n` supervised workers claiming from the store in `ctx`;
/// `server` is triggered (fatal) if the supervisor gives up.
pub(crate) fn start(
    n: usize,
    ctx: &JobContext,
    metrics: Arc<Metrics>,
    server: Shutdown,
    readiness: &Readiness,
) -> Workers {
    let mut supervisor = Supervisor::new()
        .intensity(MAX_RESTARTS, RESTART_WINDOW)
        .backoff(
            Backoff::exponential(Duration::from_millis(10))
                .max_delay(Duration::from_secs(1))
                .without_max_attempts(),
        )
        .reset_after(Duration::from_secs(1))
        .on_event(move |event| match event {
            SupervisorEvent::RestartScheduled { child, delay, .. } => {
                metrics.worker_restarted();
                tracing::warn!(worker = %child, ?delay, "restarting worker");
            }
            SupervisorEvent::Exited {
                child,
                exit: Err(error),
            } => tracing::warn!(worker = %child, %error, "worker exited abnormally"),
            _ => {}
        });
    for i in 0..n {
        let ctx = ctx.clone();
        let server = server.clone();
        supervisor = supervisor.child(
            ChildSpec::new(format!("worker-{i}"), move |stop: CancellationToken| {
                let work = worker::work(ctx.clone(), server.clone(), stop);
                async move {
                    work.await;
                    Ok::<(), std::convert::Infallible>(())
                }
            })
            .restart(Restart::Transient)
            .grace_period(Duration::from_millis(200)),
        );
    }
    let stop = Shutdown::new();
    // Held by the supervisor's task: however the task ends, readiness goes
    // false (see `readiness`).
    let alive = readiness.workers_alive(server.clone());
    let supervisor = tokio::spawn({
        let stop = stop.clone();
        async move {
            match supervisor.run(stop).await {
                Err(error) => {
                    tracing::error!(%error, "the worker supervisor gave up; shutting down");
                    alive.ended(format!("the worker supervisor gave up: {error}"));
                    server.trigger(Reason::fatal(error));
                }
                Ok(()) => alive.ended("the workers have stopped"),
            }
        }
    });
    Workers { stop, supervisor }
}

impl Workers {
    /// Stops every worker (a running job is released back to the store).
    ///
    /// The workers' scope is their own, not the server's: the server's drain
    /// must not stop them (they are what empties the store during the
    /// drain); this is called when the drain deadline has passed or the
    /// stop was forced. A supervisor stops its children when its scope
    /// starts draining, so this starts that scope's drain.
    pub(crate) fn stop(&self) {
        self.stop.trigger(Reason::DeadlineExceeded);
        self.stop.stop_intake();
    }

    /// Waits for the supervisor to have stopped every worker.
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe: it only waits; dropping it leaves the supervisor be.
    pub(crate) async fn join(self) {
        let _ = self.supervisor.await;
    }
}
