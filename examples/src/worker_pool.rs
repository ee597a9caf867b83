//! Lesson `worker-pool`: the chapter's closing exercise, solved in one file.
//!
//! A producer feeds jobs to a pool of workers; Ctrl+C (a real SIGINT, which
//! the lesson raises itself) must stop intake, let the workers finish what
//! they hold, hand back what they cannot reach before a deadline, and
//! account for every job: `accepted = processed + handed back`, lost = 0.
//!
//! [`with_evenkeel`] composes the crates: a bounded queue
//! ([`evenkeel_backpressure::bounded`]) whose `send` waits when it is full,
//! so the producer slows to the workers' pace instead of piling jobs up; a
//! [`TaskGroup`] of named workers; [`evenkeel_retry::retry`] with capped,
//! jittered backoff around the flaky step; and a [`Shutdown`] that the
//! [`SignalListener`] triggers on SIGINT. At the trigger the producer stops
//! and the queue closes; the workers drain what is queued until the drain
//! deadline; then whatever is still queued is taken back with
//! `Receiver::drain` (a real server writes it back to its job store).
//!
//! [`textbook`] runs beside it, on the same signal: a tokio `mpsc` channel
//! shared by `Arc<Mutex<Receiver>>`, workers that `select!` on a `watch`
//! flag set by `ctrl_c()`, and a retry loop written by hand. At the signal
//! every worker breaks out of its loop, and the jobs still in the channel
//! are dropped with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use evenkeel_retry::{Backoff, Jitter, retry};
use evenkeel_shutdown::{Shutdown, SignalListener};
use evenkeel_tasks::TaskGroup;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{Mutex, mpsc, watch};
use tokio::time::sleep;

/// The knobs both versions share.
///
/// ```
/// let c = evenkeel_examples::worker_pool::Config::default();
/// assert_eq!((c.workers, c.capacity), (4, 16));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Workers in the pool.
    pub workers: usize,
    /// Jobs the queue holds.
    pub capacity: usize,
    /// Time one attempt of a job takes.
    pub work: Duration,
    /// How long the workers may keep draining after the signal.
    pub drain_deadline: Duration,
}

impl Default for Config {
    /// 4 workers, a queue of 16, 2 ms per attempt, 5 ms to drain.
    fn default() -> Self {
        Config {
            workers: 4,
            capacity: 16,
            work: Duration::from_millis(2),
            drain_deadline: Duration::from_millis(5),
        }
    }
}

/// The final account of one version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Jobs the producer handed to the queue.
    pub accepted: u64,
    /// Jobs a worker finished (succeeded, or failed after its retries).
    pub processed: u64,
    /// Jobs taken back from the queue at the deadline, for the next start.
    pub handed_back: u64,
    /// Attempts beyond the first, over all jobs.
    pub retries: u64,
}

impl Account {
    /// Accepted jobs neither processed nor handed back.
    pub fn lost(&self) -> u64 {
        self.accepted
            .saturating_sub(self.processed)
            .saturating_sub(self.handed_back)
    }
}

/// The flaky step: attempt `attempt` of job `job` fails about a third of
/// the time (seeded by job and attempt, so both versions see the same luck).
async fn flaky_step(job: u64, attempt: u32, work: Duration) -> Result<(), &'static str> {
    sleep(work).await;
    let mut rng = SmallRng::seed_from_u64(job << 8 | u64::from(attempt));
    if rng.random_bool(0.33) {
        Err("downstream said 503")
    } else {
        Ok(())
    }
}

/// The evenkeel version. Returns its account once the pool has stopped.
pub async fn with_evenkeel(config: Config, shutdown: Shutdown) -> Account {
    let (tx, rx) = evenkeel_backpressure::bounded::<u64>(config.capacity);
    let processed = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));

    let mut workers = TaskGroup::<(), std::convert::Infallible>::new();
    for n in 0..config.workers {
        let (rx, processed, retries) = (rx.clone(), processed.clone(), retries.clone());
        workers.spawn(format!("worker-{n}"), async move {
            // `recv` returns None once the queue is closed and empty.
            while let Some(job) = rx.recv().await {
                let mut attempt = 0;
                let backoff = Backoff::exponential(Duration::from_millis(1))
                    .jitter(Jitter::Full)
                    .max_delay(Duration::from_millis(8))
                    .max_attempts(4);
                let _ = retry(backoff, || {
                    attempt += 1;
                    flaky_step(job, attempt, config.work)
                })
                .await;
                retries.fetch_add(u64::from(attempt - 1), Ordering::Relaxed);
                processed.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        });
    }

    // The producer: `send` waits while the queue is full (backpressure);
    // the trigger stops it between jobs.
    let mut accepted = 0;
    let triggered = shutdown.triggered();
    tokio::pin!(triggered);
    for job in 0.. {
        tokio::select! {
            biased;
            _ = &mut triggered => break,
            sent = tx.send(job) => match sent {
                Ok(_) => accepted += 1,
                Err(_) => break,
            },
        }
    }

    // Intake is over: close the queue; the workers drain it until the
    // deadline, then what is left is taken back rather than dropped.
    rx.close();
    let drained = tokio::time::timeout(config.drain_deadline, workers.join_all()).await;
    let handed_back = rx.drain().len() as u64;
    if drained.is_err() {
        // The workers now find the queue empty and return; each finishes
        // the job in its hands first.
        workers.join_all().await;
    }
    Account {
        accepted,
        processed: processed.load(Ordering::Relaxed),
        handed_back,
        retries: retries.load(Ordering::Relaxed),
    }
}

/// The textbook version, as the chapter's exercise is usually first
/// written. Returns its account once every worker has returned.
pub async fn textbook(config: Config) -> Account {
    let (tx, rx) = mpsc::channel::<u64>(config.capacity);
    let rx = Arc::new(Mutex::new(rx));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(true);
        }
    });

    let processed = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..config.workers {
        let (rx, mut stop) = (rx.clone(), stop_rx.clone());
        let (processed, retries) = (processed.clone(), retries.clone());
        handles.push(tokio::spawn(async move {
            loop {
                let job = tokio::select! {
                    _ = stop.changed() => break,
                    job = async { rx.lock().await.recv().await } => match job {
                        Some(job) => job,
                        None => break,
                    },
                };
                // Retry with doubling delay, no jitter, no cap on the sum.
                let (mut attempt, mut delay) = (1, Duration::from_millis(1));
                while flaky_step(job, attempt, config.work).await.is_err() && attempt < 4 {
                    sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                retries.fetch_add(u64::from(attempt - 1), Ordering::Relaxed);
                processed.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let mut accepted = 0;
    let mut stop = stop_rx;
    for job in 0.. {
        tokio::select! {
            _ = stop.changed() => break,
            sent = tx.send(job) => match sent {
                Ok(()) => accepted += 1,
                Err(_) => break,
            },
        }
    }
    for handle in handles {
        let _ = handle.await;
    }
    // Whatever is still in the channel is dropped with it.
    Account {
        accepted,
        processed: processed.load(Ordering::Relaxed),
        handed_back: 0,
        retries: retries.load(Ordering::Relaxed),
    }
}

/// Runs both versions side by side for `run_for`, then raises a real
/// SIGINT at this process, and returns (textbook, evenkeel).
///
/// # Errors
///
/// If the signal handler cannot be installed or the signal raised.
pub async fn run(config: Config, run_for: Duration) -> anyhow::Result<(Account, Account)> {
    let shutdown = Shutdown::new();
    let listener = SignalListener::new().install(&shutdown)?;
    let evenkeel = tokio::spawn(with_evenkeel(config, shutdown.clone()));
    let textbook = tokio::spawn(textbook(config));
    sleep(run_for).await;
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT)?;
    let (textbook, evenkeel) = (textbook.await?, evenkeel.await?);
    listener.abort();
    Ok((textbook, evenkeel))
}
