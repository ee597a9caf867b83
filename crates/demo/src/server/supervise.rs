//! The worker pool: N workers under an `evenkeel_tasks::Supervisor`.
//!
//! Each worker is a child named `worker-<n>` whose factory builds a fresh
//! [`worker::work`] future for every start. The restart policy is
//! `Transient` (OTP's meaning): a worker that *returns* has run out of work
//! (intake stopped and the store is empty) and stays down; a worker that
//! *panics* is restarted.
//!
//! # A job's panic is not a crash loop
//!
//! Two kinds of panic reach a worker, and they are restarted differently:
//!
//! - **A job's panic** (a job asked for it, or a poison payload). The job's
//!   guard has already answered the store by the time the panic leaves the
//!   attempt (retried, or dead on its last attempt; see `execute`), so the
//!   job pays for it with its own attempts. The child itself catches the
//!   panic and starts a fresh [`worker::work`] at once (see
//!   [`worker_child`]): the restart is counted and logged like any other,
//!   but it takes no backoff and does not spend the supervisor's restart
//!   intensity. Jobs are client input: when the intensity counted them, a
//!   client posting panicking jobs drove 16 workers past 100 restarts in
//!   10 s within seconds, and the supervisor gave up, taking the server
//!   down with it.
//! - **Any other panic** (a bug in the worker's own loop, outside a job).
//!   It leaves the child, and the supervisor restarts the worker after a
//!   backoff, within the restart intensity below: a worker that keeps
//!   crashing with no job to blame is a crash loop, and that is what the
//!   intensity is for.
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
//! At most [`MAX_RESTARTS`] supervisor restarts within [`RESTART_WINDOW`]
//! (jobs' panics are not among them, see above), so a crash loop ends. If
//! the supervisor gives up, the server has no workers left; it logs why and
//! triggers its own shutdown (fatal); the accepted jobs stay in the store
//! for the next start.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use evenkeel_retry::Backoff;
use evenkeel_shutdown::{Reason, Shutdown};
use evenkeel_tasks::{ChildSpec, Restart, Supervisor, SupervisorEvent};
use futures_util::FutureExt as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::execute::{self, JobContext};
use super::metrics::Metrics;
use super::readiness::Readiness;
use super::worker;

/// Supervisor restarts allowed within [`RESTART_WINDOW`] before it gives
/// up (a job's panic is not one: see the module docs).
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
    let child_metrics = Arc::clone(&metrics);
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
        let metrics = Arc::clone(&child_metrics);
        let name = format!("worker-{i}");
        supervisor = supervisor.child(
            ChildSpec::new(name.clone(), move |stop: CancellationToken| {
                let (ctx, server, metrics, name) = (
                    ctx.clone(),
                    server.clone(),
                    Arc::clone(&metrics),
                    name.clone(),
                );
                async move {
                    worker_child(
                        || worker::work(ctx.clone(), server.clone(), stop.clone()),
                        || {
                            metrics.worker_restarted();
                            tracing::warn!(
                                worker = %name,
                                "a job panicked (it was retried or recorded); restarting its worker"
                            );
                        },
                    )
                    .await;
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

/// One worker child: runs `start()`'s worker until it returns. When a job's
/// panic unwinds out of it ([`execute::take_job_panic`]), `restarted` is
/// called and a fresh worker starts at once; any other panic goes on
/// unwinding, to the supervisor.
///
/// # Cancellation safety
///
/// Dropping it drops the running worker (see [`worker::work`]).
async fn worker_child<W, F>(mut start: impl FnMut() -> W, restarted: F)
where
    W: Future<Output = ()>,
    F: Fn(),
{
    loop {
        // A mark left by a panic caught elsewhere on this thread is not
        // this worker's.
        execute::take_job_panic();
        match AssertUnwindSafe(start()).catch_unwind().await {
            Ok(()) => return,
            Err(panic) if execute::take_job_panic() => drop(panic),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        restarted();
    }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

    use super::*;

    /// Stands for `execute::Running`: marks a panic that unwinds through
    /// it as the job's.
    struct JobGuard;

    impl Drop for JobGuard {
        fn drop(&mut self) {
            if std::thread::panicking() {
                execute::note_job_panic();
            }
        }
    }

    /// A job's panic starts a fresh worker at once, counted, as many
    /// times as it happens; the child ends when a worker returns.
    #[tokio::test]
    async fn a_jobs_panic_restarts_the_worker_in_place() {
        let starts = AtomicU32::new(0);
        let restarts = AtomicU32::new(0);
        worker_child(
            || {
                let n = starts.fetch_add(1, SeqCst);
                async move {
                    let _job = JobGuard;
                    assert!(n >= 3, "job {n} panics");
                }
            },
            || {
                restarts.fetch_add(1, SeqCst);
            },
        )
        .await;
        assert_eq!(starts.load(SeqCst), 4);
        assert_eq!(restarts.load(SeqCst), 3);
    }

    /// A panic outside a job leaves the child (so the supervisor restarts
    /// it, within its intensity), with its own payload; a mark left on the
    /// thread before the worker started does not make it a job's.
    #[tokio::test]
    async fn any_other_panic_goes_on_to_the_supervisor() {
        let starts = Arc::new(AtomicU32::new(0));
        execute::note_job_panic();
        let child = tokio::spawn(worker_child(
            {
                let starts = Arc::clone(&starts);
                move || {
                    starts.fetch_add(1, SeqCst);
                    async { panic!("a bug in the worker's loop") }
                }
            },
            || panic!("restarted in place"),
        ));
        let panic = child.await.expect_err("the panic left the child");
        assert!(panic.is_panic());
        let payload = panic.into_panic();
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"a bug in the worker's loop")
        );
        assert_eq!(starts.load(SeqCst), 1);
    }
}
