//! The values that cross the [`JobStore`](super::JobStore) trait: what goes
//! in (a [`NewJob`], the [`StoreOptions`]) and what comes out (leases,
//! records, counts).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::clock::{Clock, SystemClock};
use crate::server::job::{JobId, JobSpec};

/// Where a job is in its life, as `GET /jobs/{id}` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for a worker: ready now, or delayed until its retry time.
    Queued,
    /// Leased to a worker.
    Running,
    /// Finished successfully (terminal).
    Succeeded,
    /// Dead-lettered: attempts or deadline exhausted, or refused (terminal).
    Dead,
}

impl JobState {
    /// Whether the job still has to run (queued or running).
    pub fn is_live(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

/// A job to enqueue.
#[derive(Clone, Debug, PartialEq)]
pub struct NewJob {
    /// The id to store it under (random by default).
    pub id: JobId,
    /// What to run.
    pub spec: JobSpec,
    /// The client's `Idempotency-Key`, if it sent one.
    pub idempotency_key: Option<String>,
}

impl NewJob {
    /// `spec` under a fresh random id, without an idempotency key.
    ///
    /// ```
    /// use evenkeel_demo::server::JobSpec;
    /// use evenkeel_demo::server::store::NewJob;
    /// let spec = JobSpec { payload: serde_json::json!(null), work_ms: 0, fail_rate: 0.0,
    ///                      downstream: false, panic: false, max_attempts: 1 };
    /// let job = NewJob::new(spec).idempotency_key("order-7");
    /// assert_eq!(job.idempotency_key.as_deref(), Some("order-7"));
    /// ```
    pub fn new(spec: JobSpec) -> Self {
        Self {
            id: JobId::random(),
            spec,
            idempotency_key: None,
        }
    }

    /// Sets the idempotency key.
    #[must_use]
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// What [`enqueue`](super::JobStore::enqueue) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    /// Stored as a new job (the HTTP answer is 202).
    Created(JobId),
    /// The idempotency key belongs to this earlier job; nothing was stored
    /// (the HTTP answer is 200 with that id).
    Existing(JobId),
}

impl Enqueued {
    /// The job's id, new or existing.
    pub fn id(self) -> JobId {
        match self {
            Self::Created(id) | Self::Existing(id) => id,
        }
    }
}

/// A worker's hold on a job: the proof it must show to finish it.
///
/// `fence` is the job's claim count: every claim bumps it, so a lease from
/// an earlier claim no longer matches and its holder gets `LeaseLost`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The job.
    pub id: JobId,
    /// The attempt this claim started (1 for the first run).
    pub attempt: u32,
    /// The claim generation the store checks every call against.
    pub fence: u64,
    /// When the lease runs out, in ms since the Unix epoch.
    pub expires_at_ms: u64,
}

/// A job handed to a worker by [`claim`](super::JobStore::claim).
#[derive(Clone, Debug, PartialEq)]
pub struct Claimed {
    /// The lease to show when finishing it.
    pub lease: Lease,
    /// What to run.
    pub spec: JobSpec,
    /// When it was enqueued, in ms since the Unix epoch (for deadlines).
    pub enqueued_at_ms: u64,
    /// The error of the previous attempt, if one failed.
    pub last_error: Option<String>,
}

/// What [`claim`](super::JobStore::claim) did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Claims {
    /// The jobs leased to the caller, oldest first.
    pub jobs: Vec<Claimed>,
    /// Jobs the claim dead-lettered instead of leasing: claimed
    /// `max_attempts` times before and never finished (poison pills).
    pub dead_lettered: Vec<JobId>,
}

/// What [`nack`](super::JobStore::nack) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nacked {
    /// The job waits until `run_at_ms`, then is ready again.
    Retrying {
        /// When it is ready again, in ms since the Unix epoch.
        run_at_ms: u64,
    },
    /// That was its last attempt: it is dead.
    Dead,
}

/// What [`get`](super::JobStore::get) returns: the outcome, not the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    /// The job.
    pub id: JobId,
    /// Its state.
    pub state: JobState,
    /// Attempts started (claims charged).
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// The last error (a failed attempt, or why it died).
    pub error: Option<String>,
    /// When it was enqueued, in ms since the Unix epoch.
    pub enqueued_at_ms: u64,
    /// For a queued job waiting for its retry: when it is ready again.
    pub run_at_ms: Option<u64>,
    /// For a finished job: when it finished.
    pub finished_at_ms: Option<u64>,
}

/// Counts by state, for `/metrics` and the final accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Waiting and claimable now.
    pub ready: u64,
    /// Waiting for a retry time.
    pub delayed: u64,
    /// Leased to a worker (expired leases included until reclaimed).
    pub leased: u64,
    /// Finished successfully, not yet pruned.
    pub succeeded: u64,
    /// Dead, not yet pruned.
    pub dead: u64,
    /// How long the oldest ready job has been ready, in ms (0 when none).
    pub oldest_ready_age_ms: u64,
}

impl StoreStats {
    /// Jobs still to run: ready, delayed or leased.
    pub fn live(&self) -> u64 {
        self.ready + self.delayed + self.leased
    }
}

/// Settings every backend takes.
///
/// # Defaults
///
/// `capacity` 10 000 waiting jobs, `retention` one hour, `retry_after` one
/// second, `group_commit` on, the system clock.
///
/// ```
/// use std::time::Duration;
/// use evenkeel_demo::server::store::StoreOptions;
/// let options = StoreOptions { capacity: 64, ..StoreOptions::default() };
/// assert_eq!(options.retention, Duration::from_secs(3600));
/// ```
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Most jobs waiting (ready plus delayed); an enqueue beyond it is
    /// refused with `Full`.
    pub capacity: usize,
    /// How long a finished job's outcome is kept before it is pruned.
    pub retention: Duration,
    /// The `Retry-After` hint a `Full` refusal carries.
    pub retry_after: Duration,
    /// Whether concurrent writes share one commit (durable backends; off
    /// means one commit per command, the naive baseline of the benchmark).
    pub group_commit: bool,
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            retention: Duration::from_secs(3600),
            retry_after: Duration::from_secs(1),
            group_commit: true,
            clock: Arc::new(SystemClock),
        }
    }
}
