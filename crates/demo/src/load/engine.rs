//! The generator itself: open-loop by rate, or closed-loop by concurrency.
//!
//! * **Rate** (`Mode::Rate`): a ticker starts one job every `1/rate`
//!   seconds whether or not earlier jobs have been answered, the way
//!   independent users arrive. When an answer carries `Retry-After`, the
//!   whole generator pauses until the (jittered) hint has passed: one client
//!   process honouring the server's request, not each job on its own.
//! * **Concurrency** (`Mode::Concurrency(n)`): `n` tasks each submit a job,
//!   wait for its answer, and go again; after a rejection a task waits its own
//!   backoff.
//!
//! A rejected job (`503`, `429`, or no answer at all) is retried up to
//! `max_retries` times after a [`BackoffPolicy`] wait. When the duration is
//! up, or `stop` fires, no new job or retry starts, but requests already on
//! the wire are awaited: abandoning one could hide a `202` and with it the id
//! of a job the server accepted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::client::{Attempt, HttpClient, http_client, post_job};
use super::progress::Progress;
use super::stats::Collector;
use super::{BackoffPolicy, JobMix, ProgressMode, Summary};

/// Open loop (jobs per second) or closed loop (jobs in flight).
///
/// # Example
///
/// ```
/// use evenkeel_demo::load::Mode;
///
/// let mode = Mode::Rate(50.0);
/// assert_ne!(mode, Mode::Concurrency(8));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Start this many jobs per second.
    Rate(f64),
    /// Keep this many jobs in flight.
    Concurrency(usize),
}

/// Everything a load run needs.
///
/// # Defaults
///
/// [`LoadConfig::new`] sets: `Mode::Concurrency(8)`, `duration` 10 s, no
/// job cap, [`JobMix::default`], `max_retries` 3,
/// [`BackoffPolicy::default`], `timeout` 5 s, `seed` 1,
/// [`ProgressMode::Auto`], label `"load"`, no `on_accept`.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use evenkeel_demo::load::{LoadConfig, Mode};
///
/// let mut config = LoadConfig::new("http://127.0.0.1:8080");
/// config.mode = Mode::Rate(20.0);
/// config.duration = Duration::from_secs(3);
/// assert_eq!(config.max_retries, 3);
/// ```
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Base URL of the job server, without a trailing slash.
    pub target: String,
    /// Rate or concurrency.
    pub mode: Mode,
    /// How long to keep starting jobs.
    pub duration: Duration,
    /// Stop after this many jobs, if set.
    pub max_jobs: Option<u64>,
    /// What the jobs ask for.
    pub mix: JobMix,
    /// Retries of a rejected job (0: never retry).
    pub max_retries: u32,
    /// Waits between a rejection and the retry.
    pub backoff: BackoffPolicy,
    /// Bound on one HTTP attempt.
    pub timeout: Duration,
    /// Seed of every random draw.
    pub seed: u64,
    /// How to show progress.
    pub progress: ProgressMode,
    /// Name shown in progress output and in the job payloads.
    pub label: String,
    /// If set, receives each accepted id as its 202 arrives (the story
    /// watches those jobs while the run is still going).
    pub on_accept: Option<tokio::sync::mpsc::UnboundedSender<String>>,
}

impl LoadConfig {
    /// A configuration aimed at `target` with the defaults above.
    ///
    /// # Example
    ///
    /// See [`LoadConfig`].
    pub fn new(target: impl Into<String>) -> Self {
        Self {
            target: target.into().trim_end_matches('/').to_owned(),
            mode: Mode::Concurrency(8),
            duration: Duration::from_secs(10),
            max_jobs: None,
            mix: JobMix::default(),
            max_retries: 3,
            backoff: BackoffPolicy::default(),
            timeout: Duration::from_secs(5),
            seed: 1,
            progress: ProgressMode::Auto,
            label: "load".to_owned(),
            on_accept: None,
        }
    }
}

/// The outcome of [`run`].
///
/// # Example
///
/// ```
/// use evenkeel_demo::load::LoadReport;
///
/// let report = LoadReport::default();
/// assert!(report.accepted_ids.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadReport {
    /// Counts and latencies.
    pub summary: Summary,
    /// Ids of the accepted jobs, in the order their 202s arrived.
    pub accepted_ids: Vec<String>,
}

/// State shared by the tasks of one run.
#[derive(Debug)]
struct Shared {
    config: LoadConfig,
    client: HttpClient,
    collector: Arc<Collector>,
    /// No new job or retry starts once this is cancelled.
    stop_new: CancellationToken,
    next_seq: AtomicU64,
    /// Rate mode: the ticker waits until this instant (Retry-After honoured).
    paused_until: Mutex<Option<Instant>>,
}

impl Shared {
    /// Claims the next job number, or `None` when the cap is reached.
    fn claim(&self) -> Option<u64> {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        match self.config.max_jobs {
            Some(max) if seq >= max => None,
            _ => Some(seq),
        }
    }

    fn pause_until(&self, until: Instant) {
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *paused = Some(paused.map_or(until, |p| p.max(until)));
    }

    fn paused_until(&self) -> Option<Instant> {
        *self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs the load described by `config` until its duration is up, its job
/// cap is reached, or `stop` is cancelled; then waits for requests in flight
/// and returns what happened.
///
/// # Cancellation safety
///
/// Prefer cancelling `stop` to dropping the future: dropping aborts requests
/// in flight, and the ids of jobs they got accepted are then never known.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use evenkeel_demo::load::{self, LoadConfig, ProgressMode};
/// use tokio_util::sync::CancellationToken;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// // Nothing listens on port 9 of loopback: every attempt is a transport error.
/// let mut config = LoadConfig::new("http://127.0.0.1:9");
/// config.max_jobs = Some(2);
/// config.max_retries = 0;
/// config.progress = ProgressMode::Off;
/// let report = load::run(config, CancellationToken::new()).await;
/// assert_eq!(report.summary.transport_errors, 2);
/// assert_eq!(report.summary.accepted, 0);
/// # });
/// ```
pub async fn run(config: LoadConfig, stop: CancellationToken) -> LoadReport {
    let collector = Arc::new(Collector::default());
    let progress = Progress::start(
        config.progress,
        config.label.clone(),
        config.duration,
        Arc::clone(&collector),
    );
    let started = Instant::now();
    let shared = Arc::new(Shared {
        stop_new: stop.child_token(),
        client: http_client(),
        collector: Arc::clone(&collector),
        next_seq: AtomicU64::new(0),
        paused_until: Mutex::new(None),
        config,
    });
    let deadline = {
        let stop_new = shared.stop_new.clone();
        let at = started + shared.config.duration;
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep_until(at) => stop_new.cancel(),
                () = stop_new.cancelled() => {}
            }
        })
    };
    let mut tasks = JoinSet::new();
    match shared.config.mode {
        Mode::Concurrency(n) => {
            for _ in 0..n.max(1) {
                tasks.spawn(closed_loop(Arc::clone(&shared)));
            }
        }
        Mode::Rate(rate) => open_loop(&shared, rate, &mut tasks).await,
    }
    // Every task ends soon after stop_new: no new work starts, and requests
    // on the wire are bounded by the timeout. A panicked task has already
    // lost its sample; the others are still worth reporting.
    while tasks.join_next().await.is_some() {}
    shared.stop_new.cancel();
    let _ = deadline.await;
    progress.finish().await;
    let (summary, accepted_ids) = collector.finish(started.elapsed());
    LoadReport {
        summary,
        accepted_ids,
    }
}

/// Rate mode: start one job per tick, pausing while a `Retry-After` holds.
async fn open_loop(shared: &Arc<Shared>, rate: f64, tasks: &mut JoinSet<()>) {
    let period = Duration::try_from_secs_f64(1.0 / rate.max(0.001)).unwrap_or(Duration::MAX);
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shared.stop_new.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if let Some(until) = shared.paused_until().filter(|u| *u > Instant::now()) {
            tokio::select! {
                () = shared.stop_new.cancelled() => return,
                () = tokio::time::sleep_until(until) => {}
            }
            ticker.reset();
        }
        let Some(seq) = shared.claim() else { return };
        tasks.spawn(submit(Arc::clone(shared), seq, true));
        // Reap finished tasks so a long run does not keep every handle.
        while tasks.try_join_next().is_some() {}
    }
}

/// Concurrency mode: one job at a time, back to back.
async fn closed_loop(shared: Arc<Shared>) {
    while !shared.stop_new.is_cancelled() {
        let Some(seq) = shared.claim() else { return };
        submit(Arc::clone(&shared), seq, false).await;
    }
}

/// Submits job `seq` until it is accepted, rejected for good, or out of
/// retries. In rate mode (`global_pause`) a backoff also pauses the ticker.
async fn submit(shared: Arc<Shared>, seq: u64, global_pause: bool) {
    let config = &shared.config;
    let collector = &shared.collector;
    // Per-job seed: the same seed replays the same mix and jitter per job,
    // whatever order the tasks run in.
    let mut rng = StdRng::seed_from_u64(config.seed ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let body = config.mix.body(seq, &config.label, &mut rng);
    let mut schedule = config.backoff.schedule(config.max_retries, rng.random());
    collector.jobs.fetch_add(1, Ordering::Relaxed);
    loop {
        let hint =
            match post_job(&shared.client, &config.target, body.clone(), config.timeout).await {
                Attempt::Answered {
                    status,
                    latency,
                    id: Some(id),
                    ..
                } => {
                    if let Some(tx) = &config.on_accept {
                        // A listener that went away only misses a live update;
                        // the id is in the final report regardless.
                        let _ = tx.send(id.clone());
                    }
                    collector.answered(status, latency, Some(id));
                    return;
                }
                Attempt::Answered {
                    status,
                    latency,
                    retry_after,
                    id: None,
                } => {
                    collector.answered(status, latency, None);
                    if status != 503 && status != 429 {
                        // 4xx/5xx other than overload: retrying will not help.
                        collector.gave_up.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    retry_after
                }
                Attempt::Failed => {
                    collector.transport_error();
                    None
                }
            };
        let wait = if shared.stop_new.is_cancelled() {
            None
        } else {
            config.backoff.wait(&mut schedule, hint)
        };
        let Some(wait) = wait else {
            collector.gave_up.fetch_add(1, Ordering::Relaxed);
            return;
        };
        collector.backoffs.fetch_add(1, Ordering::Relaxed);
        if global_pause {
            shared.pause_until(Instant::now() + wait);
        }
        tokio::select! {
            () = shared.stop_new.cancelled() => {
                collector.gave_up.fetch_add(1, Ordering::Relaxed);
                return;
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
}
