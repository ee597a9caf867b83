//! Running one attempt of a claimed job, and telling the store how it went.
//!
//! # One attempt per claim
//!
//! A worker claims a job from the store (which bumps and stores its attempt
//! number), runs **one** attempt, and answers the store:
//!
//! - success: `ack` (succeeded);
//! - a transient failure: `nack` with a delay from an exponential backoff
//!   with full jitter (`--retry-initial`, capped at `--retry-max`, or the
//!   downstream's `Retry-After`): the job waits in the store as a delayed
//!   job, no worker sleeps on it, and a crash meanwhile loses nothing. On
//!   its last attempt the store dead-letters it instead;
//! - a failure no retry can fix, or a job past `--job-timeout` since it was
//!   enqueued: `dead_letter`.
//!
//! Each attempt is bounded by `--attempt-timeout` and, while it runs, its
//! lease is extended every third of `--lease` (a heartbeat), so a long job
//! keeps its lease and a dead worker's job comes back soon. If the store
//! says the lease was lost (it expired and another claim took the job),
//! the answer is dropped: the newer claim owns the outcome.
//!
//! # Measured here
//!
//! The queue wait (enqueue to first claim, both on the store's clock), the
//! attempt's duration (claim to the store's answer) by outcome, and each
//! dead letter by reason (`evenkeel_dead_letters_total{reason}`): every
//! place this process dead-letters a job (or the store does, on a `nack` of
//! the last attempt or a claim past `max_attempts`, see `worker`) counts it.
//!
//! # Panics
//!
//! A job with `"panic": true` panics in its first attempt. Nothing here
//! catches that panic: it unwinds out of the worker. On its way out the
//! panic drops the [`Running`] guard, whose `Drop` spawns a `nack` with the
//! panic message (captured by [`install_panic_hook`]), so the job is
//! retried (or dead-lettered on its last attempt) like any failure, and
//! marks the panic as the job's ([`take_job_panic`]). A job's panic costs
//! its worker a restart, done by the worker's own child without a backoff
//! and outside the supervisor's crash-loop budget (see `supervise`); any
//! other panic goes to the supervisor. If even the `nack` is lost, the
//! lease expires and the job runs again.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use evenkeel_retry::{Backoff, Jitter};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::books::Books;
use super::downstream_client::{self, DownstreamClient, DownstreamError};
use super::job::{JobId, JobSpec};
use super::metrics::{DeadReason, InFlight, Metrics};
use super::store::{Claimed, JobStore, Lease};

#[path = "settle.rs"]
mod settle;
use settle::{Record, spawn_commit};

/// The retry and timeout knobs every job shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// First backoff wait.
    pub(crate) initial: Duration,
    /// Cap on a backoff wait.
    pub(crate) max: Duration,
    /// Bound on one attempt.
    pub(crate) attempt_timeout: Duration,
    /// Bound on the whole job, from its enqueue.
    pub(crate) job_timeout: Duration,
    /// The lease a claim takes (and each heartbeat renews).
    pub(crate) lease: Duration,
}

/// What every worker needs to run jobs.
#[derive(Debug, Clone)]
pub(crate) struct JobContext {
    /// The job store.
    pub(crate) store: Arc<dyn JobStore>,
    /// This process's counts.
    pub(crate) books: Arc<Books>,
    /// Metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// The downstream client, if `--downstream` is set.
    pub(crate) downstream: Option<DownstreamClient>,
    /// Retry and timeout knobs.
    pub(crate) policy: RetryPolicy,
    /// The answers being committed to the store and counted in the books
    /// (see [`settle::spawn_commit`]); the final record waits for them.
    pub(crate) settling: TaskTracker,
}

impl JobContext {
    #[cfg(test)]
    /// Waits until every answer handed to the store so far has been
    /// committed (or refused) and counted in the books.
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe: it only waits.
    pub(crate) async fn settled(&self) {
        self.settling.close();
        self.settling.wait().await;
    }
}

/// Why an attempt failed.
#[derive(Debug)]
enum AttemptError {
    /// The simulated transient failure (`fail_rate`).
    Simulated,
    /// The downstream call failed.
    Downstream(DownstreamError),
    /// The job wants the downstream but none is configured.
    NoDownstream,
    /// The attempt ran past `--attempt-timeout`.
    TimedOut(Duration),
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Simulated => f.write_str("simulated transient failure (fail_rate)"),
            Self::Downstream(e) => write!(f, "downstream call failed: {e}"),
            Self::NoDownstream => f.write_str("no --downstream configured"),
            Self::TimedOut(after) => write!(f, "attempt timed out after {} ms", after.as_millis()),
        }
    }
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Set by [`Running`]'s `Drop` when a panic unwound through a job's
    /// attempt and the guard handed the job's answer to the store.
    static JOB_PANICKED: Cell<bool> = const { Cell::new(false) };
}

/// Marks the panic unwinding on this thread as a job's: its job has been
/// answered (see [`Running`]).
pub(crate) fn note_job_panic() {
    JOB_PANICKED.with(|marked| marked.set(true));
}

/// Whether the panic that last unwound on this thread was a job's (see
/// [`note_job_panic`]); clears the mark.
///
/// Read it right after catching the panic, in the same poll: the guard's
/// `Drop` runs during the unwinding, on the thread that panicked, and
/// nothing else runs on that thread in between.
pub(crate) fn take_job_panic() -> bool {
    JOB_PANICKED.with(|marked| marked.replace(false))
}

/// Installs a panic hook that remembers each panic's message on its thread
/// (for [`Running`]'s `Drop`) and then runs the previous hook.
pub(crate) fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic with a non-string payload".to_owned());
        LAST_PANIC.with(|last| *last.borrow_mut() = Some(message));
        previous(info);
    }));
}

/// Looks after a leased job while its attempt runs; see the module docs.
#[derive(Debug)]
struct Running<'a> {
    ctx: &'a JobContext,
    lease: Option<Lease>,
    claimed: tokio::time::Instant,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let Some(lease) = self.lease.take() else {
            return;
        };
        if !std::thread::panicking() {
            // Dropped without a panic: the worker was stopped and releases
            // the job itself.
            return;
        }
        let message = LAST_PANIC
            .with(|last| last.borrow_mut().take())
            .unwrap_or_else(|| "unknown panic".to_owned());
        self.ctx.metrics.panicked();
        let delay = backoff(&self.ctx.policy, lease.attempt);
        // Runs after the unwinding, on the settling tracker (so the final
        // record waits for it); if the runtime is gone, the lease expires
        // and the job runs again.
        let record = Record::Nack {
            error: format!("attempt panicked: {message}"),
            delay,
            reason: DeadReason::Panicked,
        };
        drop(spawn_commit(self.ctx, lease, self.claimed, record));
        note_job_panic();
    }
}

/// The backoff before attempt `attempt + 1`.
fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let n = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
    Backoff::exponential(policy.initial)
        .max_delay(policy.max)
        .jitter(Jitter::Full)
        .nth(n)
        .unwrap_or(policy.max)
}

/// The wait before the next attempt: the downstream's (or the open
/// circuit's) hint when there is one, else the backoff; either way never
/// past `--retry-max` nor past the job's deadline (`left`): a `Retry-After`
/// of a billion seconds or a date in year 9999 must not park a job for the
/// parser's hour-long cap when its own deadline is seconds away.
pub(crate) fn retry_delay(
    policy: &RetryPolicy,
    hint: Option<Duration>,
    attempt: u32,
    left: Duration,
) -> Duration {
    hint.map_or_else(|| backoff(policy, attempt), |h| h.min(policy.max))
        .min(left)
}

/// An attempt's answer on its way to the store (see [`settle::spawn_commit`]).
///
/// The answer is committed and counted whether or not this is awaited;
/// [`Settling::wait`] only waits until it has been. A worker waits for it
/// together with its next claim, so the two usually share one commit.
#[derive(Debug)]
#[must_use = "the answer is committed anyway; wait for it before relying on the store having it"]
pub(crate) struct Settling(tokio::task::JoinHandle<()>);

impl Settling {
    /// Waits until the store has the answer and the books count it (or the
    /// store refused it, which is logged).
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe: it only waits.
    pub(crate) async fn wait(self) {
        // A settle task does not panic; if the runtime is shutting down
        // and it was cancelled, there is nothing left to wait for.
        let _ = self.0.await;
    }
}

/// Runs one attempt of `job` and hands the outcome to the store; if
/// `stop` is cancelled before the attempt ends, releases the job instead
/// (not charged). Either way the store's answer is counted in the books in
/// the same uncancellable step as its commit (see [`settle::spawn_commit`]),
/// which goes on after this returns: the returned [`Settling`] waits for
/// it. An attempt that panics is nacked by [`Running`]'s `Drop` (see the
/// module docs).
///
/// # Cancellation safety
///
/// Dropping the future while the attempt runs leaves the job leased until
/// its lease expires (then it runs again): use `stop` to release it. Once
/// it has returned, the answer is committed and counted.
pub(crate) async fn run(ctx: &JobContext, job: Claimed, stop: &CancellationToken) -> Settling {
    let lease = job.lease;
    let claimed = tokio::time::Instant::now();
    if lease.attempt > 1 {
        ctx.books.retried();
    }
    let now = ctx.store.clock().now_ms();
    if lease.attempt == 1 {
        let waited = now.saturating_sub(job.enqueued_at_ms);
        ctx.metrics.queue_waited(Duration::from_millis(waited));
    }
    let deadline = job
        .enqueued_at_ms
        .saturating_add(super::store::clock_millis(ctx.policy.job_timeout));
    if now >= deadline {
        let error = format!(
            "deadline exceeded: not finished within {} ms of its enqueue{}",
            ctx.policy.job_timeout.as_millis(),
            job.last_error
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        );
        let reason = DeadReason::Deadline;
        return Settling(spawn_commit(
            ctx,
            lease,
            claimed,
            Record::DeadLetter { error, reason },
        ));
    }
    let mut running = Running {
        ctx,
        lease: Some(lease),
        claimed,
    };
    let budget = ctx
        .policy
        .attempt_timeout
        .min(Duration::from_millis(deadline - now));
    let work = heartbeat(ctx, lease, attempt(ctx, lease, Arc::new(job.spec), budget));
    let outcome = tokio::select! {
        biased;
        () = stop.cancelled() => None,
        outcome = work => Some(outcome),
    };
    running.lease = None;
    let record = match outcome {
        None => Record::Release,
        Some(Ok(())) => Record::Ack,
        Some(Err(e)) if permanent(&e) => Record::DeadLetter {
            error: format!("{e} (not retryable)"),
            reason: DeadReason::Permanent,
        },
        Some(Err(e)) => {
            let hint = match &e {
                AttemptError::Downstream(d) => downstream_client::retry_after(d),
                _ => None,
            };
            let left = Duration::from_millis(deadline.saturating_sub(ctx.store.clock().now_ms()));
            Record::Nack {
                delay: retry_delay(&ctx.policy, hint, lease.attempt, left),
                error: format!("attempt {} failed: {e}", lease.attempt),
                reason: DeadReason::AttemptsExhausted,
            }
        }
    };
    Settling(spawn_commit(ctx, lease, claimed, record))
}

fn permanent(e: &AttemptError) -> bool {
    match e {
        AttemptError::NoDownstream => true,
        AttemptError::Downstream(d) => !downstream_client::is_retryable(d),
        AttemptError::Simulated | AttemptError::TimedOut(_) => false,
    }
}

/// Runs `work`, extending the lease every third of it meanwhile.
async fn heartbeat<T>(ctx: &JobContext, mut lease: Lease, work: impl Future<Output = T>) -> T {
    let every = (ctx.policy.lease / 3).max(Duration::from_millis(10));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tick.tick() => match ctx.store.extend(lease, ctx.policy.lease).await {
                Ok(extended) => lease = extended,
                // Lost or failing: keep working; the answer will tell.
                Err(e) => tracing::warn!(id = %lease.id, error = %e, "could not extend the lease"),
            },
        }
    }
}

async fn attempt(
    ctx: &JobContext,
    lease: Lease,
    spec: Arc<JobSpec>,
    budget: Duration,
) -> Result<(), AttemptError> {
    let id: JobId = lease.id;
    let _in_flight = InFlight::enter(ctx.metrics.in_flight());
    assert!(
        !(spec.panic && lease.attempt == 1),
        "job {id} asked to panic in its first attempt"
    );
    let work = async {
        if spec.work_ms > 0 {
            tokio::time::sleep(Duration::from_millis(spec.work_ms)).await;
        }
        if spec.fail_rate > 0.0 && rand::random::<f64>() < spec.fail_rate {
            return Err(AttemptError::Simulated);
        }
        if spec.downstream {
            let client = ctx.downstream.as_ref().ok_or(AttemptError::NoDownstream)?;
            client
                .call(id, &spec.payload)
                .await
                .map_err(AttemptError::Downstream)?;
        }
        Ok(())
    };
    tokio::time::timeout(budget, work)
        .await
        .unwrap_or(Err(AttemptError::TimedOut(budget)))
}
