//! Lesson `backpressure`: a worker pool under overload.
//!
//! # The problem
//!
//! Work arrives faster than the workers can do it. Something has to give:
//! either the service says "not now" at the door (and the caller retries
//! later, elsewhere, or gives up), or the backlog grows until latency, then
//! memory, runs out.
//!
//! # The naive version
//!
//! The textbook pool puts an unbounded channel between intake and workers,
//! and shares its one receiver among the workers through a mutex:
//!
//! ```text
//! let (tx, rx) = mpsc::unbounded_channel();
//! let rx = Arc::new(Mutex::new(rx));
//! // each worker:
//! while let Some(job) = rx.lock().await.recv().await { process(job).await }
//! ```
//!
//! [`naive`] runs it under a steady overload and shows both faults:
//!
//! 1. **The backlog has no bound.** `send` always succeeds, so intake never
//!    learns it is too fast. The queue's high water grows with the length
//!    of the overload (run it twice as long, hold twice as many items), and
//!    so does the time each job waits before anyone looks at it.
//! 2. **The pool waits in single file.** The mutex guard lives to the end
//!    of the statement, so it is held across `recv().await`: only one
//!    worker at a time can even be waiting for a job, while the others wait
//!    for the lock. Every hand-off goes through that one door; on real
//!    cores this caps throughput (see the `evenkeel-backpressure`
//!    benchmark), and here it shows as "at most 1 worker waiting on the
//!    channel".
//!
//! # The evenkeel version
//!
//! [`with_evenkeel`] uses an [`evenkeel_backpressure`] queue with a fixed
//! capacity and [`Overflow::Reject`]:
//!
//! - [`Sender::try_send`](evenkeel_backpressure::Sender::try_send) admits a
//!   job or hands it straight back in [`TrySendError::Full`], so intake can
//!   answer "503, retry later" with the job still in hand;
//! - the queue never holds more than its capacity (its
//!   [`Stats::high_water`](evenkeel_backpressure::Stats) says so), however
//!   long the overload lasts, and queue wait stays bounded too;
//! - nothing is lost silently: every offered job was either processed or
//!   handed back (`offered == processed + handed_back`);
//! - the receiver is MPMC: each worker holds a clone and waits on its own,
//!   so all idle workers wait for jobs at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use evenkeel_backpressure::{Overflow, Queue, TrySendError};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep};

/// The overload both versions face: jobs arrive in a steady stream faster
/// than the workers can take them.
///
/// # Example
///
/// ```
/// use evenkeel_examples::backpressure::Scenario;
///
/// let s = Scenario::default();
/// assert_eq!(s.offered(), 1_000);
/// assert_eq!(s.arrival_rate_per_sec(), 10_000);
/// assert_eq!(s.service_rate_per_sec(), 4_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Worker tasks.
    pub workers: usize,
    /// Time one job takes a worker.
    pub work: Duration,
    /// Jobs arriving at each tick.
    pub per_tick: u64,
    /// Time between ticks.
    pub tick: Duration,
    /// Ticks of arrivals (the length of the overload).
    pub ticks: u64,
    /// Capacity of the bounded queue (the evenkeel version only).
    pub capacity: usize,
}

impl Default for Scenario {
    /// Four workers at 1 ms per job (4,000 jobs/s) facing 10 jobs every
    /// millisecond (10,000 jobs/s) for 100 ms; a queue of 64.
    fn default() -> Self {
        Self {
            workers: 4,
            work: Duration::from_millis(1),
            per_tick: 10,
            tick: Duration::from_millis(1),
            ticks: 100,
            capacity: 64,
        }
    }
}

impl Scenario {
    /// Jobs offered in total.
    pub fn offered(&self) -> u64 {
        self.per_tick * self.ticks
    }

    /// Jobs arriving per second.
    pub fn arrival_rate_per_sec(&self) -> u64 {
        per_sec(self.per_tick, self.tick)
    }

    /// Jobs the pool can finish per second.
    pub fn service_rate_per_sec(&self) -> u64 {
        per_sec(self.workers as u64, self.work)
    }
}

fn per_sec(count: u64, every: Duration) -> u64 {
    let nanos = every.as_nanos().max(1);
    u64::try_from(u128::from(count) * 1_000_000_000 / nanos).unwrap_or(u64::MAX)
}

/// What one run measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Jobs offered at the door.
    pub offered: u64,
    /// Jobs the workers finished.
    pub processed: u64,
    /// Jobs refused at the door and handed back to the caller.
    pub handed_back: u64,
    /// Jobs neither processed nor handed back: lost without a word.
    pub silently_dropped: u64,
    /// The most jobs queued at once (the memory the backlog held).
    pub high_water: usize,
    /// The longest a processed job waited in the queue.
    pub max_queue_wait: Duration,
    /// The most workers waiting on the channel at the same moment.
    pub max_workers_waiting: usize,
    /// Time until the last job was done.
    pub took: Duration,
}

/// Counts how many workers are inside `recv` at once.
#[derive(Debug, Default)]
struct Waiting {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Waiting {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::Relaxed) + 1;
        self.max.fetch_max(now, Ordering::Relaxed);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The textbook pool: an unbounded channel, one receiver behind a mutex.
///
/// Needs a tokio runtime with time enabled; with paused time the numbers
/// are exact and the run is instant.
///
/// # Example
///
/// ```
/// use evenkeel_examples::backpressure::{Scenario, naive};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let outcome = naive(&Scenario::default()).await;
/// assert!(outcome.high_water > 500); // the backlog grew to hundreds of jobs
/// assert_eq!(outcome.max_workers_waiting, 1); // one at a time through the lock
/// # }
/// ```
pub async fn naive(scenario: &Scenario) -> Outcome {
    let start = Instant::now();
    let (tx, rx) = mpsc::unbounded_channel::<Instant>();
    let rx = Arc::new(Mutex::new(rx));
    let queued = Arc::new(AtomicUsize::new(0));
    let processed = Arc::new(AtomicU64::new(0));
    let max_wait = Arc::new(Mutex::new(Duration::ZERO));
    let waiting = Arc::new(Waiting::default());

    let mut workers = JoinSet::new();
    for _ in 0..scenario.workers {
        let (rx, queued, processed) =
            (Arc::clone(&rx), Arc::clone(&queued), Arc::clone(&processed));
        let (max_wait, waiting, work) =
            (Arc::clone(&max_wait), Arc::clone(&waiting), scenario.work);
        workers.spawn(async move {
            loop {
                // The textbook line, unrolled to count who is inside `recv`:
                // the lock is held for the whole wait.
                let mut guard = rx.lock().await;
                waiting.enter();
                let next = guard.recv().await;
                waiting.leave();
                drop(guard);
                let Some(enqueued_at) = next else { break };
                queued.fetch_sub(1, Ordering::Relaxed);
                let waited = enqueued_at.elapsed();
                let mut max = max_wait.lock().await;
                *max = (*max).max(waited);
                drop(max);
                sleep(work).await;
                processed.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    // The pool starts idle, every worker waiting for its first job.
    sleep(scenario.tick).await;
    let mut high_water = 0;
    for _ in 0..scenario.ticks {
        for _ in 0..scenario.per_tick {
            // Never refuses: the door is always open.
            if tx.send(Instant::now()).is_ok() {
                high_water = high_water.max(queued.fetch_add(1, Ordering::Relaxed) + 1);
            }
        }
        sleep(scenario.tick).await;
    }
    drop(tx);
    while workers.join_next().await.is_some() {}

    let processed = processed.load(Ordering::Relaxed);
    let max_queue_wait = *max_wait.lock().await;
    Outcome {
        offered: scenario.offered(),
        processed,
        handed_back: 0,
        silently_dropped: scenario.offered().saturating_sub(processed),
        high_water,
        max_queue_wait,
        max_workers_waiting: waiting.max.load(Ordering::Relaxed),
        took: start.elapsed(),
    }
}

/// The same pool on a bounded `evenkeel-backpressure` queue that rejects
/// when full, with one receiver clone per worker.
///
/// Needs a tokio runtime with time enabled.
///
/// # Example
///
/// ```
/// use evenkeel_examples::backpressure::{Scenario, with_evenkeel};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let s = Scenario::default();
/// let outcome = with_evenkeel(&s).await;
/// assert!(outcome.high_water <= s.capacity);
/// assert_eq!(outcome.processed + outcome.handed_back, outcome.offered);
/// # }
/// ```
pub async fn with_evenkeel(scenario: &Scenario) -> Outcome {
    let start = Instant::now();
    let built = Queue::builder(scenario.capacity)
        .overflow(Overflow::Reject)
        .build();
    let Ok((tx, rx)) = built else {
        // Only capacity 0 is refused; such a queue admits nothing.
        return Outcome {
            offered: scenario.offered(),
            processed: 0,
            handed_back: scenario.offered(),
            silently_dropped: 0,
            high_water: 0,
            max_queue_wait: Duration::ZERO,
            max_workers_waiting: 0,
            took: Duration::ZERO,
        };
    };
    let processed = Arc::new(AtomicU64::new(0));
    let waiting = Arc::new(Waiting::default());

    let mut workers = JoinSet::new();
    for _ in 0..scenario.workers {
        let (rx, processed, waiting) = (rx.clone(), Arc::clone(&processed), Arc::clone(&waiting));
        let work = scenario.work;
        workers.spawn(async move {
            loop {
                // Each worker waits on its own clone: no lock.
                waiting.enter();
                let next = rx.recv().await;
                waiting.leave();
                let Some(_job) = next else { break };
                sleep(work).await;
                processed.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    // The pool starts idle, every worker waiting for its first job.
    sleep(scenario.tick).await;
    let mut handed_back = Vec::new();
    for tick in 0..scenario.ticks {
        for n in 0..scenario.per_tick {
            let job = tick * scenario.per_tick + n;
            match tx.try_send(job) {
                Ok(_) => {}
                // The door says "not now" and gives the job back: a server
                // answers 503 with Retry-After here.
                Err(
                    TrySendError::Full(job)
                    | TrySendError::Closed(job)
                    | TrySendError::TooHeavy(job),
                ) => {
                    handed_back.push(job);
                }
            }
        }
        sleep(scenario.tick).await;
    }
    tx.close(); // intake stops; the workers finish what is queued
    while workers.join_next().await.is_some() {}

    let stats = rx.stats();
    let processed = processed.load(Ordering::Relaxed);
    let handed_back = handed_back.len() as u64;
    Outcome {
        offered: scenario.offered(),
        processed,
        handed_back,
        silently_dropped: scenario.offered().saturating_sub(processed + handed_back),
        high_water: stats.high_water,
        max_queue_wait: stats.wait.max,
        max_workers_waiting: waiting.max.load(Ordering::Relaxed),
        took: start.elapsed(),
    }
}
