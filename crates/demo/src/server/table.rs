//! The job store: one record per accepted job, and the accounting that
//! proves none was lost.
//!
//! # The invariant
//!
//! Every job the server accepted (a 202, or a job restored from the spill
//! file) ends in exactly one terminal state: `succeeded`, `dead`, or
//! `spilled`. The store is where that is decided. Every state change is a
//! compare-and-set under one mutex: a worker may only move a record that is
//! still live, and [`JobStore::spill_live`] turns every live record into
//! `spilled` in one step. So when the drain deadline spills a job while a
//! worker is still finishing it, exactly one of them wins; the loser's
//! update is refused and counted nowhere. The counters in [`Accounting`] are
//! bumped only by those winning transitions, so
//! `accepted == succeeded + dead + spilled + live` holds at every instant,
//! and `live` is zero once the process has drained or spilled.
//!
//! # Retention
//!
//! Live records (queued, running, failed-and-waiting-to-retry) are never
//! forgotten: they are bounded by the queue capacity plus the workers
//! anyway. Finished records are kept in a FIFO of at most
//! `retain_finished`; when a new record finishes past that, the oldest
//! finished record is forgotten and `GET /jobs/{id}` answers 404 for it.
//!
//! # Waiting for the drain
//!
//! A [`tokio::sync::watch`] channel carries the number of live records, so
//! the shutdown sequence can wait for "all accepted work is finished"
//! without polling.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::watch;

use super::job::{JobId, JobSpec};
use super::spill::SpilledJob;

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting in the queue for a worker.
    Queued,
    /// An attempt is running.
    Running,
    /// An attempt failed; the job waits for its retry.
    Failed,
    /// Finished successfully (terminal).
    Succeeded,
    /// Exhausted its attempts or its deadline, or was shed (terminal).
    Dead,
    /// Written to the spill file at shutdown (terminal for this process).
    Spilled,
}

impl JobState {
    /// Whether the job is still the server's to finish.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Queued | Self::Running | Self::Failed)
    }
}

/// What `GET /jobs/{id}` shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JobView {
    /// The job id.
    pub id: JobId,
    /// Its state.
    pub state: JobState,
    /// Attempts started so far (across restarts, for a restored job).
    pub attempts: u32,
    /// The last error, if an attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The final accounting: how many jobs were accepted and how each ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Accounting {
    /// Jobs this process took responsibility for: 202 answers plus
    /// `restored`.
    pub accepted: u64,
    /// Jobs among `accepted` that came from the spill file at start.
    pub restored: u64,
    /// Jobs that succeeded.
    pub succeeded: u64,
    /// Jobs that died (attempts or deadline exhausted, or shed).
    pub dead: u64,
    /// Jobs written to the spill file.
    pub spilled: u64,
    /// Retries (attempts after the first) across all jobs.
    pub retries: u64,
}

impl Accounting {
    /// Accepted jobs that are neither succeeded, dead nor spilled: the ones
    /// still live, or, after shutdown, the ones lost (must be 0).
    pub fn unaccounted(&self) -> u64 {
        self.accepted
            .saturating_sub(self.succeeded + self.dead + self.spilled)
    }
}

#[derive(Debug)]
struct Record {
    spec: Arc<JobSpec>,
    state: JobState,
    attempts: u32,
    error: Option<String>,
    /// Admission order, so the spill keeps the queue order.
    seq: u64,
}

#[derive(Debug)]
struct Inner {
    records: HashMap<JobId, Record>,
    finished: VecDeque<JobId>,
    retain_finished: usize,
    next_seq: u64,
    live: usize,
    counts: Accounting,
}

/// The job records and the accounting; cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct JobStore {
    inner: Arc<Mutex<Inner>>,
    live_tx: Arc<watch::Sender<usize>>,
}

impl JobStore {
    /// An empty store that remembers at most `retain_finished` finished
    /// records.
    pub fn new(retain_finished: usize) -> Self {
        let (live_tx, _) = watch::channel(0);
        Self {
            inner: Arc::new(Mutex::new(Inner {
                records: HashMap::new(),
                finished: VecDeque::new(),
                retain_finished,
                next_seq: 0,
                live: 0,
                counts: Accounting::default(),
            })),
            live_tx: Arc::new(live_tx),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave a record half
        // updated (every update is a few field writes), so a poisoned lock
        // is still consistent: take it.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn publish_live(&self, live: usize) {
        self.live_tx.send_replace(live);
    }

    /// Records a newly accepted job as queued.
    pub fn insert(&self, id: JobId, spec: JobSpec) {
        self.insert_with(id, spec, 0, false);
    }

    /// Records a job restored from the spill file as queued, keeping its
    /// attempt count.
    pub fn restore(&self, job: SpilledJob) {
        self.insert_with(job.id, job.spec, job.attempts, true);
    }

    fn insert_with(&self, id: JobId, spec: JobSpec, attempts: u32, restored: bool) {
        let mut inner = self.lock();
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let record = Record {
            spec: Arc::new(spec),
            state: JobState::Queued,
            attempts,
            error: None,
            seq,
        };
        if let Some(old) = inner.records.insert(id, record) {
            // An id seen before (a spill file loaded twice, or a 1 in 2^64
            // collision): the old record is replaced, so it must leave the
            // books it was in.
            if old.state.is_live() {
                inner.live -= 1;
            }
            inner.finished.retain(|f| *f != id);
        }
        inner.counts.accepted += 1;
        inner.counts.restored += u64::from(restored);
        inner.live += 1;
        let live = inner.live;
        drop(inner);
        self.publish_live(live);
    }

    /// Takes back a record that [`insert`](Self::insert) just wrote for a
    /// job whose admission then failed (the client got an error, not a 202):
    /// it leaves the books as if it had never been accepted.
    pub fn withdraw(&self, id: JobId) {
        let mut inner = self.lock();
        if inner
            .records
            .get(&id)
            .is_some_and(|r| r.state == JobState::Queued)
        {
            inner.records.remove(&id);
            inner.counts.accepted -= 1;
            inner.live -= 1;
            let live = inner.live;
            drop(inner);
            self.publish_live(live);
        }
    }

    /// Moves a queued (or failed) job to running for its next attempt and
    /// returns its spec and the attempts started so far; `None` when the
    /// job is not live (already spilled, say): the worker skips it.
    pub fn claim(&self, id: JobId) -> Option<(Arc<JobSpec>, u32)> {
        let mut inner = self.lock();
        let record = inner.records.get_mut(&id)?;
        if !record.state.is_live() {
            return None;
        }
        record.state = JobState::Running;
        Some((Arc::clone(&record.spec), record.attempts))
    }

    /// Counts the start of an attempt; returns the attempt number (1-based,
    /// across restarts), or `None` when the job is no longer live.
    pub fn begin_attempt(&self, id: JobId) -> Option<u32> {
        let mut inner = self.lock();
        let record = inner.records.get_mut(&id)?;
        if !record.state.is_live() {
            return None;
        }
        record.state = JobState::Running;
        record.attempts += 1;
        let attempts = record.attempts;
        if attempts > 1 {
            inner.counts.retries += 1;
        }
        Some(attempts)
    }

    /// Marks a failed attempt; the job waits for its retry.
    pub fn attempt_failed(&self, id: JobId, error: String) {
        let mut inner = self.lock();
        if let Some(record) = inner.records.get_mut(&id)
            && record.state.is_live()
        {
            record.state = JobState::Failed;
            record.error = Some(error);
        }
    }

    /// Puts a live job back to queued (after a worker panic); returns
    /// whether it was live.
    pub fn requeue(&self, id: JobId, error: String) -> bool {
        let mut inner = self.lock();
        match inner.records.get_mut(&id) {
            Some(record) if record.state.is_live() => {
                record.state = JobState::Queued;
                record.error = Some(error);
                true
            }
            _ => false,
        }
    }

    /// Finishes a live job as succeeded; returns whether this call did it.
    pub fn succeed(&self, id: JobId) -> bool {
        self.finish(id, JobState::Succeeded, None)
    }

    /// Finishes a live job as dead with its last error; returns whether this
    /// call did it.
    pub fn kill(&self, id: JobId, error: String) -> bool {
        self.finish(id, JobState::Dead, Some(error))
    }

    fn finish(&self, id: JobId, state: JobState, error: Option<String>) -> bool {
        let mut inner = self.lock();
        let Some(record) = inner.records.get_mut(&id) else {
            return false;
        };
        if !record.state.is_live() {
            return false;
        }
        record.state = state;
        // A success clears the error of a failed earlier attempt; a death
        // records its last one.
        record.error = error;
        match state {
            JobState::Succeeded => inner.counts.succeeded += 1,
            _ => inner.counts.dead += 1,
        }
        inner.live -= 1;
        inner.finished.push_back(id);
        evict(&mut inner);
        let live = inner.live;
        drop(inner);
        self.publish_live(live);
        true
    }

    /// Marks every live job spilled, in admission order, and returns them
    /// for the spill file. After this call no worker can finish any of
    /// them.
    pub fn spill_live(&self) -> Vec<SpilledJob> {
        let mut inner = self.lock();
        let mut live: Vec<(u64, SpilledJob)> = inner
            .records
            .iter_mut()
            .filter(|(_, r)| r.state.is_live())
            .map(|(id, r)| {
                r.state = JobState::Spilled;
                let job = SpilledJob {
                    id: *id,
                    attempts: r.attempts,
                    spec: JobSpec::clone(&r.spec),
                };
                (r.seq, job)
            })
            .collect();
        live.sort_by_key(|(seq, _)| *seq);
        let ids: Vec<JobId> = live.iter().map(|(_, j)| j.id).collect();
        inner.counts.spilled += ids.len() as u64;
        inner.live -= ids.len();
        inner.finished.extend(ids);
        evict(&mut inner);
        drop(inner);
        self.publish_live(0);
        live.into_iter().map(|(_, job)| job).collect()
    }

    /// What `GET /jobs/{id}` shows, or `None` for an unknown or forgotten
    /// id.
    pub fn get(&self, id: JobId) -> Option<JobView> {
        let inner = self.lock();
        inner.records.get(&id).map(|r| JobView {
            id,
            state: r.state,
            attempts: r.attempts,
            error: r.error.clone(),
        })
    }

    /// The accounting so far.
    pub fn accounting(&self) -> Accounting {
        self.lock().counts
    }

    /// Jobs still live (queued, running or waiting to retry).
    pub fn live(&self) -> usize {
        self.lock().live
    }

    /// Records held (live plus retained finished).
    pub fn records(&self) -> usize {
        self.lock().records.len()
    }

    /// Resolves once no job is live.
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe: it only watches a counter.
    pub async fn all_finished(&self) {
        let mut rx = self.live_tx.subscribe();
        // The sender lives in `self`, so the channel cannot close while we
        // wait; an error would only mean "no more updates": stop waiting.
        let _ = rx.wait_for(|live| *live == 0).await;
    }
}

fn evict(inner: &mut Inner) {
    while inner.finished.len() > inner.retain_finished {
        if let Some(old) = inner.finished.pop_front() {
            inner.records.remove(&old);
        }
    }
}
