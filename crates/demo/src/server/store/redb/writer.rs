//! The redb store's writer thread: take a batch of commands, apply them to
//! the state machine, write the records they changed to the log, flush
//! it and answer the batch once it is durable (without group commit:
//! commit it into redb and answer it); and when the disk fails, refuse
//! without lying and come back by itself.
//!
//! # When a write, a flush or a checkpoint fails
//!
//! A failure (disk full, read-only filesystem, an I/O error) answers every
//! command of the batches it touched with [`StoreError::Unavailable`]:
//! the flusher answers everything handed to it (after a failed flush,
//! every batch not yet durable is answered with the failure), then the
//! writer undoes the state machine's changes of every batch not
//! durable from its journal, so memory matches the disk again and a job
//! whose enqueue failed is not shown as queued. It notes where the log's
//! last durable frame ends, so a reopen does not replay a frame that was
//! answered as failed. redb marks a database unusable after an I/O error
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

use super::flush::{Batch, Flusher, Mark, Progress};
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
    /// A failure for `reason`, to try again after [`FIRST_BACKOFF`].
    pub(super) fn new(reason: String) -> Self {
        Self {
            reason,
            retry_after: FIRST_BACKOFF,
        }
    }

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
    /// Failing since now, for `reason`; the first try after [`FIRST_BACKOFF`].
    fn new(reason: String) -> Self {
        Self {
            reason,
            next_try: Instant::now() + FIRST_BACKOFF,
            backoff: FIRST_BACKOFF,
        }
    }
}

/// What a failure says: an error found earlier (a failed flush) as it
/// was told, any other as it displays.
fn reason(e: &StoreError) -> String {
    match e {
        StoreError::Unavailable { reason, .. } => reason.clone(),
        e => e.to_string(),
    }
}

/// What [`Writer::persist`] did with a batch.
enum Persisted {
    /// Durable now: answer it.
    Durable,
    /// Handed to the flusher with its frame (`None`: nothing to write,
    /// but batches it may have seen are not durable).
    Handed(Option<Mark>),
}

/// The redb file and the two log files.
pub(super) struct Files {
    /// Shared with a checkpoint committing in the background.
    pub(super) db: Arc<Database>,
    /// The log file the writer writes in.
    pub(super) log: Log,
    /// The other one: its generation is the last checkpoint's, committed
    /// or still committing; the next checkpoint switches to it.
    pub(super) spare: Log,
}

/// What a checkpoint committing in the background returns: how long the
/// commit took, or why it failed.
type Checkpointing = std::thread::JoinHandle<Result<Duration, StoreError>>;

/// Everything the writer thread owns.
pub(super) struct Writer {
    /// The redb file and its logs; `None` while the storage is failing.
    pub(super) files: Option<Files>,
    /// The checkpoint committing in the background, if any.
    pub(super) checkpointing: Option<Checkpointing>,
    /// The data directory.
    pub(super) dir: PathBuf,
    /// Every change in the log since the last checkpoint, by record: what
    /// the next checkpoint writes into redb.
    pub(super) pending: BTreeMap<u64, Option<Vec<u8>>>,
    /// After a failure: the log's last durable frame (of the generation
    /// being written) ends here (a reopen replays no further).
    pub(super) replay_limit: Option<Mark>,
    pub(super) last_checkpoint: Instant,
    pub(super) options: StoreOptions,
    pub(super) core: Arc<Mutex<Core>>,
    pub(super) notify: Arc<Notify>,
    pub(super) rx: Receiver<Op>,
    pub(super) stats: Arc<CommitStats>,
    /// Flushes the log and answers its batches (group commit only).
    pub(super) flusher: Option<Flusher>,
    /// Batches applied so far (numbers them for the journal).
    pub(super) batches: u64,
    /// Where the time went (logged at `debug`).
    pub(super) timing: Timing,
}

impl Writer {
    /// The writer thread: take a batch, apply it, write it, flush it and
    /// answer it (or, without group commit, commit it and answer it).
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
        let mut batch = Vec::new();
        let mut writes = Vec::new();
        loop {
            batch.clear();
            if rt.block_on(self.rx.recv_many(&mut batch, limit)) == 0 {
                self.timing.report();
                self.stop(broken.is_none());
                return; // closed and empty: the store was dropped
            }
            if self.refused_while_broken(&mut broken, &mut batch) {
                continue;
            }
            if self.flusher.is_none() {
                self.stats.record(batch.len());
            }
            let started = Instant::now();
            self.timing.commands += batch.len() as u64;
            self.batches += 1;
            let number = self.batches;
            let now = clock.now_ms();
            let (replies, woken) = {
                let mut core = lock(&self.core);
                core.begin(number);
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
                (replies, core.take_woken())
            };
            let applied = Instant::now();
            let changed = !writes.is_empty();
            let persisted = self.persist(&mut writes);
            self.timing.add(started, applied, changed);
            match persisted {
                Ok(Persisted::Handed(frame)) => {
                    if let Some(flusher) = &mut self.flusher {
                        flusher.hand(Batch {
                            number,
                            frame,
                            replies,
                        });
                        // Flushed here, on this thread (see `flush`): what
                        // arrives meanwhile shares the next flush.
                        let progress = flusher.flush();
                        match progress.failed.clone() {
                            None => lock(&self.core).settle(progress.batch),
                            // Undo the batches the flush did not make
                            // durable, and reopen after the back-off.
                            Some(reason) if broken.is_none() => self.fail(reason, &mut broken),
                            Some(_) => {}
                        }
                    }
                }
                Ok(Persisted::Durable) => {
                    lock(&self.core).settle(number);
                    for reply in replies {
                        reply(None);
                    }
                }
                Err(e) => {
                    let reason = reason(&e);
                    self.fail(reason.clone(), &mut broken);
                    let failure = Failure::new(reason);
                    for reply in replies {
                        reply(Some(&failure));
                    }
                }
            }
            if broken.is_none() {
                // Workers may claim what was just enqueued: their claim is
                // answered after this batch's flush.
                wake(&self.notify, woken);
            }
            if broken.is_none() {
                let started = Instant::now();
                match self.checkpoint(false) {
                    Ok(true) => self.timing.checkpointed(started.elapsed()),
                    Ok(false) => {}
                    Err(e) => self.fail(reason(&e), &mut broken),
                }
            }
        }
    }

    /// The storage failed (`reason`): has the flusher answer everything
    /// handed, undoes in memory every batch not durable, notes
    /// how far the log is good for the reopen's replay, and closes the
    /// files until the back-off has passed.
    fn fail(&mut self, reason: String, broken: &mut Option<Broken>) {
        // A checkpoint committing in the background finishes first (if it
        // fails too, the reopen replays what it was committing).
        let _ = self.joined(true);
        let progress = self.flusher.as_mut().map(|f| f.flush().clone());
        let mut core = lock(&self.core);
        if let Some(p) = &progress {
            core.settle(p.batch);
        }
        core.rollback();
        drop(core);
        if let Some(files) = &self.files {
            // Frames after the last durable one may be partly on disk and
            // were answered as failed: a reopen must not replay them.
            let generation = files.log.generation();
            let end = progress
                .and_then(|p| p.mark)
                .filter(|m| m.generation == generation)
                .map_or(0, |m| m.end);
            self.replay_limit = Some(Mark { generation, end });
        }
        // redb refuses every call after an I/O error until the database is
        // reopened: close it now, reopen after the back-off.
        self.files = None;
        *broken = Some(Broken::new(reason));
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

    /// Makes `writes` durable or hands them on to be: one log frame for
    /// the flusher, or (without group commit, or when the frame does not
    /// fit) a commit into redb that includes them. Takes the writes'
    /// bytes.
    fn persist(&mut self, writes: &mut Vec<Change>) -> Result<Persisted, StoreError> {
        let Some(Files { db, log, .. }) = &mut self.files else {
            return Err(StoreError::Closed);
        };
        let Some(flusher) = &self.flusher else {
            // The naive baseline: one redb commit per command, no log.
            commit(db, writes.iter().map(|(s, c)| (*s, c.as_deref())), None)?;
            return Ok(Persisted::Durable);
        };
        if writes.is_empty() {
            // Nothing to write; the answers may still depend on batches
            // whose flush just failed (an enqueue that found its
            // idempotency key in one).
            return Ok(if flusher.all_durable() {
                Persisted::Durable
            } else {
                Persisted::Handed(None)
            });
        }
        if let Some(end) = log.write(writes).map_err(StoreError::storage)? {
            let frame = Mark {
                generation: log.generation(),
                end,
            };
            self.pending.extend(writes.drain(..));
            return Ok(Persisted::Handed(Some(frame)));
        }
        self.drained()?;
        self.fold(writes)?;
        Ok(Persisted::Durable)
    }

    /// Has the flusher answer everything handed; the flush failure if
    /// there was one.
    fn drained(&mut self) -> Result<(), StoreError> {
        match self.flusher.as_mut().map(Flusher::flush) {
            Some(Progress {
                failed: Some(reason),
                ..
            }) => Err(StoreError::Unavailable {
                retry_after: FIRST_BACKOFF,
                reason: reason.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Checkpoints when there are changes and they have waited
    /// [`CHECKPOINT_EVERY`], the log is half full, or `now` says so; says
    /// whether it did.
    ///
    /// A checkpoint is handed to a thread of its own, so the writer goes
    /// on at once (in the other log file, in the next generation) while
    /// the changes are committed into redb; `now` (the writer stopping)
    /// commits them here instead. While one checkpoint is still committing
    /// the next waits, and the writer goes on in the log it has.
    fn checkpoint(&mut self, now: bool) -> Result<bool, StoreError> {
        self.joined(now)?;
        let Some(files) = &self.files else {
            return Ok(false);
        };
        if self.pending.is_empty()
            || self.checkpointing.is_some()
            || (!now
                && self.last_checkpoint.elapsed() < CHECKPOINT_EVERY
                && files.log.end() < CAPACITY / 2)
        {
            return Ok(false);
        }
        // Only what is durable in the log goes into redb: a frame whose
        // flush failed was answered as failed. Draining also means the
        // flusher has nothing of this file left when it moves to the next.
        self.drained()?;
        if now {
            self.fold(&[])?;
        } else {
            self.hand_off()?;
        }
        Ok(true)
    }

    /// Starts committing every pending change into redb with the log's
    /// next generation on a thread of its own, and moves the writer (and
    /// the flusher) to the other log file in that generation. The file
    /// left behind keeps its frames until the commit is done: a crash
    /// before then replays them and then the new file's (see
    /// `open_files`). Call it drained, with no checkpoint in flight.
    fn hand_off(&mut self) -> Result<(), StoreError> {
        let Some(files) = &mut self.files else {
            return Err(StoreError::Closed);
        };
        let next = files.log.generation() + 1;
        // The spare file was last written two generations ago; the
        // checkpoint that committed that generation has been joined.
        let handle = files.spare.flusher().map_err(StoreError::storage)?;
        std::mem::swap(&mut files.log, &mut files.spare);
        files.log.restart(next);
        if let Some(flusher) = &mut self.flusher {
            flusher.reset(Arc::new(handle));
        }
        let pending = std::mem::take(&mut self.pending);
        let db = Arc::clone(&files.db);
        let thread = std::thread::Builder::new()
            .name("job-store-checkpoint".into())
            .spawn(move || {
                let started = Instant::now();
                let all = pending.iter().map(|(s, c)| (*s, c.as_deref()));
                commit(&db, all, Some(next)).map(|()| started.elapsed())
            })
            .map_err(StoreError::storage)?;
        self.checkpointing = Some(thread);
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    /// Joins the checkpoint committing in the background if it is done
    /// (or, with `wait`, once it is): its failure, if it failed.
    fn joined(&mut self, wait: bool) -> Result<(), StoreError> {
        let Some(thread) = self.checkpointing.take() else {
            return Ok(());
        };
        if !wait && !thread.is_finished() {
            self.checkpointing = Some(thread);
            return Ok(());
        }
        let took = thread.join().unwrap_or_else(|_| {
            Err(StoreError::Unavailable {
                retry_after: FIRST_BACKOFF,
                reason: "the job store's checkpoint thread panicked".into(),
            })
        })?;
        self.timing.committed(took);
        Ok(())
    }

    /// The checkpoint itself, on the writer thread: commits every pending
    /// change and then `extra` (a batch that did not fit in the log) into
    /// redb with the log's next generation, and starts the log over.
    fn fold(&mut self, extra: &[Change]) -> Result<(), StoreError> {
        self.joined(true)?;
        let Some(Files { db, log, .. }) = &mut self.files else {
            return Err(StoreError::Closed);
        };
        let next = log.generation() + 1;
        let all = self
            .pending
            .iter()
            .map(|(s, c)| (*s, c.as_deref()))
            .chain(extra.iter().map(|(s, c)| (*s, c.as_deref())));
        commit(db, all, Some(next))?;
        // Everything of both files is in redb now: this one starts over.
        log.restart(next);
        self.pending.clear();
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    /// The writer stops (`clean`: the storage is not failing): answers
    /// what is in flight and checkpoints.
    fn stop(&mut self, clean: bool) {
        let failed = self.drained().is_err();
        if clean
            && !failed
            && let Err(e) = self.checkpoint(true)
        {
            tracing::warn!(error = %e, "job store: the last checkpoint failed; the log keeps the changes for the next start");
        }
        if let Err(e) = self.joined(true) {
            tracing::warn!(error = %e, "job store: a checkpoint failed; the log keeps the changes for the next start");
        }
        self.flusher = None;
    }

    /// Opens the files again, replays the logs and reloads the state.
    fn reopen(&mut self) -> Result<(), StoreError> {
        self.files = None;
        let (files, recs) = open_files(&self.dir, self.replay_limit)?;
        // The logs are folded into the file: nothing is pending.
        self.replay_limit = None;
        self.pending.clear();
        self.last_checkpoint = Instant::now();
        if let Some(flusher) = &mut self.flusher {
            flusher.reset(Arc::new(files.log.flusher().map_err(StoreError::storage)?));
        }
        *lock(&self.core) = Core::load(&self.options, recs).journaled();
        self.files = Some(files);
        tracing::info!(dir = %self.dir.display(), "job store files reopened");
        Ok(())
    }
}

/// How often the writer logs its timing (at `debug`).
const TIMING_EVERY: Duration = Duration::from_secs(5);

/// Where the writer's time went, logged at `debug` every [`TIMING_EVERY`]
/// and when it stops: what a profile of the server under load needs to
/// tell the CPU's share from the fsync's.
#[derive(Debug)]
pub(super) struct Timing {
    since: Instant,
    batches: u64,
    commands: u64,
    commits: u64,
    apply: Duration,
    commit: Duration,
    /// Checkpoints started, and how long the writer waited for them.
    checkpoints: u64,
    checkpoint: Duration,
    checkpoint_max: Duration,
    /// Background checkpoint commits joined, and how long they took.
    committed: u64,
    committing: Duration,
    committing_max: Duration,
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
            checkpoints: 0,
            checkpoint: Duration::ZERO,
            checkpoint_max: Duration::ZERO,
            committed: 0,
            committing: Duration::ZERO,
            committing_max: Duration::ZERO,
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

    /// Counts a checkpoint the writer spent `took` on (the batch after it
    /// waited that long).
    fn checkpointed(&mut self, took: Duration) {
        self.checkpoints += 1;
        self.checkpoint += took;
        self.checkpoint_max = self.checkpoint_max.max(took);
    }

    /// Counts a background checkpoint whose commit took `took`.
    fn committed(&mut self, took: Duration) {
        self.committed += 1;
        self.committing += took;
        self.committing_max = self.committing_max.max(took);
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
            checkpoints = self.checkpoints,
            mean_checkpoint_us = mean(self.checkpoint, self.checkpoints),
            max_checkpoint_us = mean(self.checkpoint_max, 1),
            background_commits = self.committed,
            mean_background_commit_us = mean(self.committing, self.committed),
            max_background_commit_us = mean(self.committing_max, 1),
            "job store writer timing"
        );
    }
}

/// Wakes as many idle workers as `jobs` became waiting: each woken worker
/// claims, so waking every idle worker for a batch that made one job
/// ready (or none: an ack) had all but one claim for nothing. Past
/// [`WAKE_ALL`] jobs, everyone.
fn wake(notify: &tokio::sync::Notify, jobs: u64) {
    if jobs >= WAKE_ALL {
        notify.notify_waiters();
    } else {
        // With fewer workers waiting, the rest are one kept permit: the
        // next worker to wait looks at once.
        for _ in 0..jobs {
            notify.notify_one();
        }
    }
}

/// Jobs made waiting by one batch past which every idle worker is woken.
const WAKE_ALL: u64 = 64;

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
