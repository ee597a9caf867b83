//! Lesson `shutdown`: stop a worker pool without losing accepted work.
//!
//! # The problem
//!
//! A service asked to stop must finish the work it already accepted, and
//! every part of it must hear the request, including parts that start
//! while the stop is under way.
//!
//! # The naive version
//!
//! The textbook answer is a `watch::channel(false)`: the main task sends
//! `true` on Ctrl+C, and every worker races the next job against that news:
//!
//! ```text
//! loop {
//!     tokio::select! {
//!         Some(job) = next_job(&jobs) => process(job).await,
//!         _ = stop.changed() => break,
//!     }
//! }
//! ```
//!
//! It fails in two ways, both run by [`naive`]:
//!
//! 1. **`select!` abandons accepted work.** When a burst of jobs is queued
//!    and the stop arrives, both branches are ready every time a worker
//!    comes back for more. `select!` (without `biased`) picks one at random,
//!    so each worker flips a coin per job and quits on the first "stop".
//!    Four workers with twenty queued jobs get through a handful; the rest
//!    are dropped with the channel. Nothing reports it.
//! 2. **A late subscriber never hears the stop.** A receiver made with
//!    `tx.subscribe()` *after* the send has already seen the value, so its
//!    `changed()` never fires: a worker started during the shutdown waits
//!    forever (here: for the whole minute we give it).
//!
//! # The evenkeel version
//!
//! [`with_evenkeel`] uses [`evenkeel_shutdown::Shutdown`]:
//!
//! - every accepted job carries a [`DrainGuard`], taken when it is admitted;
//! - workers do not race the shutdown at all: they take jobs until the
//!   queue is closed *and empty*;
//! - the stop closes intake (the sender is dropped) and
//!   [`Shutdown::drain`] waits, with a deadline, until every guard is
//!   released, refusing new guards from the moment it begins;
//! - [`Shutdown::triggered`] resolves for a future made before *or after*
//!   the trigger, so a late worker hears it at once.
//!
//! The result: every accepted job is processed, the drain reports
//! `Complete`, and the late worker hears the stop.
//!
//! The `select!` race is random (tokio seeds it per runtime), so the number
//! the naive version loses changes from run to run; the chance that it
//! loses nothing is below one in a million per run (at least twenty coin
//! flips must all come up "job").

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use evenkeel_shutdown::{DrainGuard, Reason, Shutdown};
use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};

/// The scenario both versions run: a pool of workers, a burst of accepted
/// jobs, then the stop.
///
/// # Example
///
/// ```
/// use evenkeel_examples::shutdown::Scenario;
///
/// let small = Scenario { burst: 8, ..Scenario::default() };
/// assert_eq!(small.workers, 4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Worker tasks sharing one queue.
    pub workers: usize,
    /// Jobs accepted (queued) just before the stop.
    pub burst: usize,
    /// Time each job takes.
    pub work: Duration,
    /// How long the late worker waits to hear the stop before we call it hung.
    pub late_worker_patience: Duration,
    /// The drain deadline of the evenkeel version.
    pub drain_deadline: Duration,
}

impl Default for Scenario {
    /// Four workers, a burst of 20 jobs of 10 ms each, a late worker given
    /// a minute, a 5 s drain deadline.
    fn default() -> Self {
        Self {
            workers: 4,
            burst: 20,
            work: Duration::from_millis(10),
            late_worker_patience: Duration::from_secs(60),
            drain_deadline: Duration::from_secs(5),
        }
    }
}

/// What one run measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Jobs admitted into the queue before the stop.
    pub accepted: usize,
    /// Jobs the workers finished.
    pub processed: usize,
    /// Accepted jobs never processed (`accepted - processed`).
    pub lost: usize,
    /// Whether a worker that subscribed after the stop heard about it
    /// within its patience.
    pub late_worker_heard_stop: bool,
    /// Whether the shutdown knew when all accepted work was done: the
    /// naive version has no such report; the evenkeel drain says `Complete`.
    pub drain_complete: bool,
    /// Time from the stop until the pool had exited (the drain returned).
    pub stop_took: Duration,
}

/// The textbook worker pool: `watch` channel plus `select!` per job.
///
/// Runs `scenario` once and reports what it lost. Needs a tokio runtime
/// with time enabled; with paused time it is exact and instant.
///
/// # Example
///
/// ```
/// use evenkeel_examples::shutdown::{Scenario, naive};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let outcome = naive(&Scenario::default()).await;
/// assert_eq!(outcome.processed + outcome.lost, 20); // `lost` is random, and rarely 0
/// assert!(!outcome.late_worker_heard_stop); // always
/// # }
/// ```
pub async fn naive(scenario: &Scenario) -> Outcome {
    let processed = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (queue, jobs) = mpsc::channel::<usize>(scenario.burst.max(1));
    let jobs = Arc::new(Mutex::new(jobs));

    let mut workers = JoinSet::new();
    for _ in 0..scenario.workers {
        let jobs = Arc::clone(&jobs);
        let processed = Arc::clone(&processed);
        let mut stop = stop_rx.clone();
        let work = scenario.work;
        workers.spawn(async move {
            loop {
                tokio::select! {
                    // Both branches are ready while jobs are queued after the
                    // stop: select! picks one at random.
                    Some(_job) = async { jobs.lock().await.recv().await } => {
                        sleep(work).await;
                        processed.fetch_add(1, Ordering::Relaxed);
                    }
                    _ = stop.changed() => break,
                    else => break,
                }
            }
        });
    }

    // The burst: every job is accepted (the queue has room for all of them).
    let mut accepted = 0;
    for job in 0..scenario.burst {
        if queue.send(job).await.is_ok() {
            accepted += 1;
        }
    }
    // The stop, then intake closes.
    let stopped_at = Instant::now();
    let _ = stop_tx.send(true);
    drop(queue);

    // A worker that starts during the shutdown subscribes too late.
    let mut late = stop_tx.subscribe();
    let patience = scenario.late_worker_patience;
    let late_worker = tokio::spawn(async move { timeout(patience, late.changed()).await.is_ok() });

    while workers.join_next().await.is_some() {}
    let stop_took = stopped_at.elapsed();
    let late_worker_heard_stop = late_worker.await.unwrap_or(false);
    // The workers are gone; whatever was still queued is dropped with `jobs`.
    let processed = processed.load(Ordering::Relaxed);
    Outcome {
        accepted,
        processed,
        lost: accepted.saturating_sub(processed),
        late_worker_heard_stop,
        drain_complete: false,
        stop_took,
    }
}

/// The same pool with `evenkeel-shutdown`: guards on accepted jobs, workers
/// that finish the queue, a drain with a deadline.
///
/// Runs `scenario` once. Needs a tokio runtime with time enabled.
///
/// # Example
///
/// ```
/// use evenkeel_examples::shutdown::{Scenario, with_evenkeel};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let outcome = with_evenkeel(&Scenario::default()).await;
/// assert_eq!((outcome.processed, outcome.lost), (20, 0));
/// assert!(outcome.drain_complete && outcome.late_worker_heard_stop);
/// # }
/// ```
pub async fn with_evenkeel(scenario: &Scenario) -> Outcome {
    let shutdown = Shutdown::new();
    let processed = Arc::new(AtomicUsize::new(0));
    let (queue, jobs) = mpsc::channel::<(usize, DrainGuard)>(scenario.burst.max(1));
    let jobs = Arc::new(Mutex::new(jobs));

    let mut workers = JoinSet::new();
    for _ in 0..scenario.workers {
        let jobs = Arc::clone(&jobs);
        let processed = Arc::clone(&processed);
        let work = scenario.work;
        workers.spawn(async move {
            // No race against the shutdown: run until the queue is closed
            // and empty. Each job's guard is released when it is done.
            loop {
                let next = jobs.lock().await.recv().await;
                let Some((_job, guard)) = next else { break };
                sleep(work).await;
                processed.fetch_add(1, Ordering::Relaxed);
                drop(guard);
            }
        });
    }

    // The burst: a job is accepted only with a guard, so the drain counts it.
    let mut accepted = 0;
    for job in 0..scenario.burst {
        let Ok(guard) = shutdown.guard() else { break };
        if queue.send((job, guard)).await.is_ok() {
            accepted += 1;
        }
    }
    // The stop, then intake closes.
    let stopped_at = Instant::now();
    shutdown.trigger(Reason::Requested);
    drop(queue);

    // A worker that starts during the shutdown still hears it, at once.
    let late = shutdown.triggered();
    let patience = scenario.late_worker_patience;
    let late_worker = tokio::spawn(async move { timeout(patience, late).await.is_ok() });

    let report = shutdown.drain(scenario.drain_deadline).await;
    while workers.join_next().await.is_some() {}
    let stop_took = stopped_at.elapsed();
    let late_worker_heard_stop = late_worker.await.unwrap_or(false);
    let processed = processed.load(Ordering::Relaxed);
    Outcome {
        accepted,
        processed,
        lost: accepted.saturating_sub(processed),
        late_worker_heard_stop,
        drain_complete: report.is_complete(),
        stop_took,
    }
}
