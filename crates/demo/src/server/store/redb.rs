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
//! takes every other command already waiting (`recv_many`), applies them
//! all to the shared state machine (`core`), writes the records they
//! changed to the write-ahead log as **one** frame (a `pwrite`), makes it
//! durable with one `fdatasync` (the **flusher**, see `flush`) and only
//! then answers the batch's commands, in order. The commands that arrive
//! while a flush is in progress are waiting when it ends and share the
//! next one: sixteen clients enqueueing at once pay for about one flush
//! per round, not sixteen; a lone client pays for one, as it must. A batch
//! changed in memory but not yet flushed is kept in an undo journal until
//! its flush succeeds, so a failed flush can take it back. (The flush ran
//! on a thread of its own until this release; `flush` says why it no
//! longer does.)
//!
//! After a batch, when the last checkpoint is [`CHECKPOINT_EVERY`] old or
//! the log is half full, the writer checkpoints: every record changed
//! since the last checkpoint goes into the redb file in one transaction with
//! [`Durability::Immediate`](redb::Durability::Immediate). That commit
//! runs on a thread of its own (`job-store-checkpoint`) while the writer
//! goes on at once in the other of the two log files ([`LOG_FILES`]), in
//! the next generation; the file it left keeps its frames until the
//! commit is done, and a crash before then replays both (see `log` for
//! the format and the recovery). One checkpoint commits at a time: while
//! it does, the writer goes on in the log it has, and a batch that does
//! not fit waits for it and is committed into redb with the rest. Under
//! the end-to-end load a checkpoint commits a few thousand records in
//! about 12 ms, the longest over 100 ms; when it ran on the writer thread
//! that stall was the 202's p99 (8–9 ms at 32 connections) and its tail.
//! When the writer stops, it waits for the checkpoint in flight and
//! commits the last one itself. With `group_commit` off the writer takes one
//! command per batch and commits it straight into redb, without the log:
//! the naive baseline the benchmark compares against.
//!
//! Nothing here uses a durability mode that can lose an answered change on
//! a process crash: a change is answered after its log frame (or its redb
//! commit) is flushed, or it is not answered as done (the client got no
//! 202).
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
//! bits) → the record as JSON. Table `meta`: `format` → [`FORMAT`], and
//! `log_generation` → the generation of the log frames the file does not
//! have yet (see `log`; a frame of this generation or the next one, in
//! either log file beside it, is replayed). Keying
//! by admission order rather than by the random job id keeps each group
//! checkpoint's pages few: new jobs append at the right edge of the B-tree
//! and claims and acks touch its oldest end, where random keys would dirty
//! one leaf page per job. A file of format 1 (table `jobs`, keyed by id) is
//! rewritten when it is opened; a file of format 2 (the same table, no log)
//! is read as it is; both are then marked format 3, which a server from
//! before the log refuses rather than ignoring the log's changes. Any
//! other format is refused.

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
use flush::Flusher;
use flush::Mark;
use log::Log;
use writer::{Failure, Files, Op, Writer};

mod flush;
mod log;
mod writer;

pub use log::LOG_FILES;

/// The file's format version.
pub const FORMAT: u64 = 3;
/// How old the last checkpoint may be before the next batch checkpoints
/// (a half-full log checkpoints sooner). Changes may sit in the log longer
/// while no batch comes: they are durable there, and the next open
/// replays them.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// How the writer batched: batches taken and commands in them.
#[derive(Debug, Default)]
pub(super) struct CommitStats {
    batches: std::sync::atomic::AtomicU64,
    commands: std::sync::atomic::AtomicU64,
}

impl CommitStats {
    pub(super) fn record(&self, commands: usize) {
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
/// redb's page cache. The state lives in memory (`core`) and the file is
/// read only when it is opened, so redb's cache serves only the pages a
/// checkpoint rewrites; with redb's default (1 GiB) every page ever written
/// stays cached and the server's memory grows with the file.
const CACHE_BYTES: usize = 16 * 1024 * 1024;
/// The `meta` key of the log's generation.
const LOG_GENERATION: &str = "log_generation";

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
        let (files, recs) = open_files(dir, None)?;
        let core = Arc::new(Mutex::new(Core::load(&options, recs).journaled()));
        let notify = Arc::new(Notify::new());
        let (tx, rx) = evenkeel_backpressure::bounded(WRITER_QUEUE);
        let stats = Arc::new(CommitStats::default());
        let flusher = if options.group_commit {
            let file = files.log.flusher().map_err(StoreError::storage)?;
            Some(Flusher::new(Arc::new(file), Arc::clone(&stats)))
        } else {
            None
        };
        let writer = std::thread::Builder::new()
            .name("job-store-writer".into())
            .spawn({
                let writer = Writer {
                    files: Some(files),
                    checkpointing: None,
                    dir: dir.to_owned(),
                    pending: std::collections::BTreeMap::new(),
                    replay_limit: None,
                    last_checkpoint: std::time::Instant::now(),
                    options: options.clone(),
                    core: Arc::clone(&core),
                    notify: Arc::clone(&notify),
                    rx,
                    stats: Arc::clone(&stats),
                    flusher,
                    batches: 0,
                    timing: writer::Timing::default(),
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

    /// How the store has batched so far: `(commits, commands)`, where a
    /// commit is one flush of the log (with group commit) or one redb
    /// commit (without); their ratio is the mean group-commit size.
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

/// Opens the redb file in `dir` and its two log files, replays the
/// changes the file does not have yet over it, and checkpoints the result
/// into a fresh generation; returns the files (the first log file
/// restarted in that generation) and every record.
///
/// With the file at generation `g`, those changes are the frames of `g`
/// and then those of `g + 1`: the writer had switched to `g + 1` in the
/// other file and a background checkpoint of `g` had not committed when
/// the process stopped (after it commits, the file is at `g + 1`, and `g`'s
/// frames are skipped). `limit` (after a failure) bounds how far the log
/// of its generation is read. The fresh generation is `g + 2`, so that
/// neither file's frames count again.
fn open_files(dir: &Path, limit: Option<Mark>) -> Result<(Files, Vec<Rec>), StoreError> {
    let path = dir.join(FILE_NAME);
    let db = match Database::builder()
        .set_cache_size(CACHE_BYTES)
        .create(&path)
    {
        Ok(db) => db,
        Err(DatabaseError::DatabaseAlreadyOpen) => return Err(StoreError::Locked { path }),
        Err(e) => return Err(StoreError::storage(e)),
    };
    let (recs, generation) = load(&db)?;
    let mut logs = Vec::with_capacity(LOG_FILES.len());
    let mut changes = Vec::new();
    let mut bytes = Vec::with_capacity(LOG_FILES.len());
    for name in LOG_FILES {
        let (log, b) = Log::open(&dir.join(name)).map_err(StoreError::storage)?;
        logs.push(log);
        bytes.push((name, b));
    }
    for g in [generation, generation + 1] {
        let limit = limit.filter(|m| m.generation == g).map(|m| m.end);
        for (name, b) in &bytes {
            changes.extend(log::changes(b, g, limit).map_err(|e| {
                if e.kind() == std::io::ErrorKind::InvalidData {
                    StoreError::Corrupt(format!("{name}: {e}"))
                } else {
                    StoreError::storage(e)
                }
            })?);
        }
    }
    drop(bytes);
    let mut by_seq: std::collections::BTreeMap<u64, Rec> =
        recs.into_iter().map(|rec| (rec.seq, rec)).collect();
    for (seq, change) in &changes {
        match change {
            Some(bytes) => {
                by_seq.insert(*seq, decode(*seq, bytes)?);
            }
            None => {
                by_seq.remove(seq);
            }
        }
    }
    let next = generation + 2;
    writer::commit(
        &db,
        changes.iter().map(|(s, c)| (*s, c.as_deref())),
        Some(next),
    )?;
    let spare = logs.pop().ok_or(StoreError::Closed)?;
    let mut log = logs.pop().ok_or(StoreError::Closed)?;
    log.restart(next);
    let files = Files {
        db: Arc::new(db),
        log,
        spare,
    };
    Ok((files, by_seq.into_values().collect()))
}

/// Every record of the file, and the log's generation.
fn load(db: &Database) -> Result<(Vec<Rec>, u64), StoreError> {
    let txn = db.begin_write().map_err(StoreError::storage)?;
    let recs;
    let generation;
    {
        let mut meta = txn.open_table(META).map_err(StoreError::storage)?;
        let format = meta
            .get("format")
            .map_err(StoreError::storage)?
            .map(|v| v.value());
        match format {
            None | Some(2 | FORMAT) => {
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
                    "file format {other}, this server reads formats 1 to {FORMAT}"
                )));
            }
        }
        if format != Some(FORMAT) {
            meta.insert("format", FORMAT).map_err(StoreError::storage)?;
        }
        generation = meta
            .get(LOG_GENERATION)
            .map_err(StoreError::storage)?
            .map_or(0, |v| v.value());
    }
    txn.commit().map_err(StoreError::storage)?;
    Ok((recs, generation))
}

/// Every record of a jobs table.
fn read(jobs: &impl ReadableTable<u64, &'static [u8]>) -> Result<Vec<Rec>, StoreError> {
    let mut recs = Vec::new();
    for entry in jobs.iter().map_err(StoreError::storage)? {
        let (key, value) = entry.map_err(StoreError::storage)?;
        recs.push(decode(key.value(), value.value())?);
    }
    Ok(recs)
}

/// A stored record (`key` names it in the error).
fn decode(key: u64, bytes: &[u8]) -> Result<Rec, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("job record {key:016x}: {e}")))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::store::JobState;
    use crate::server::store::conformance::spec;
    use log::tests::dir;

    /// Deletes both log files: what is left is the redb file alone.
    fn remove_logs(dir: &Path) {
        for name in LOG_FILES {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
    }

    /// Claims and acks `n` jobs, stops `store` cleanly, deletes both log
    /// files and reopens the redb file alone: the reopened store and its
    /// counts.
    async fn ack_stop_and_reopen_without_logs(
        store: RedbStore,
        dir: &Path,
        n: usize,
    ) -> (RedbStore, StoreStats) {
        let claims = store.claim(n, Duration::from_secs(30)).await.unwrap();
        for claim in &claims.jobs {
            store.ack(claim.lease).await.unwrap();
        }
        drop(store);
        remove_logs(dir);
        let store = RedbStore::open(dir, StoreOptions::default()).unwrap();
        let stats = store.stats().await.unwrap();
        (store, stats)
    }

    /// What a writer that died before its checkpoint leaves behind: jobs
    /// whose enqueue is only in the log. Returns their ids.
    fn crash_with_jobs_in_the_log(dir: &Path, jobs: u64) -> Vec<JobId> {
        let (files, recs) = open_files(dir, None).unwrap();
        let Files { db, mut log, .. } = files;
        assert!(recs.is_empty());
        let options = StoreOptions::default();
        let mut core = Core::load(&options, recs);
        let mut ids = Vec::new();
        for n in 0..jobs {
            let id = core.enqueue(NewJob::new(spec(n, 3)), 1_000).unwrap().id();
            let seq = core.rec(id).unwrap().seq;
            core.take_dirty();
            // One frame per job, as one group commit each.
            assert!(log.append(&[(seq, core.rec(id).map(encode))]).unwrap());
            ids.push(id);
        }
        // The process dies here: no checkpoint, nothing closed cleanly.
        drop((db, log));
        ids
    }

    /// What a writer leaves behind when it dies while a checkpoint commits
    /// in the background: job `a`'s enqueue in the generation being
    /// checkpointed (the file is still at that generation, or, with
    /// `committed`, the checkpoint got through), then `a`'s ack and job
    /// `b`'s enqueue in the next generation, in the other log file.
    /// Returns `(a, b)`.
    ///
    /// The older generation is put in the second file and the newer in the
    /// first, so a replay that went file by file instead of generation by
    /// generation would bring `a` back as queued.
    fn crash_during_a_background_checkpoint(dir: &Path, committed: bool) -> (JobId, JobId) {
        let (files, recs) = open_files(dir, None).unwrap();
        let Files {
            db,
            log: mut newer,
            spare: mut older,
        } = files;
        let options = StoreOptions::default();
        let mut core = Core::load(&options, recs);
        let generation = newer.generation();
        let frame = |core: &mut Core, ids: &[JobId]| -> Vec<log::Change> {
            core.take_dirty();
            ids.iter()
                .map(|id| {
                    let rec = core.rec(*id).unwrap();
                    (rec.seq, Some(encode(rec)))
                })
                .collect()
        };
        // Generation g, in the second file: `a` is enqueued.
        older.restart(generation);
        let a = core.enqueue(NewJob::new(spec(0, 3)), 1_000).unwrap().id();
        let enqueued = frame(&mut core, &[a]);
        assert!(older.append(&enqueued).unwrap());
        if committed {
            // The background checkpoint of g got through: the file holds
            // `a` queued and is at g + 1.
            writer::commit(
                &db,
                enqueued.iter().map(|(s, c)| (*s, c.as_deref())),
                Some(generation + 1),
            )
            .unwrap();
        }
        // Generation g + 1, in the first file: `a` acked, `b` enqueued.
        newer.restart(generation + 1);
        let claims = core.claim(1, 30_000, 1_000);
        core.ack(claims.jobs[0].lease, 1_000).unwrap();
        let b = core.enqueue(NewJob::new(spec(1, 3)), 1_000).unwrap().id();
        assert!(newer.append(&frame(&mut core, &[a, b])).unwrap());
        drop((db, newer, older));
        (a, b)
    }

    #[tokio::test]
    async fn a_crash_during_a_background_checkpoint_loses_neither_generation() {
        for committed in [false, true] {
            let d = dir(&format!("redb-log-background-{committed}"));
            let (a, b) = crash_during_a_background_checkpoint(d.path(), committed);
            let store = RedbStore::open(d.path(), StoreOptions::default()).unwrap();
            let job_state = |rec: Option<JobRecord>| rec.map(|r| r.state);
            assert_eq!(
                job_state(store.get(a).await.unwrap()),
                Some(JobState::Succeeded),
                "committed: {committed}"
            );
            assert_eq!(
                job_state(store.get(b).await.unwrap()),
                Some(JobState::Queued),
                "committed: {committed}"
            );
            drop(store);
            // The open folded both logs into the redb file.
            remove_logs(d.path());
            let store = RedbStore::open(d.path(), StoreOptions::default()).unwrap();
            let stats = store.stats().await.unwrap();
            assert_eq!(
                (stats.ready, stats.succeeded),
                (1, 1),
                "committed: {committed}"
            );
        }
    }

    /// Enough changes to fill half the log make the writer checkpoint in
    /// the background and move to the other log file; after a clean stop
    /// the redb file alone holds every answered change.
    #[tokio::test]
    async fn checkpoints_switch_log_files_and_lose_nothing() {
        let d = dir("redb-log-switch");
        let store = RedbStore::open(d.path(), StoreOptions::default()).unwrap();
        let second = d.path().join(LOG_FILES[1]);
        let written = |path: &Path| std::fs::read(path).unwrap()[..4] != [0; 4];
        assert!(!written(&second), "a new store writes the first log file");
        let mut ids = Vec::new();
        let mut n = 0;
        while !written(&second) {
            let mut job = spec(n, 3);
            job.payload = serde_json::json!({ "pad": "x".repeat(4096) });
            ids.push(store.enqueue(NewJob::new(job)).await.unwrap().id());
            n += 1;
            assert!(
                n < 1_000,
                "no checkpoint moved the writer to the other log file"
            );
        }
        let (_, stats) = ack_stop_and_reopen_without_logs(store, d.path(), 10).await;
        assert_eq!((stats.ready, stats.succeeded), (ids.len() as u64 - 10, 10));
    }

    /// Pins that a batch wakes as many idle workers as it made jobs ready:
    /// one enqueue, one worker; an ack, none (each woken worker claims, so
    /// waking them all made all but one claim for nothing).
    #[tokio::test(flavor = "current_thread")]
    async fn a_batch_wakes_one_idle_worker_per_job_it_made_ready() {
        let d = dir("redb-wake");
        let store = Arc::new(RedbStore::open(d.path(), StoreOptions::default()).unwrap());
        let idle = Duration::from_secs(3600);
        let mut waiting: Vec<_> = (0..4)
            .map(|_| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.wait_for_work(idle).await })
            })
            .collect();
        // Every waiter registers before the first command is sent.
        tokio::task::yield_now().await;
        // A later command answers after the batch before it woke whom it
        // woke; the yields let the woken waiters finish.
        let settle = || async {
            store.stats().await.unwrap();
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
        };
        store.enqueue(NewJob::new(spec(1, 3))).await.unwrap();
        settle().await;
        assert_eq!(waiting.iter().filter(|w| w.is_finished()).count(), 1);
        waiting.retain(|w| !w.is_finished());
        let claims = store.claim(1, Duration::from_secs(30)).await.unwrap();
        store.ack(claims.jobs[0].lease).await.unwrap();
        settle().await;
        assert!(
            waiting.iter().all(|w| !w.is_finished()),
            "a claim and an ack make nothing ready: nobody is woken"
        );
        for w in waiting {
            w.abort();
        }
    }

    #[tokio::test]
    async fn jobs_only_in_the_log_are_there_after_a_crash() {
        let d = dir("redb-log-crash");
        let ids = crash_with_jobs_in_the_log(d.path(), 5);
        let store = RedbStore::open(d.path(), StoreOptions::default()).unwrap();
        for id in &ids {
            let rec = store.get(*id).await.unwrap();
            assert_eq!(rec.map(|r| r.state), Some(JobState::Queued), "job {id}");
        }
        drop(store);
        // The open folded the log into the redb file: without the log the
        // jobs are still there.
        remove_logs(d.path());
        let store = RedbStore::open(d.path(), StoreOptions::default()).unwrap();
        assert_eq!(store.stats().await.unwrap().ready, 5);
    }

    #[tokio::test]
    async fn without_the_log_the_redb_file_alone_misses_those_jobs() {
        // The control for the test above: the jobs really were only in
        // the log (so replaying it is what brought them back).
        let d = dir("redb-log-control");
        crash_with_jobs_in_the_log(d.path(), 5);
        remove_logs(d.path());
        let store = RedbStore::open(d.path(), StoreOptions::default()).unwrap();
        assert_eq!(store.stats().await.unwrap().ready, 0);
    }

    #[tokio::test]
    async fn a_clean_stop_checkpoints_and_every_answered_change_survives_reopening() {
        let d = dir("redb-log-reopen");
        let store = RedbStore::open(d.path(), StoreOptions::default()).unwrap();
        let mut ids = Vec::new();
        for n in 0..20 {
            ids.push(store.enqueue(NewJob::new(spec(n, 3))).await.unwrap().id());
        }
        // The last checkpoint emptied the log: the redb file holds it all.
        let (store, stats) = ack_stop_and_reopen_without_logs(store, d.path(), 5).await;
        assert_eq!((stats.ready, stats.succeeded), (15, 5));
        for id in &ids {
            assert!(store.get(*id).await.unwrap().is_some(), "job {id}");
        }
    }
}
