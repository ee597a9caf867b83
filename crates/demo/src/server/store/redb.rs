//! The embedded backend (the server's default): one redb file under the
//! data directory, written with group commit.
//!
//! # Group commit
//!
//! Every command that changes a job (enqueue, claim, ack, …) is a closure
//! sent to one writer thread through a bounded `evenkeel_backpressure`
//! queue ([`WRITER_QUEUE`] commands; a caller waits for room when the disk
//! falls behind, which is backpressure reaching the HTTP handlers rather
//! than memory growing). The writer waits for the first command, then
//! takes every other command already waiting (`recv_many`) and, when its
//! last batch was larger, waits a moment for the rest of a batch that size
//! (at most half its last commit's duration, see `gather`), applies them all to the
//! shared state machine (`core`), writes the records they changed in **one**
//! write transaction with [`Durability::Immediate`](redb::Durability::Immediate) (an fsync before
//! `commit` returns), and only then answers each of them. Sixteen clients
//! enqueueing at once therefore pay for one fsync, not sixteen; a lone
//! client pays for one, as it must. With `group_commit` off the writer
//! takes one command per commit: the naive baseline the benchmark compares
//! against.
//!
//! redb never uses a durability mode that can lose a committed transaction
//! on a process crash here: a commit either returned (the job is on disk)
//! or it did not (the client got no 202).
//!
//! If a commit fails (disk full, read-only, an I/O error), every command
//! of the batch gets [`StoreError::Unavailable`], the batch's changes are
//! undone in memory, and the store reopens the file after a back-off and
//! goes on once the disk takes writes again (see `writer`). Nothing is
//! answered as stored that is not on disk.
//!
//! # Reads
//!
//! `get`, `stats` and `wait_for_work` read the state machine in memory,
//! loaded from the file at open. They may see a command's effect a moment
//! before its commit ends.
//!
//! # One process per file
//!
//! redb locks the file; a second server on the same directory fails at
//! [`RedbStore::open`] with [`StoreError::Locked`]. Because nobody else can
//! hold its leases, [`JobStore::recover`] hands every lease found at start
//! back at once, without waiting for it to expire.
//!
//! # Format
//!
//! Table `jobs_by_seq`: the job's sequence number (admission order, 64
//! bits) → the record as JSON. Table `meta`: `format` → [`FORMAT`]. Keying
//! by admission order rather than by the random job id keeps each group
//! commit's pages few: new jobs append at the right edge of the B-tree and
//! claims and acks touch its oldest end, where random keys would dirty one
//! leaf page per job and make every fsync write that many pages. A file of
//! format 1 (table `jobs`, keyed by id) is rewritten to format 2 when it is
//! opened; any other format is refused.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use evenkeel_backpressure::Sender;
use redb::{Database, DatabaseError, ReadableTable, TableDefinition};
use tokio::sync::{Notify, oneshot};

use super::clock::{Clock, millis};
use super::core::{Core, Rec};
use super::memory::wait_until;
use super::types::{Claims, Enqueued, JobRecord, Lease, Nacked, NewJob, StoreOptions, StoreStats};
use super::{JobStore, StoreError, StoreFuture};
use crate::server::job::JobId;
use writer::{Failure, Op, Writer};

mod gather;
mod writer;

/// The file's format version.
pub const FORMAT: u64 = 2;

/// How the writer batched: batches taken and commands in them.
#[derive(Debug, Default)]
struct CommitStats {
    batches: std::sync::atomic::AtomicU64,
    commands: std::sync::atomic::AtomicU64,
}

impl CommitStats {
    fn record(&self, commands: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.batches.fetch_add(1, Relaxed);
        self.commands.fetch_add(commands as u64, Relaxed);
    }
}

/// Commands waiting for the writer at most; more wait for room.
pub const WRITER_QUEUE: usize = 4096;
/// The database file's name inside the data directory.
pub const FILE_NAME: &str = "jobs.redb";

/// Format 2: a job's sequence number (admission order) → its record.
const JOBS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("jobs_by_seq");
/// Format 1: a job's random id → its record (migrated at open).
const JOBS_V1: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("jobs");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

/// The redb-backed job store; see the module docs.
///
/// Dropping it stops the writer thread (after the batch in progress) and
/// closes the file, so the directory can be opened again.
///
/// ```
/// use evenkeel_demo::server::store::{JobStore, RedbStore, StoreError, StoreOptions};
///
/// let dir = std::env::temp_dir().join(format!("redb-doc-{}", std::process::id()));
/// let store = RedbStore::open(&dir, StoreOptions::default()).unwrap();
/// // A second opener of the same directory is refused, not let in.
/// let second = RedbStore::open(&dir, StoreOptions::default());
/// assert!(matches!(second, Err(StoreError::Locked { .. })));
/// drop(store);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct RedbStore {
    core: Arc<Mutex<Core>>,
    notify: Arc<Notify>,
    clock: Arc<dyn Clock>,
    tx: Option<Sender<Op>>,
    writer: Option<JoinHandle<()>>,
    path: PathBuf,
    stats: Arc<CommitStats>,
}

impl RedbStore {
    /// Opens (or creates) the store in directory `dir`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Locked`] when another process has it open;
    /// [`StoreError::Corrupt`] for a record or format it cannot read;
    /// [`StoreError::Storage`] for I/O errors.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(StoreError::storage)?;
        let path = dir.join(FILE_NAME);
        let db = match Database::create(&path) {
            Ok(db) => db,
            Err(DatabaseError::DatabaseAlreadyOpen) => return Err(StoreError::Locked { path }),
            Err(e) => return Err(StoreError::storage(e)),
        };
        let recs = load(&db)?;
        let core = Arc::new(Mutex::new(Core::load(&options, recs).journaled()));
        let notify = Arc::new(Notify::new());
        let (tx, rx) = evenkeel_backpressure::bounded(WRITER_QUEUE);
        let stats = Arc::new(CommitStats::default());
        let writer = std::thread::Builder::new()
            .name("job-store-writer".into())
            .spawn({
                let writer = Writer {
                    db: Some(db),
                    path: path.clone(),
                    options: options.clone(),
                    core: Arc::clone(&core),
                    notify: Arc::clone(&notify),
                    rx,
                    stats: Arc::clone(&stats),
                };
                move || writer.run()
            })
            .map_err(StoreError::storage)?;
        Ok(Self {
            core,
            notify,
            clock: options.clock,
            tx: Some(tx),
            writer: Some(writer),
            path,
            stats,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the writer has batched so far: `(batches, commands)`; their
    /// ratio is the mean group-commit size (batches without a change skip
    /// the commit itself).
    pub fn batching(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.stats.batches.load(Relaxed),
            self.stats.commands.load(Relaxed),
        )
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        lock(&self.core)
    }

    /// Hands `command` to the writer; the future answers after its commit.
    fn submit<T: Send + 'static>(
        &self,
        command: impl FnOnce(&mut Core, u64) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let op: Op = Box::new(move |target| {
            let out = target.map(|(core, now)| command(core, now));
            Box::new(move |failed: Option<&Failure>| {
                let out = match (failed, out) {
                    (Some(failure), _) => Err(failure.error()),
                    (None, Some(out)) => out,
                    // Unapplied commands are always answered with the
                    // failure that refused them.
                    (None, None) => Err(StoreError::Closed),
                };
                let _ = reply_tx.send(out);
            })
        });
        Box::pin(async move {
            let tx = self.tx.as_ref().ok_or(StoreError::Closed)?;
            // Cancel-safe: a send dropped while waiting for room queued
            // nothing.
            tx.send(op).await.map_err(|_| StoreError::Closed)?;
            reply_rx.await.map_err(|_| StoreError::Closed)?
        })
    }
}

fn lock(core: &Mutex<Core>) -> MutexGuard<'_, Core> {
    // Commands do not panic on any input; a poisoned lock is consistent.
    core.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn load(db: &Database) -> Result<Vec<Rec>, StoreError> {
    let txn = db.begin_write().map_err(StoreError::storage)?;
    let recs;
    {
        let mut meta = txn.open_table(META).map_err(StoreError::storage)?;
        let format = meta
            .get("format")
            .map_err(StoreError::storage)?
            .map(|v| v.value());
        match format {
            None | Some(FORMAT) => {
                recs = read(&txn.open_table(JOBS).map_err(StoreError::storage)?)?;
            }
            Some(1) => {
                // Format 1 keyed the jobs by their random id: rewrite them
                // under their sequence numbers, in this same transaction.
                recs = read(&txn.open_table(JOBS_V1).map_err(StoreError::storage)?)?;
                txn.delete_table(JOBS_V1).map_err(StoreError::storage)?;
                let mut jobs = txn.open_table(JOBS).map_err(StoreError::storage)?;
                for rec in &recs {
                    jobs.insert(rec.seq, encode(rec).as_slice())
                        .map_err(StoreError::storage)?;
                }
            }
            Some(other) => {
                return Err(StoreError::Corrupt(format!(
                    "file format {other}, this server reads formats 1 and {FORMAT}"
                )));
            }
        }
        if format != Some(FORMAT) {
            meta.insert("format", FORMAT).map_err(StoreError::storage)?;
        }
    }
    txn.commit().map_err(StoreError::storage)?;
    Ok(recs)
}

/// Every record of a jobs table.
fn read(jobs: &impl ReadableTable<u64, &'static [u8]>) -> Result<Vec<Rec>, StoreError> {
    let mut recs = Vec::new();
    for entry in jobs.iter().map_err(StoreError::storage)? {
        let (key, value) = entry.map_err(StoreError::storage)?;
        let rec: Rec = serde_json::from_slice(value.value())
            .map_err(|e| StoreError::Corrupt(format!("job record {:016x}: {e}", key.value())))?;
        recs.push(rec);
    }
    Ok(recs)
}

fn encode(rec: &Rec) -> Vec<u8> {
    // A record is plain data (strings, numbers, JSON values): serializing
    // it to a Vec cannot fail.
    serde_json::to_vec(rec).unwrap_or_default()
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            tx.close();
        }
        if let Some(writer) = self.writer.take() {
            // The writer ends after its current batch; joining closes the
            // file before the directory can be opened again.
            let _ = writer.join();
        }
    }
}

impl JobStore for RedbStore {
    fn enqueue(&self, job: NewJob) -> StoreFuture<'_, Enqueued> {
        self.submit(move |core, now| core.enqueue(job, now))
    }

    fn claim(&self, max: usize, lease_for: Duration) -> StoreFuture<'_, Claims> {
        self.submit(move |core, now| Ok(core.claim(max, millis(lease_for), now)))
    }

    fn extend(&self, lease: Lease, lease_for: Duration) -> StoreFuture<'_, Lease> {
        self.submit(move |core, now| core.extend(lease, millis(lease_for), now))
    }

    fn ack(&self, lease: Lease) -> StoreFuture<'_, ()> {
        self.submit(move |core, now| core.ack(lease, now))
    }

    fn nack(&self, lease: Lease, error: String, delay: Duration) -> StoreFuture<'_, Nacked> {
        self.submit(move |core, now| core.nack(lease, error, millis(delay), now))
    }

    fn dead_letter(&self, lease: Lease, reason: String) -> StoreFuture<'_, ()> {
        self.submit(move |core, now| core.dead_letter(lease, reason, now))
    }

    fn release(&self, lease: Lease) -> StoreFuture<'_, ()> {
        self.submit(move |core, _| core.release(lease))
    }

    fn recover(&self) -> StoreFuture<'_, u64> {
        self.submit(|core, _| Ok(core.recover_all()))
    }

    fn get(&self, id: JobId) -> StoreFuture<'_, Option<JobRecord>> {
        let out = self.lock().get(id);
        Box::pin(std::future::ready(Ok(out)))
    }

    fn stats(&self) -> StoreFuture<'_, StoreStats> {
        let now = self.clock.now_ms();
        let out = self.lock().stats(now);
        Box::pin(std::future::ready(Ok(out)))
    }

    fn prune(&self) -> StoreFuture<'_, u64> {
        self.submit(|core, now| Ok(core.prune(now)))
    }

    fn wait_for_work(&self, max_wait: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let notified = self.notify.notified();
            let due = self.lock().next_due();
            wait_until(notified, due, &*self.clock, max_wait).await;
        })
    }

    fn clock(&self) -> &dyn Clock {
        &*self.clock
    }
}
