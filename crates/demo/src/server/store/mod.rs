//! The job store: where an accepted job lives until it is finished, behind
//! one trait, [`JobStore`], that the HTTP layer and the workers speak to.
//!
//! # The contract
//!
//! A `202 Accepted` is a promise, and the store is what keeps it:
//! [`JobStore::enqueue`] returns only once the job is durable (for the
//! durable backends: committed with an fsync), so a crash one instant after
//! the 202 still runs the job after the restart.
//!
//! Every backend implements one lease (visibility-timeout) model:
//!
//! - a job is **waiting** (`ready`, or `delayed` until its `run_at`),
//!   **leased** to a worker until the lease expires, or **finished**
//!   (`succeeded` or `dead`; the outcome is kept, the payload dropped, and
//!   the record pruned after [`StoreOptions::retention`]);
//! - [`JobStore::claim`] leases up to N ready jobs and bumps each one's
//!   attempt number *in the same commit*, so a job that crashes the process
//!   (a poison pill) is charged for it: once a job has been claimed
//!   `max_attempts` times, the next claim dead-letters it instead of
//!   running it again;
//! - [`JobStore::extend`], [`JobStore::ack`], [`JobStore::nack`],
//!   [`JobStore::dead_letter`] and [`JobStore::release`] take the
//!   [`Lease`] the claim returned and are **fenced** by it: once the lease
//!   has been taken over by another claim (its lease expired and the job
//!   was claimed again), the old holder gets [`StoreError::LeaseLost`] and
//!   nothing changes. A job therefore runs at least once, and a duplicate
//!   run never overwrites the outcome of a newer one;
//! - the retry backoff lives here: `nack` makes the job `delayed` until its
//!   retry time, no worker sleeps on it;
//! - `release` (graceful shutdown) hands a leased job back as ready without
//!   charging the attempt;
//! - an expired lease (the worker died) makes the job claimable again.
//!   The embedded store, the only process with the file open, also hands
//!   every lease it finds back at start-up ([`JobStore::recover`]).
//!
//! Admission is the store's too: `enqueue` refuses with
//! [`StoreError::Full`] (503 with `Retry-After` at the edge) when
//! [`StoreOptions::capacity`] jobs are already waiting, decided in the same
//! step that writes the job, so no race can overfill it.
//!
//! # Backends
//!
//! | backend | module | durable | for |
//! |---|---|---|---|
//! | in memory | [`memory`] | **no**: a crash loses every job | tests, `--store memory` |
//! | redb file | [`redb`] (the default) | yes, one fsync per group commit | one server on one machine |
//! | PostgreSQL | `postgres` | yes | several servers sharing one queue |
//!
//! The in-memory and redb backends share one state machine (`core`): redb
//! persists every record that a batch of commands changed, in one write
//! transaction, before any command of the batch is answered.
//!
//! # Conformance
//!
//! [`conformance`] is one suite of checks that every backend must pass; each
//! backend's test file calls it with a constructor.

mod clock;
pub mod conformance;
mod core;
mod error;
mod health;
pub mod memory;
pub mod postgres;
pub mod redb;
mod types;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use self::redb::RedbStore;
pub(crate) use clock::millis as clock_millis;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::StoreError;
pub use health::{StoreHealth, Watched};
pub use memory::MemoryStore;
pub use types::{
    Claimed, Claims, Enqueued, JobRecord, JobState, Lease, Nacked, NewJob, StoreOptions, StoreStats,
};

use super::job::JobId;

/// A boxed future returned by the [`JobStore`] methods: the trait stays
/// object-safe, so the server holds an `Arc<dyn JobStore>` chosen at start.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The job store: every state change of a job goes through it.
///
/// See the [module docs](self) for the lease model. Every method's future is
/// `Send`; every method is safe to call from many tasks at once.
///
/// # Cancellation safety
///
/// Dropping a returned future never leaves a job half-changed: each command
/// is applied in one transaction or not at all. But a command already handed
/// to the store's writer may still be applied after its future is dropped:
/// an `enqueue` dropped before it answered may have stored the job (the
/// client saw no 202, yet the job runs: at-least-once), and a dropped
/// `claim` may have leased jobs nobody holds (their leases expire and they
/// run later). Nothing accepted is ever lost by a drop.
///
/// ```
/// use std::time::Duration;
/// use evenkeel_demo::server::store::{JobStore, MemoryStore, NewJob, StoreOptions};
/// use evenkeel_demo::server::JobSpec;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryStore::new(StoreOptions::default());
/// let spec = JobSpec { payload: serde_json::json!(1), work_ms: 0, fail_rate: 0.0,
///                      downstream: false, panic: false, max_attempts: 3 };
/// let id = store.enqueue(NewJob::new(spec)).await.unwrap().id();
/// let claimed = store.claim(1, Duration::from_secs(30)).await.unwrap();
/// assert_eq!(claimed.jobs[0].lease.id, id);
/// store.ack(claimed.jobs[0].lease).await.unwrap();
/// assert_eq!(store.stats().await.unwrap().succeeded, 1);
/// # });
/// ```
pub trait JobStore: Send + Sync + fmt::Debug + 'static {
    /// Stores a new job and returns once it is durable; with an
    /// idempotency key seen before, returns the first job's id instead
    /// ([`Enqueued::Existing`]) and stores nothing.
    ///
    /// # Errors
    ///
    /// [`StoreError::Full`] when [`StoreOptions::capacity`] jobs are
    /// waiting; [`StoreError::Closed`] or [`StoreError::Storage`] when it
    /// could not be stored.
    fn enqueue(&self, job: NewJob) -> StoreFuture<'_, Enqueued>;

    /// Leases up to `max` ready jobs (oldest first) for `lease_for`, each
    /// with its attempt number bumped and stored. A job already claimed
    /// `max_attempts` times is dead-lettered here instead of returned (and
    /// listed in [`Claims::dead_lettered`]). `jobs` is empty when nothing
    /// is ready.
    ///
    /// # Errors
    ///
    /// [`StoreError::Closed`] or [`StoreError::Storage`].
    fn claim(&self, max: usize, lease_for: Duration) -> StoreFuture<'_, Claims>;

    /// Extends a live lease to `lease_for` from now (a heartbeat for a
    /// long job) and returns the new lease.
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] when the lease is no longer this holder's.
    fn extend(&self, lease: Lease, lease_for: Duration) -> StoreFuture<'_, Lease>;

    /// Finishes the job as succeeded.
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] when the lease is no longer this holder's.
    fn ack(&self, lease: Lease) -> StoreFuture<'_, ()>;

    /// Records a failed attempt: the job waits `delay`, then is ready again;
    /// if this was its last attempt it is dead-lettered with `error`.
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] when the lease is no longer this holder's.
    fn nack(&self, lease: Lease, error: String, delay: Duration) -> StoreFuture<'_, Nacked>;

    /// Finishes the job as dead with `reason`.
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] when the lease is no longer this holder's.
    fn dead_letter(&self, lease: Lease, reason: String) -> StoreFuture<'_, ()>;

    /// Hands a leased job back as ready, not charged for the attempt (the
    /// worker is stopping and did not finish it).
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] when the lease is no longer this holder's.
    fn release(&self, lease: Lease) -> StoreFuture<'_, ()>;

    /// Makes orphaned leases ready again and returns how many: for a store
    /// that only this process uses (memory, redb), every lease it finds (a
    /// previous process died holding them; the attempts stay charged); for
    /// a shared store, only expired ones.
    ///
    /// # Errors
    ///
    /// [`StoreError::Closed`] or [`StoreError::Storage`].
    fn recover(&self) -> StoreFuture<'_, u64>;

    /// The job's record, or `None` for an unknown or pruned id.
    ///
    /// # Errors
    ///
    /// [`StoreError::Closed`] or [`StoreError::Storage`].
    fn get(&self, id: JobId) -> StoreFuture<'_, Option<JobRecord>>;

    /// Counts by state, for the API and `/metrics`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Closed`] or [`StoreError::Storage`].
    fn stats(&self) -> StoreFuture<'_, StoreStats>;

    /// Deletes finished records older than [`StoreOptions::retention`] and
    /// returns how many. (Backends also prune as they go; this forces it.)
    ///
    /// # Errors
    ///
    /// [`StoreError::Closed`] or [`StoreError::Storage`].
    fn prune(&self) -> StoreFuture<'_, u64>;

    /// Resolves when a job may have become claimable (an enqueue, a nack's
    /// delay ending, a release, an expiring lease), or after `max_wait`,
    /// whichever is first. A worker calls it when `claim` came back empty.
    /// It may resolve spuriously; it never errs.
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe: it only waits.
    fn wait_for_work(&self, max_wait: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;

    /// Whether other processes may use this store at the same time
    /// (PostgreSQL): then a draining server waits only for its own jobs,
    /// not for the whole queue to empty.
    fn is_shared(&self) -> bool {
        false
    }

    /// The store's clock (wall time; a [`ManualClock`] in tests).
    fn clock(&self) -> &dyn Clock;
}
