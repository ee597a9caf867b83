//! Admission: the moment a job becomes the server's responsibility.
//!
//! A `POST /jobs` that passed validation is admitted here, or refused with a
//! 503 that tells the client when to come back. The 202 is given only once
//! the job store has the job durably ([`JobStore::enqueue`] returns after
//! its commit); and the store decides admission in that same step, by its
//! count of waiting jobs against `--queue-capacity`, so two requests can
//! never both take the last place.
//!
//! Before that, admission takes a **drain guard** from the shutdown
//! coordinator ([`evenkeel_shutdown::Shutdown::guard`]). It is refused,
//! atomically, from the moment the drain begins, which is when intake must
//! stop: a refused guard is a `503 draining`. The guard is held only while
//! the enqueue commits, so the drain waits for an admission in progress.
//!
//! The `--overflow` policies: `reject` and `drop-newest` refuse at once
//! when the store is full; `wait` tries again until `--admit-wait` has
//! passed.

use std::sync::Arc;
use std::time::Duration;

use evenkeel_shutdown::Shutdown;

use super::books::Books;
use super::config::OverflowPolicy;
use super::error::ApiError;
use super::job::JobSpec;
use super::store::{Enqueued, JobStore, NewJob, StoreError};

/// The least `Retry-After` of a `503 store_unavailable`: the store tries
/// the disk again sooner, but a client coming back at once would mostly
/// find it still failing.
const STORE_RETRY_AFTER: Duration = Duration::from_secs(2);
/// How often `--overflow wait` looks for room again.
const WAIT_POLL: Duration = Duration::from_millis(5);

/// The admission side of the store.
#[derive(Debug, Clone)]
pub(crate) struct Intake {
    store: Arc<dyn JobStore>,
    books: Arc<Books>,
    policy: OverflowPolicy,
    admit_wait: Duration,
    shutdown: Shutdown,
}

impl Intake {
    /// Admission into `store`, refusing once `shutdown` drains.
    pub(crate) fn new(
        store: Arc<dyn JobStore>,
        books: Arc<Books>,
        policy: OverflowPolicy,
        admit_wait: Duration,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            store,
            books,
            policy,
            admit_wait,
            shutdown,
        }
    }

    /// Admits `spec` (under `key`, if the client sent an idempotency key),
    /// or says why not.
    ///
    /// # Errors
    ///
    /// [`ApiError::draining`] once the drain has begun;
    /// [`ApiError::queue_full`] (with the store's retry-after) when the
    /// store is full; a 503 `store_unavailable` when the store failed.
    ///
    /// # Cancellation safety
    ///
    /// Not fully: a request dropped while its enqueue commits may still
    /// store the job (the client saw no 202; the job runs anyway, which is
    /// the at-least-once side of the contract). Nothing is lost.
    pub(crate) async fn admit(
        &self,
        spec: JobSpec,
        key: Option<String>,
    ) -> Result<Enqueued, ApiError> {
        let _guard = self.shutdown.guard().map_err(|_| ApiError::draining())?;
        let job = NewJob {
            idempotency_key: key,
            ..NewJob::new(spec)
        };
        let give_up = tokio::time::Instant::now() + self.admit_wait;
        loop {
            match self.store.enqueue(job.clone()).await {
                Ok(enqueued) => {
                    if let Enqueued::Created(_) = enqueued {
                        self.books.accepted();
                    }
                    return Ok(enqueued);
                }
                Err(StoreError::Full { retry_after }) => {
                    let wait = self.policy == OverflowPolicy::Wait
                        && tokio::time::Instant::now() + WAIT_POLL < give_up;
                    if !wait {
                        return Err(ApiError::queue_full().retry_after(retry_after));
                    }
                    tokio::time::sleep(WAIT_POLL).await;
                }
                Err(e) => {
                    // Logged once per failure episode by the store's
                    // health watch, not once per refused request.
                    tracing::debug!(error = %e, "the job store refused an enqueue");
                    let after = match &e {
                        StoreError::Unavailable { retry_after, .. } => {
                            (*retry_after).max(STORE_RETRY_AFTER)
                        }
                        _ => STORE_RETRY_AFTER,
                    };
                    return Err(ApiError::store_unavailable(e).retry_after(after));
                }
            }
        }
    }
}
