//! Running one job: attempts, timeouts, retries with backoff, and what a
//! panic does.
//!
//! # Attempts and retries
//!
//! A job is a loop of attempts driven by [`evenkeel_retry::retry`]: each
//! attempt is bounded by `--attempt-timeout`, the whole loop by
//! `--job-timeout`, and the waits between attempts follow an exponential
//! backoff with full jitter (so that jobs failing together do not retry
//! together), capped at `--retry-max`. An attempt simulates `work_ms` of
//! work, fails with probability `fail_rate`, and, for a `downstream` job,
//! calls the downstream service through the client-side middleware stack.
//! When the attempts or the deadline run out the job is finished as `dead`
//! with its last error.
//!
//! # Panics
//!
//! A job with `"panic": true` panics in its first attempt. Nothing here
//! catches that panic: it unwinds out of the worker, whose supervisor
//! restarts it. On its way out the panic drops the [`Running`] guard, and
//! that `Drop` is where the job is looked after: if attempts remain, the job
//! goes back to the priority backlog, its drain guard with it, so the drain
//! still waits for it; otherwise it is finished as `dead` with the panic
//! message. The message is captured by a panic hook ([`install_panic_hook`])
//! that stores it in a thread-local just before unwinding starts on the
//! same thread.
//!
//! A `Running` guard dropped *without* a panic (the worker was stopped at
//! the drain deadline) does nothing: the job is still live in the store and
//! the spill picks it up.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evenkeel_retry::{Backoff, Decision, Jitter, RetryError, retry};
use tokio::sync::Notify;

use super::downstream_client::{self, DownstreamClient, DownstreamError};
use super::intake::Ticket;
use super::job::{JobId, JobSpec};
use super::metrics::{DeadReason, InFlight, Metrics};
use super::store::JobStore;

/// The retry and timeout knobs every job shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// First backoff wait.
    pub(crate) initial: Duration,
    /// Cap on a backoff wait.
    pub(crate) max: Duration,
    /// Bound on one attempt.
    pub(crate) attempt_timeout: Duration,
    /// Bound on the whole job.
    pub(crate) job_timeout: Duration,
}

/// Jobs that go ahead of the queue: restored from the spill file, or
/// re-queued after a panic. A queue would bound them, but these were
/// already accepted and must not be refused.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    jobs: Mutex<VecDeque<Ticket>>,
    notify: Notify,
}

impl Backlog {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Ticket>> {
        // Push and pop cannot leave the deque inconsistent: take a poisoned
        // lock as it is.
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a ticket at the back and wakes a worker.
    pub(crate) fn push(&self, ticket: Ticket) {
        self.lock().push_back(ticket);
        self.notify.notify_one();
    }

    /// Takes the oldest ticket.
    pub(crate) fn pop(&self) -> Option<Ticket> {
        self.lock().pop_front()
    }

    /// Tickets waiting.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none wait.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves after a [`push`](Self::push) (or at once if one happened
    /// since the last wait).
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe; a stored wake-up is consumed only when this resolves.
    pub(crate) async fn pushed(&self) {
        self.notify.notified().await;
    }
}

/// What every worker needs to run jobs.
#[derive(Debug, Clone)]
pub(crate) struct JobContext {
    /// Job records.
    pub(crate) store: JobStore,
    /// Metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// Priority backlog.
    pub(crate) backlog: Arc<Backlog>,
    /// The downstream client, if `--downstream` is set.
    pub(crate) downstream: Option<DownstreamClient>,
    /// Retry and timeout knobs.
    pub(crate) policy: RetryPolicy,
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
    /// The job stopped being live (spilled at the deadline): stop.
    Gone,
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Simulated => f.write_str("simulated transient failure (fail_rate)"),
            Self::Downstream(e) => write!(f, "downstream call failed: {e}"),
            Self::NoDownstream => f.write_str("no --downstream configured"),
            Self::Gone => f.write_str("job is no longer live"),
        }
    }
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
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

/// Looks after a job while a worker runs it; see the module docs.
#[derive(Debug)]
struct Running<'a> {
    ctx: &'a JobContext,
    ticket: Option<Ticket>,
    max_attempts: u32,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        if !std::thread::panicking() {
            return;
        }
        let message = LAST_PANIC
            .with(|last| last.borrow_mut().take())
            .unwrap_or_else(|| "unknown panic".to_owned());
        let error = format!("attempt panicked: {message}");
        self.ctx.metrics.panicked();
        let attempts = self.ctx.store.get(ticket.id).map_or(0, |v| v.attempts);
        if attempts >= self.max_attempts {
            if self.ctx.store.kill(ticket.id, error) {
                self.ctx.metrics.dead_letter(DeadReason::Panicked);
            }
        } else if self.ctx.store.requeue(ticket.id, error) {
            let mut ticket = ticket;
            ticket.enqueued = tokio::time::Instant::now();
            self.ctx.backlog.push(ticket);
        }
    }
}

/// Runs the job in `ticket` to its end (succeeded or dead), unless the
/// future is dropped first (worker stopped: the job stays live for the
/// spill) or the job panics (see the module docs).
pub(crate) async fn run(ctx: &JobContext, ticket: Ticket) {
    let id = ticket.id;
    let Some((spec, attempts_before)) = ctx.store.claim(id) else {
        return; // not live any more (spilled): the ticket's guard is released
    };
    let claimed = tokio::time::Instant::now();
    ctx.metrics
        .queue_waited(claimed.duration_since(ticket.enqueued));
    let mut running = Running {
        ctx,
        ticket: Some(ticket),
        max_attempts: spec.max_attempts,
    };
    let remaining = spec.max_attempts.saturating_sub(attempts_before).max(1);
    let backoff = Backoff::exponential(ctx.policy.initial)
        .max_delay(ctx.policy.max)
        .jitter(Jitter::Full)
        .max_attempts(remaining);
    let result = retry(backoff, || attempt(ctx, id, Arc::clone(&spec)))
        .classify(|e: &AttemptError| match e {
            AttemptError::Gone | AttemptError::NoDownstream => Decision::Stop,
            AttemptError::Downstream(e) if !downstream_client::is_retryable(e) => Decision::Stop,
            AttemptError::Downstream(e) => {
                downstream_client::retry_after(e).map_or(Decision::Retry, Decision::RetryAfter)
            }
            AttemptError::Simulated => Decision::Retry,
        })
        .notify(|e: &AttemptError, _attempt, delay| {
            ctx.store
                .attempt_failed(id, format!("{e} (retrying in {} ms)", delay.as_millis()));
        })
        .attempt_timeout(ctx.policy.attempt_timeout)
        .deadline(ctx.policy.job_timeout)
        .await;
    match result {
        Ok(()) => {
            if ctx.store.succeed(id) {
                ctx.metrics.ran(claimed.elapsed(), true);
            }
        }
        Err(RetryError::Stopped {
            last: AttemptError::Gone,
            ..
        }) => {}
        Err(e) => {
            let last = e
                .last()
                .map_or_else(|| "attempt timed out".to_owned(), ToString::to_string);
            let reason = match &e {
                RetryError::Exhausted { .. } => DeadReason::AttemptsExhausted,
                RetryError::TimedOut { .. } => DeadReason::Deadline,
                _ => DeadReason::Permanent,
            };
            if ctx.store.kill(id, format!("{e}: {last}")) {
                ctx.metrics.ran(claimed.elapsed(), false);
                ctx.metrics.dead_letter(reason);
            }
        }
    }
    // Finished normally: release the drain guard.
    drop(running.ticket.take());
}

async fn attempt(ctx: &JobContext, id: JobId, spec: Arc<JobSpec>) -> Result<(), AttemptError> {
    let n = ctx.store.begin_attempt(id).ok_or(AttemptError::Gone)?;
    let _in_flight = InFlight::enter(ctx.metrics.in_flight());
    assert!(
        !(spec.panic && n == 1),
        "job {id} asked to panic in its first attempt"
    );
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
}
