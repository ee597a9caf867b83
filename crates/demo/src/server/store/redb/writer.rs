//! The redb store's writer thread: take a batch of commands, apply them to
//! the state machine, commit the records they changed in one durable
//! transaction, answer them; and when the disk fails, refuse without lying
//! and come back by itself.
//!
//! # When a commit fails
//!
//! A failed commit (disk full, read-only filesystem, an I/O error) answers
//! every command of its batch with [`StoreError::Unavailable`], and the
//! state machine's changes for the batch are undone from its journal, so
//! memory matches the disk again and a job whose enqueue failed is not
//! shown as queued. redb marks a database unusable after an I/O error
//! (every later call fails with `StorageError::PreviousIo`: "close and
//! re-open the database"), so the writer drops it. Commands that arrive
//! before the back-off has passed are refused at once without touching the
//! state; the first one after it reopens the file (redb repairs it if it
//! was not closed cleanly), reloads the state from what is on disk, and
//! goes on. The back-off doubles from [`FIRST_BACKOFF`] up to
//! [`MAX_BACKOFF`] while reopening or committing keeps failing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use evenkeel_backpressure::Receiver;
use redb::{Database, Durability};
use tokio::sync::Notify;

use super::gather::Gather;
use super::log::{CAPACITY, Change, Log};
use super::{
    CHECKPOINT_EVERY, CommitStats, JOBS, LOG_GENERATION, META, WRITER_QUEUE, encode, lock,
    open_files,
};
use crate::server::store::StoreError;
use crate::server::store::core::Core;
use crate::server::store::types::StoreOptions;

/// The first pause after a failure before the store tries the disk again.
pub(super) const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between two tries.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Why the writer refuses a command, handed to every reply of a batch.
#[derive(Debug)]
pub(super) struct Failure {
    reason: String,
    retry_after: Duration,
}

impl Failure {
    /// The error one command gets.
    pub(super) fn error(&self) -> StoreError {
        StoreError::Unavailable {
            retry_after: self.retry_after,
            reason: self.reason.clone(),
        }
    }
}

/// Sends a command's answer, or the batch's failure instead.
pub(super) type Reply = Box<dyn FnOnce(Option<&Failure>) + Send>;
/// A command: applied to the state (`Some`), or refused unapplied (`None`).
pub(super) type Op = Box<dyn FnOnce(Option<(&mut Core, u64)>) -> Reply + Send>;

/// The storage is failing: since when the writer waits, and how long.
#[derive(Debug)]
struct Broken {
    reason: String,
    next_try: Instant,
    backoff: Duration,
}

impl Broken {
    /// Failing since now, for `error`; the first try after [`FIRST_BACKOFF`].
    fn new(error: &StoreError) -> Self {
        Self {
            reason: error.to_string(),
            next_try: Instant::now() + FIRST_BACKOFF,
            backoff: FIRST_BACKOFF,
        }
    }
}

/// Everything the writer thread owns.
pub(super) struct Writer {
    /// The redb file and its log; `None` while the storage is failing.
    pub(super) files: Option<(Database, Log)>,
    /// The data directory.
    pub(super) dir: PathBuf,
    /// Every change in the log since the last checkpoint, by record: what
    /// the next checkpoint writes into redb.
    pub(super) pending: BTreeMap<u64, Option<Vec<u8>>>,
    /// After a failed append: the log's good frames end here.
    pub(super) replay_limit: Option<u64>,
    pub(super) last_checkpoint: Instant,
    pub(super) options: StoreOptions,
    pub(super) core: Arc<Mutex<Core>>,
    pub(super) notify: Arc<Notify>,
    pub(super) rx: Receiver<Op>,
    pub(super) stats: Arc<CommitStats>,
}

impl Writer {
    /// The writer thread: take a batch, apply it, commit it, answer it.
    pub(super) fn run(mut self) {
        // The queue's receiving side is async; this thread drives it on a
        // tiny runtime of its own and blocks only between batches.
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().build() else {
            tracing::error!("the job store writer could not start; the store is closed");
            return;
        };
        let limit = if self.options.group_commit {
            WRITER_QUEUE
        } else {
            1
        };
        let clock = Arc::clone(&self.options.clock);
        let mut broken: Option<Broken> = None;
        let mut timing = Timing::default();
        let mut batch = Vec::new();
        let mut writes = Vec::new();
        let mut gather = Gather::default();
        loop {
            batch.clear();
            if rt.block_on(self.rx.recv_many(&mut batch, limit)) == 0 {
                timing.report();
                if broken.is_none() {
                    self.close();
                }
                return; // closed and empty: the store was dropped
            }
            if self.options.group_commit && broken.is_none() {
                gather.fill(&self.rx, &mut batch, limit);
            }
            let size = batch.len();
            self.stats.record(size);
            if self.refused_while_broken(&mut broken, &mut batch) {
                continue;
            }
            let started = Instant::now();
            timing.commands += batch.len() as u64;
            let now = clock.now_ms();
            let replies = {
                let mut core = lock(&self.core);
                let replies: Vec<Reply> = batch
                    .drain(..)
                    .map(|op| op(Some((&mut core, now))))
                    .collect();
                core.prune(now);
                writes.clear();
                for (id, seq) in core.take_dirty() {
                    writes.push((seq, core.rec(id).map(encode)));
                }
                // In key order: new jobs append at the right edge of the
                // tree, claims and acks touch its oldest (left) end.
                writes.sort_unstable_by_key(|(seq, _)| *seq);
                replies
            };
            let applied = Instant::now();
            let changed = !writes.is_empty();
            let failed = if writes.is_empty() {
                None
            } else {
                self.persist(&mut writes).err()
            };
            timing.add(started, applied, changed);
            gather.learn(size, applied.elapsed());
            let mut core = lock(&self.core);
            let failure = if let Some(e) = failed {
                core.rollback();
                drop(core);
                // redb refuses every call after an I/O error until the
                // database is reopened: close it now, reopen after the
                // back-off.
                self.files = None;
                broken = Some(Broken::new(&e));
                Some(Failure {
                    reason: e.to_string(),
                    retry_after: FIRST_BACKOFF,
                })
            } else {
                core.settle();
                drop(core);
                None
            };
            for reply in replies {
                reply(failure.as_ref());
            }
            if failure.is_none() && changed {
                self.notify.notify_waiters();
            }
            if broken.is_none()
                && let Err(e) = self.checkpoint(false)
            {
                // Everything answered is in the log: nothing to undo, but
                // the file must be reopened (and the log replayed).
                self.files = None;
                broken = Some(Broken::new(&e));
            }
        }
    }

    /// While the storage is failing: refuses `batch` (and keeps
    /// `broken`) unless the back-off has passed and the files reopen.
    fn refused_while_broken(&mut self, broken: &mut Option<Broken>, batch: &mut Vec<Op>) -> bool {
        let Some(b) = broken else {
            return false;
        };
        let now = Instant::now();
        let ready = now >= b.next_try;
        if ready && let Err(e) = self.reopen() {
            b.backoff = (b.backoff * 2).min(MAX_BACKOFF);
            b.next_try = now + b.backoff;
            b.reason = e.to_string();
        }
        if self.files.is_none() || !ready {
            let failure = Failure {
                reason: b.reason.clone(),
                retry_after: b.next_try.saturating_duration_since(now),
            };
            for op in batch.drain(..) {
                op(None)(Some(&failure));
            }
            return true;
        }
        *broken = None;
        false
    }

    /// Makes `writes` durable: one log frame, or (without group commit,
    /// or when the frame does not fit) a checkpoint that includes them.
    /// Takes the writes' bytes.
    fn persist(&mut self, writes: &mut Vec<Change>) -> Result<(), StoreError> {
        let Some((db, log)) = &mut self.files else {
            return Err(StoreError::Closed);
        };
        if !self.options.group_commit {
            // The naive baseline: one redb commit per command, no log.
            return commit(db, writes.iter().map(|(s, c)| (*s, c.as_deref())), None);
        }
        match log.append(writes) {
            Ok(true) => {
                self.pending.extend(writes.drain(..));
                return Ok(());
            }
            Ok(false) => {}
            Err(e) => {
                // The frame may be partly on disk: a reopen must not
                // replay it (its commands are answered as failed).
                self.replay_limit = Some(log.end());
                return Err(StoreError::storage(e));
            }
        }
        self.fold(writes)
    }

    /// Checkpoints when there are changes and they have waited
    /// [`CHECKPOINT_EVERY`], the log is half full, or `now` says so.
    fn checkpoint(&mut self, now: bool) -> Result<(), StoreError> {
        let Some((_, log)) = &self.files else {
            return Ok(());
        };
        if self.pending.is_empty()
            || (!now
                && self.last_checkpoint.elapsed() < CHECKPOINT_EVERY
                && log.end() < CAPACITY / 2)
        {
            return Ok(());
        }
        self.fold(&[])
    }

    /// The checkpoint itself: commits every pending change and then
    /// `extra` (a batch that did not fit in the log) into redb with the
    /// log's next generation, and starts the log over.
    fn fold(&mut self, extra: &[Change]) -> Result<(), StoreError> {
        let Some((db, log)) = &mut self.files else {
            return Err(StoreError::Closed);
        };
        let next = log.generation() + 1;
        let all = self
            .pending
            .iter()
            .map(|(s, c)| (*s, c.as_deref()))
            .chain(extra.iter().map(|(s, c)| (*s, c.as_deref())));
        commit(db, all, Some(next))?;
        log.restart(next);
        self.pending.clear();
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    /// Opens the files again, replays the log and reloads the state.
    fn reopen(&mut self) -> Result<(), StoreError> {
        self.files = None;
        let (db, log, recs) = open_files(&self.dir, self.replay_limit)?;
        // The log is folded into the file: nothing is pending.
        self.replay_limit = None;
        self.pending.clear();
        self.last_checkpoint = Instant::now();
        *lock(&self.core) = Core::load(&self.options, recs).journaled();
        self.files = Some((db, log));
        tracing::info!(dir = %self.dir.display(), "job store files reopened");
        Ok(())
    }

    /// The last checkpoint, when the writer stops: the log is left empty
    /// (not needed for safety: the next open replays it).
    fn close(&mut self) {
        if let Err(e) = self.checkpoint(true) {
            tracing::warn!(error = %e, "job store: the last checkpoint failed; the log keeps the changes for the next start");
        }
    }
}

/// How often the writer logs its timing (at `debug`).
const TIMING_EVERY: Duration = Duration::from_secs(5);

/// Where the writer's time went, logged at `debug` every [`TIMING_EVERY`]
/// and when it stops: what a profile of the server under load needs to
/// tell the CPU's share from the fsync's.
#[derive(Debug)]
struct Timing {
    since: Instant,
    batches: u64,
    commands: u64,
    commits: u64,
    apply: Duration,
    commit: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            since: Instant::now(),
            batches: 0,
            commands: 0,
            commits: 0,
            apply: Duration::ZERO,
            commit: Duration::ZERO,
        }
    }
}

impl Timing {
    /// Counts a batch; logs and starts over every [`TIMING_EVERY`].
    fn add(&mut self, started: Instant, applied: Instant, committed: bool) {
        self.batches += 1;
        self.apply += applied - started;
        if committed {
            self.commits += 1;
            self.commit += applied.elapsed();
        }
        if self.since.elapsed() >= TIMING_EVERY {
            self.report();
            *self = Self::default();
        }
    }

    fn report(&self) {
        let mean = |total: Duration, n: u64| {
            u64::try_from(total.as_micros()).unwrap_or(u64::MAX) / n.max(1)
        };
        if self.batches == 0 {
            return;
        }
        tracing::debug!(
            batches = self.batches,
            commands = self.commands,
            commits = self.commits,
            mean_batch = self.commands / self.batches.max(1),
            mean_apply_us = mean(self.apply, self.batches),
            mean_commit_us = mean(self.commit, self.commits),
            "job store writer timing"
        );
    }
}

/// Writes (or deletes) the changed records in one durable transaction,
/// and with `generation` the log's new generation (a checkpoint).
pub(super) fn commit<'a>(
    db: &Database,
    writes: impl Iterator<Item = (u64, Option<&'a [u8]>)>,
    generation: Option<u64>,
) -> Result<(), StoreError> {
    let mut txn = db.begin_write().map_err(StoreError::storage)?;
    txn.set_durability(Durability::Immediate);
    {
        let mut jobs = txn.open_table(JOBS).map_err(StoreError::storage)?;
        for (id, value) in writes {
            match value {
                Some(bytes) => jobs.insert(id, bytes).map(drop),
                None => jobs.remove(id).map(drop),
            }
            .map_err(StoreError::storage)?;
        }
    }
    if let Some(generation) = generation {
        let mut meta = txn.open_table(META).map_err(StoreError::storage)?;
        meta.insert(LOG_GENERATION, generation)
            .map_err(StoreError::storage)?;
    }
    txn.commit().map_err(StoreError::storage)
}
