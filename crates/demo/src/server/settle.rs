//! Telling the store how an attempt went, and counting what it did, as one
//! step: see [`spawn_commit`].

use std::time::Duration;

use super::super::metrics::DeadReason;
use super::super::store::{Lease, Nacked, StoreError};
use super::JobContext;

/// What the store did with an attempt's answer.
#[derive(Debug, Clone, Copy)]
pub(super) enum Answer {
    /// Acked: the job succeeded.
    Succeeded,
    /// Nacked: the job waits for its retry.
    Retrying,
    /// The job is dead, for this reason.
    Dead(DeadReason),
    /// Released at a stop: ready again, its attempt not charged.
    Released,
}

impl Answer {
    /// A `nack`'s outcome: dead (for `reason`, or attempts exhausted) or
    /// retrying.
    fn nacked(nacked: Nacked, reason: DeadReason) -> Self {
        match nacked {
            Nacked::Dead => Self::Dead(reason),
            Nacked::Retrying { .. } => Self::Retrying,
        }
    }
}

/// What to tell the store about a lease.
#[derive(Debug)]
pub(super) enum Record {
    /// The attempt succeeded.
    Ack,
    /// The attempt failed transiently: retry after `delay` (or dead, for
    /// `reason`, if it was the last attempt).
    Nack {
        error: String,
        delay: Duration,
        reason: DeadReason,
    },
    /// No retry can help.
    DeadLetter { error: String, reason: DeadReason },
    /// A stop: hand the job back, not charged.
    Release,
}

/// Tells the store `record` about `lease` and counts what the store did,
/// as **one step that cannot be cancelled halfway**: a task on
/// [`JobContext::settling`], whose handle this returns.
///
/// A store answer is a commit that carries on (a group commit, a blocking
/// write) even when the future that asked for it is dropped. If the count
/// lived in that future, a stop between the commit and the count (the
/// drain deadline or a second signal stopping the worker, the supervisor
/// aborting it after its grace period) would leave a committed outcome
/// uncounted, and the final record would report it lost. So the commit and
/// its count run together in a task on the settling tracker, which the
/// final record waits for; dropping the handle only stops waiting for it.
pub(super) fn spawn_commit(
    ctx: &JobContext,
    lease: Lease,
    claimed: tokio::time::Instant,
    record: Record,
) -> tokio::task::JoinHandle<()> {
    let ctx = ctx.clone();
    ctx.settling.clone().spawn(async move {
        let store = &ctx.store;
        let result = match record {
            Record::Ack => store.ack(lease).await.map(|()| Answer::Succeeded),
            Record::Nack {
                error,
                delay,
                reason,
            } => store
                .nack(lease, error, delay)
                .await
                .map(|n| Answer::nacked(n, reason)),
            Record::DeadLetter { error, reason } => store
                .dead_letter(lease, error)
                .await
                .map(|()| Answer::Dead(reason)),
            Record::Release => store.release(lease).await.map(|()| Answer::Released),
        };
        settled(&ctx, lease, claimed, result);
    })
}

/// Counts a recorded answer (books and metrics) or logs a lost lease.
pub(super) fn settled(
    ctx: &JobContext,
    lease: Lease,
    claimed: tokio::time::Instant,
    result: Result<Answer, StoreError>,
) {
    let took = claimed.elapsed();
    match result {
        Ok(Answer::Succeeded) => {
            ctx.books.succeeded();
            ctx.metrics.ran(took, "succeeded");
        }
        Ok(Answer::Retrying) => ctx.metrics.ran(took, "retrying"),
        Ok(Answer::Released) => ctx.books.released(),
        Ok(Answer::Dead(reason)) => {
            ctx.books.dead(1);
            ctx.metrics.ran(took, "dead");
            ctx.metrics.dead_letter(reason);
        }
        Err(StoreError::LeaseLost { .. }) => {
            tracing::warn!(id = %lease.id, attempt = lease.attempt, "lease lost; the job's newer claim owns its outcome");
        }
        Err(e) if e.is_failure() => {
            // One line per job is useful here (which job will run again),
            // but the episode itself is logged once by the health watcher.
            tracing::warn!(id = %lease.id, error = %e, "could not record the job's outcome; its lease will expire and it will run again");
        }
        Err(e) => {
            tracing::error!(id = %lease.id, error = %e, "could not record the job's outcome; its lease will expire and it will run again");
        }
    }
}
