//! The PostgreSQL backend: several servers sharing one durable queue.
//!
//! [`PostgresStore`] keeps every job as a row of `evenkeel_jobs` (the
//! schema and its migrations are in `schema`; they are applied at
//! [`connect`](PostgresStore::connect), safely when several servers start
//! at once). It follows the lease model of the [`JobStore`] trait to the
//! letter, with PostgreSQL doing the arbitration between servers:
//!
//! - **enqueue** is group-committed: a writer task stores every enqueue
//!   waiting for it in one transaction with one multi-row `INSERT`, and
//!   admission (the count of waiting jobs against the capacity) happens in
//!   that transaction under an advisory lock, so servers cannot overfill
//!   the queue together (`writer`);
//! - **claim** is one `UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)`:
//!   it picks due jobs and expired leases, sets the lease and bumps the
//!   attempt in the same statement, so two servers never lease the same job
//!   while its lease is live, and the jobs of a server killed with SIGKILL
//!   come back by themselves once their leases expire (`ops`);
//! - **extend, ack, nack, dead-letter, release** are fenced by the claim
//!   count, so a stale worker's late answer gets
//!   [`StoreError::LeaseLost`] and changes nothing;
//! - **idle workers** sleep in [`JobStore::wait_for_work`] until a
//!   `NOTIFY` arrives or a short poll interval passes (`listen`);
//! - finished records are **pruned** by a background task as they pass the
//!   retention.
//!
//! Connections are plain TCP (no TLS): point it at a database on a trusted
//! network or through a local proxy.

mod listen;
mod ops;
mod schema;
mod writer;

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_postgres::NoTls;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::clock::millis;
use super::{
    Claims, Clock, Enqueued, JobRecord, JobStore, Lease, Nacked, NewJob, StoreError, StoreFuture,
    StoreOptions, StoreStats,
};
use crate::server::job::JobId;
use writer::{Admission, Pending};

/// How long [`PostgresStore::connect`] waits for the `LISTEN` connection.
const LISTEN_READY_WAIT: Duration = Duration::from_secs(5);

/// Settings of the PostgreSQL backend beyond [`StoreOptions`].
///
/// # Defaults
///
/// A pool of 16 connections, idle workers polling every second when no
/// notification wakes them, finished records pruned every 10 seconds.
///
/// ```
/// use evenkeel_demo::server::store::postgres::PostgresOptions;
/// let options = PostgresOptions { pool_size: 4, ..PostgresOptions::default() };
/// assert_eq!(options.poll_interval.as_secs(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// Most connections the store opens (the `LISTEN` connection aside).
    pub pool_size: usize,
    /// Longest an idle worker sleeps without a notification.
    pub poll_interval: Duration,
    /// How often finished records past the retention are deleted.
    pub prune_interval: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            poll_interval: Duration::from_secs(1),
            prune_interval: Duration::from_secs(10),
        }
    }
}

/// The job store in a PostgreSQL database; see the [module docs](self).
///
/// ```no_run
/// use evenkeel_demo::server::store::{JobStore, StoreOptions};
/// use evenkeel_demo::server::store::postgres::PostgresStore;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = PostgresStore::connect("postgres://app@127.0.0.1/jobs", StoreOptions::default()).await?;
/// println!("{:?}", store.stats().await?);
/// # Ok(()) }
/// ```
pub struct PostgresStore {
    pool: Pool,
    /// `None` when group commit is off: each enqueue commits alone.
    writer: Option<mpsc::Sender<Pending>>,
    admission: Admission,
    retention_ms: u64,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    /// The earliest retry time this server's nacks set (ms), so an idle
    /// worker wakes for it without waiting for the poll.
    next_due_ms: AtomicU64,
    poll_interval: Duration,
    /// Stops the listener and the pruner when the store is dropped.
    _tasks: DropGuard,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("pool", &self.pool.status())
            .field("group_commit", &self.writer.is_some())
            .field("capacity", &self.admission.capacity)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/dbname`
    /// or the `key=value` form), applies the schema migrations it lacks and
    /// starts the store's tasks, with the default [`PostgresOptions`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Storage`] when the URL does not parse, the database
    /// cannot be reached, or its schema is newer than this binary knows.
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe: dropping it before it resolves leaves at most a
    /// migration rolled back.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url.parse().map_err(StoreError::storage)?;
        Self::connect_with(config, options, PostgresOptions::default()).await
    }

    /// [`connect`](Self::connect) with a parsed configuration and explicit
    /// [`PostgresOptions`].
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    ///
    /// # Cancellation safety
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with(
        config: tokio_postgres::Config,
        options: StoreOptions,
        pg: PostgresOptions,
    ) -> Result<Self, StoreError> {
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pg.pool_size.max(2))
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(10)))
            .wait_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(StoreError::storage)?;
        {
            let mut client = pool.get().await.map_err(StoreError::storage)?;
            let applied = schema::migrate(&mut client).await?;
            if applied > 0 {
                tracing::info!(
                    applied,
                    version = schema::latest(),
                    "job store: schema migrated"
                );
            }
        }
        let admission = Admission {
            capacity: options.capacity,
            retry_after: options.retry_after,
        };
        let stop = CancellationToken::new();
        let wake = Arc::new(Notify::new());
        let (ready, listening) = oneshot::channel();
        tokio::spawn(listen::run(config, Arc::clone(&wake), stop.clone(), ready));
        // Wait for `LISTEN`, so that a job enqueued by another server after
        // this returns wakes this one. Should it not come up, the store
        // still works: idle workers fall back to polling.
        if tokio::time::timeout(LISTEN_READY_WAIT, listening)
            .await
            .is_err()
        {
            tracing::warn!("job store: LISTEN is not up yet; idle workers poll until it is");
        }
        let retention_ms = millis(options.retention);
        tokio::spawn(ops::prune_loop(
            pool.clone(),
            Arc::clone(&options.clock),
            retention_ms,
            pg.prune_interval,
            stop.clone(),
        ));
        let writer = options.group_commit.then(|| {
            let (tx, rx) = mpsc::channel(writer::MAX_BATCH * 4);
            tokio::spawn(writer::run(pool.clone(), admission, rx));
            tx
        });
        Ok(Self {
            pool,
            writer,
            admission,
            retention_ms,
            clock: options.clock,
            wake,
            next_due_ms: AtomicU64::new(u64::MAX),
            poll_interval: pg.poll_interval,
            _tasks: stop.drop_guard(),
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(StoreError::storage)
    }

    /// Tells the other servers (and this one) that jobs are claimable.
    async fn announce(&self, client: &deadpool_postgres::Client) -> Result<(), StoreError> {
        self.wake.notify_waiters();
        client
            .execute("SELECT pg_notify($1, '')", &[&schema::CHANNEL])
            .await
            .map_err(StoreError::storage)
            .map(drop)
    }

    async fn enqueue_one(&self, job: NewJob) -> Result<Enqueued, StoreError> {
        let now_ms = self.clock.now_ms();
        let answer = if let Some(writer) = &self.writer {
            let (reply, answer) = oneshot::channel();
            writer
                .send(Pending { job, now_ms, reply })
                .await
                .map_err(|_| StoreError::Closed)?;
            answer.await.map_err(|_| StoreError::Closed)?
        } else {
            writer::insert_batch(&self.pool, self.admission, &[(&job, now_ms)])
                .await
                .pop()
                .unwrap_or(Err(StoreError::Closed))
        };
        if matches!(answer, Ok(Enqueued::Created(_))) {
            self.wake.notify_waiters();
        }
        answer
    }
}

impl JobStore for PostgresStore {
    fn enqueue(&self, job: NewJob) -> StoreFuture<'_, Enqueued> {
        Box::pin(self.enqueue_one(job))
    }

    fn claim(&self, max: usize, lease_for: Duration) -> StoreFuture<'_, Claims> {
        Box::pin(async move {
            let client = self.client().await?;
            let now = self.clock.now_ms();
            ops::claim(&client, max, now, now.saturating_add(millis(lease_for))).await
        })
    }

    fn extend(&self, lease: Lease, lease_for: Duration) -> StoreFuture<'_, Lease> {
        Box::pin(async move {
            let client = self.client().await?;
            let until = self.clock.now_ms().saturating_add(millis(lease_for));
            ops::extend(&client, lease, until).await
        })
    }

    fn ack(&self, lease: Lease) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.client().await?;
            ops::ack(&client, lease, self.clock.now_ms()).await
        })
    }

    fn nack(&self, lease: Lease, error: String, delay: Duration) -> StoreFuture<'_, Nacked> {
        Box::pin(async move {
            let client = self.client().await?;
            let now = self.clock.now_ms();
            let run_at = now.saturating_add(millis(delay));
            let nacked = ops::nack(&client, lease, &error, now, run_at).await?;
            if let Nacked::Retrying { run_at_ms } = nacked {
                self.next_due_ms.fetch_min(run_at_ms, Ordering::Relaxed);
            }
            Ok(nacked)
        })
    }

    fn dead_letter(&self, lease: Lease, reason: String) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.client().await?;
            ops::dead_letter(&client, lease, &reason, self.clock.now_ms()).await
        })
    }

    fn release(&self, lease: Lease) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.client().await?;
            ops::release(&client, lease).await?;
            self.announce(&client).await
        })
    }

    fn recover(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let client = self.client().await?;
            let recovered = ops::recover(&client, self.clock.now_ms()).await?;
            if recovered > 0 {
                self.announce(&client).await?;
            }
            Ok(recovered)
        })
    }

    fn get(&self, id: JobId) -> StoreFuture<'_, Option<JobRecord>> {
        Box::pin(async move { ops::get(&self.client().await?, id).await })
    }

    fn stats(&self) -> StoreFuture<'_, StoreStats> {
        Box::pin(async move { ops::stats(&self.client().await?, self.clock.now_ms()).await })
    }

    fn prune(&self) -> StoreFuture<'_, u64> {
        Box::pin(ops::prune_pool(
            &self.pool,
            self.clock.now_ms(),
            self.retention_ms,
        ))
    }

    fn wait_for_work(&self, max_wait: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let notified = self.wake.notified();
            let mut wait = max_wait.min(self.poll_interval);
            let due = self.next_due_ms.load(Ordering::Relaxed);
            if due != u64::MAX {
                let now = self.clock.now_ms();
                if due <= now {
                    // A retry of ours is due: take it now, and forget it
                    // (unless a nack set an earlier one meanwhile).
                    let _ = self.next_due_ms.compare_exchange(
                        due,
                        u64::MAX,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                    return;
                }
                wait = wait.min(Duration::from_millis(due - now));
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(wait) => {}
            }
        })
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn clock(&self) -> &dyn Clock {
        &*self.clock
    }
}
