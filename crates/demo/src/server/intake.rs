//! Admission: the moment a job becomes the server's responsibility.
//!
//! A `POST /jobs` that passed validation is admitted here, or refused with a
//! 503 that tells the client to come back. Admission takes two things, in
//! this order, and gives the 202 only when it has both:
//!
//! 1. a **drain guard** from the shutdown coordinator
//!    ([`evenkeel_shutdown::Shutdown::guard`]). It is refused, atomically,
//!    from the moment the drain begins, which is exactly when intake must
//!    stop: a refused guard is a `503 draining`. The guard then travels with
//!    the job (inside its [`Ticket`]) until the job is finished, so the drain
//!    waits for every accepted job and for nothing else;
//! 2. a **slot in the bounded queue** (`evenkeel_backpressure`). With the
//!    `reject` and `drop-newest` policies the slot is reserved with
//!    `try_reserve` *before* the job record exists, so a full queue is a
//!    `503 queue_full` with nothing to undo. `wait` reserves with a bounded
//!    wait. `drop-oldest` always admits: the evicted ticket comes back out
//!    of `try_send`, and that older job is finished as `dead` ("shed"),
//!    keeping the books balanced.
//!
//! The job record is written before the ticket enters the queue, so a
//! worker can never dequeue a job the store does not know.

use std::sync::Arc;
use std::time::Duration;

use evenkeel_backpressure::{Overflow, Receiver, Sender, TrySendError};
use evenkeel_shutdown::{DrainGuard, Shutdown};

use super::config::OverflowPolicy;
use super::error::ApiError;
use super::job::{JobId, JobSpec};
use super::metrics::{DeadReason, Metrics, QueueSnapshot};
use super::store::JobStore;

/// What travels through the queue: the job id, and the drain guard that
/// keeps the drain open until the job is finished.
#[derive(Debug)]
pub(crate) struct Ticket {
    /// The job.
    pub(crate) id: JobId,
    /// When it entered the queue (or the backlog), for the queue-wait
    /// histogram.
    pub(crate) enqueued: tokio::time::Instant,
    /// Released when the job is finished (or its worker is stopped).
    #[expect(dead_code, reason = "held, never read: dropping it releases the drain")]
    pub(crate) guard: Option<DrainGuard>,
}

/// The admission side of the queue.
#[derive(Debug, Clone)]
pub(crate) struct Intake {
    tx: Sender<Ticket>,
    policy: OverflowPolicy,
    admit_wait: Duration,
    shutdown: Shutdown,
    store: JobStore,
    metrics: Arc<Metrics>,
}

/// Builds the bounded queue for `policy`.
///
/// # Errors
///
/// The queue's own error for an unusable capacity.
pub(crate) fn queue(
    capacity: usize,
    policy: OverflowPolicy,
) -> Result<(Sender<Ticket>, Receiver<Ticket>), evenkeel_backpressure::Error> {
    let overflow = match policy {
        OverflowPolicy::Reject => Overflow::Reject,
        OverflowPolicy::DropNewest => Overflow::DropNewest,
        OverflowPolicy::DropOldest => Overflow::DropOldest,
        OverflowPolicy::Wait => Overflow::Wait,
    };
    evenkeel_backpressure::Queue::builder(capacity)
        .overflow(overflow)
        .build()
}

impl Intake {
    /// Admission over `tx`, refusing once `shutdown` drains.
    pub(crate) fn new(
        tx: Sender<Ticket>,
        policy: OverflowPolicy,
        admit_wait: Duration,
        shutdown: Shutdown,
        store: JobStore,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            tx,
            policy,
            admit_wait,
            shutdown,
            store,
            metrics,
        }
    }

    /// Admits `spec` under a fresh id, or says why not.
    ///
    /// # Errors
    ///
    /// [`ApiError::draining`] once the drain has begun (or the queue is
    /// closed); [`ApiError::queue_full`] when there is no room.
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe: the only wait (`--overflow wait`) is a reservation,
    /// which owns no job; a dropped future leaves nothing behind.
    pub(crate) async fn admit(&self, spec: JobSpec) -> Result<JobId, ApiError> {
        let guard = self.shutdown.guard().map_err(|_| ApiError::draining())?;
        let id = JobId::random();
        let ticket = Ticket {
            id,
            enqueued: tokio::time::Instant::now(),
            guard: Some(guard),
        };
        let permit = match self.policy {
            OverflowPolicy::Reject | OverflowPolicy::DropNewest => {
                self.tx.try_reserve().map_err(|e| match e {
                    TrySendError::Full(()) | TrySendError::TooHeavy(()) => ApiError::queue_full(),
                    TrySendError::Closed(()) => ApiError::draining(),
                })?
            }
            OverflowPolicy::Wait => {
                match tokio::time::timeout(self.admit_wait, self.tx.reserve()).await {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_closed)) => return Err(ApiError::draining()),
                    Err(_elapsed) => return Err(ApiError::queue_full()),
                }
            }
            OverflowPolicy::DropOldest => return self.admit_evicting(ticket, spec),
        };
        self.store.insert(id, spec);
        if let Err(e) = permit.send(ticket) {
            // The queue closed between the reservation and the send: the job
            // never entered it. Finish it here so it is not left live.
            drop(e.into_inner());
            self.store.withdraw(id);
            return Err(ApiError::draining());
        }
        Ok(id)
    }

    fn admit_evicting(&self, ticket: Ticket, spec: JobSpec) -> Result<JobId, ApiError> {
        let id = ticket.id;
        if self.tx.is_closed() {
            return Err(ApiError::draining());
        }
        self.store.insert(id, spec);
        match self.tx.try_send(ticket) {
            Ok(None) => Ok(id),
            Ok(Some(evicted)) => {
                if self.store.kill(
                    evicted.id,
                    "shed: evicted from the full queue by a newer job (--overflow drop-oldest)"
                        .into(),
                ) {
                    self.metrics.dead_letter(DeadReason::Shed);
                }
                Ok(id)
            }
            Err(e) => {
                let draining = matches!(e, TrySendError::Closed(_));
                drop(e.into_inner());
                self.store.withdraw(id);
                Err(if draining {
                    ApiError::draining()
                } else {
                    ApiError::queue_full()
                })
            }
        }
    }

    /// Stops intake: later admissions get 503; queued tickets stay for the
    /// workers.
    pub(crate) fn close(&self) {
        self.tx.close();
    }

    /// The queue's numbers, for the metrics.
    pub(crate) fn snapshot(&self) -> QueueSnapshot {
        let stats = self.tx.stats();
        QueueSnapshot {
            depth: stats.len as u64,
            capacity: stats.capacity as u64,
            high_water: stats.high_water as u64,
            backlog: 0,
        }
    }
}
