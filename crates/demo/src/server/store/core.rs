//! The state machine the in-memory and redb backends share.
//!
//! [`Core`] holds every record plus three ordered indexes: jobs waiting, by
//! the time they become ready (then admission order); leases, by expiry;
//! finished jobs, by finish time (for pruning). Every command is a plain
//! function of the current state and the clock reading `now` (ms), so it is
//! exact to test. A command that changes a record marks its id dirty (with
//! its admission sequence number, the record's key on disk); the redb
//! backend writes the dirty records (or deletes the pruned ones) in
//! the commit that follows, before any command is answered.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

mod journal;

use super::error::StoreError;
use super::types::{
    Claimed, Claims, Enqueued, JobRecord, JobState, Lease, Nacked, NewJob, StoreOptions, StoreStats,
};
use crate::server::job::{JobId, JobSpec};

/// Where a stored job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Stage {
    Waiting,
    Leased,
    Succeeded,
    Dead,
}

/// One job as stored (the redb value, JSON-encoded).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Rec {
    pub(crate) id: JobId,
    pub(crate) seq: u64,
    /// Dropped once the job is finished: the outcome is kept, not the job.
    pub(crate) spec: Option<JobSpec>,
    pub(crate) max_attempts: u32,
    pub(crate) stage: Stage,
    pub(crate) attempts: u32,
    pub(crate) fence: u64,
    pub(crate) error: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) enqueued_at: u64,
    /// Waiting: when it is ready. Leased: when the lease expires.
    /// Finished: when it finished.
    pub(crate) at: u64,
}

/// The state of a store; see the module docs.
#[derive(Debug)]
pub(crate) struct Core {
    /// Boxed: the map grows with every accepted job (finished ones stay
    /// until the retention prunes them), and each time it grows it moves
    /// every entry; a record inline made that move ~20x the bytes, and it
    /// was the largest single cost of an enqueue under load.
    recs: HashMap<JobId, Box<Rec>>,
    waiting: BTreeSet<(u64, u64, JobId)>,
    leased: BTreeSet<(u64, JobId)>,
    finished: BTreeSet<(u64, JobId)>,
    keys: HashMap<String, JobId>,
    next_seq: u64,
    succeeded: u64,
    dead: u64,
    capacity: usize,
    retention: u64,
    retry_after: std::time::Duration,
    /// Changed records since the last `take_dirty`: id → sequence number.
    dirty: HashMap<JobId, u64>,
    /// Jobs that became waiting (new, nacked, released, recovered) since
    /// the last `take_woken`: how many idle workers are worth waking.
    woken: u64,
    /// With a journal (the redb backend): for each batch not yet known
    /// durable (oldest first), each record it changed as it was before,
    /// so batches whose commit failed can be undone ([`Core::rollback`]).
    undo: Option<std::collections::VecDeque<journal::Segment>>,
}

impl Core {
    /// An empty store.
    pub(crate) fn new(options: &StoreOptions) -> Self {
        Self {
            recs: HashMap::new(),
            waiting: BTreeSet::new(),
            leased: BTreeSet::new(),
            finished: BTreeSet::new(),
            keys: HashMap::new(),
            next_seq: 0,
            succeeded: 0,
            dead: 0,
            capacity: options.capacity,
            retention: super::clock::millis(options.retention),
            retry_after: options.retry_after,
            dirty: HashMap::new(),
            woken: 0,
            undo: None,
        }
    }

    /// A store holding `recs` (loaded from disk).
    pub(crate) fn load(options: &StoreOptions, recs: impl IntoIterator<Item = Rec>) -> Self {
        let mut core = Self::new(options);
        for rec in recs {
            core.next_seq = core.next_seq.max(rec.seq + 1);
            core.index(&rec);
            core.recs.insert(rec.id, Box::new(rec));
        }
        core
    }

    fn index(&mut self, rec: &Rec) {
        match rec.stage {
            Stage::Waiting => {
                self.waiting.insert((rec.at, rec.seq, rec.id));
            }
            Stage::Leased => {
                self.leased.insert((rec.at, rec.id));
            }
            Stage::Succeeded | Stage::Dead => {
                self.finished.insert((rec.at, rec.id));
                if rec.stage == Stage::Succeeded {
                    self.succeeded += 1;
                } else {
                    self.dead += 1;
                }
            }
        }
        if let Some(key) = &rec.key {
            self.keys.insert(key.clone(), rec.id);
        }
    }

    fn unindex(&mut self, rec: &Rec) {
        match rec.stage {
            Stage::Waiting => {
                self.waiting.remove(&(rec.at, rec.seq, rec.id));
            }
            Stage::Leased => {
                self.leased.remove(&(rec.at, rec.id));
            }
            Stage::Succeeded | Stage::Dead => {
                self.finished.remove(&(rec.at, rec.id));
                if rec.stage == Stage::Succeeded {
                    self.succeeded -= 1;
                } else {
                    self.dead -= 1;
                }
            }
        }
    }

    /// Changes the record `id` with `change`, keeping the indexes right.
    fn update(&mut self, id: JobId, change: impl FnOnce(&mut Rec)) {
        self.journal(id, |core| core.recs.get(&id).map(|r| Rec::clone(r)));
        let Some(mut rec) = self.recs.remove(&id) else {
            return;
        };
        self.unindex(&rec);
        change(&mut rec);
        self.index(&rec);
        self.dirty.insert(id, rec.seq);
        self.recs.insert(id, rec);
    }

    /// Takes the ids changed since the last call, with their sequence
    /// numbers (to persist them).
    pub(crate) fn take_dirty(&mut self) -> HashMap<JobId, u64> {
        std::mem::take(&mut self.dirty)
    }

    /// The stored record of `id`.
    pub(crate) fn rec(&self, id: JobId) -> Option<&Rec> {
        self.recs.get(&id).map(|r| &**r)
    }

    pub(crate) fn enqueue(&mut self, job: NewJob, now: u64) -> Result<Enqueued, StoreError> {
        if let Some(key) = &job.idempotency_key
            && let Some(&id) = self.keys.get(key)
        {
            return Ok(Enqueued::Existing(id));
        }
        if self.waiting.len() >= self.capacity {
            return Err(StoreError::Full {
                retry_after: self.retry_after,
            });
        }
        if self.recs.contains_key(&job.id) {
            // A random 64-bit id seen twice: refuse rather than overwrite.
            return Err(StoreError::Corrupt(format!(
                "job id {} already exists",
                job.id
            )));
        }
        let rec = Rec {
            id: job.id,
            seq: self.next_seq,
            max_attempts: job.spec.max_attempts.max(1),
            spec: Some(job.spec),
            stage: Stage::Waiting,
            attempts: 0,
            fence: 0,
            error: None,
            key: job.idempotency_key,
            enqueued_at: now,
            at: now,
        };
        self.next_seq += 1;
        self.journal(rec.id, |_| None);
        self.index(&rec);
        self.dirty.insert(rec.id, rec.seq);
        self.recs.insert(rec.id, Box::new(rec));
        self.woken += 1;
        Ok(Enqueued::Created(job.id))
    }

    pub(crate) fn claim(&mut self, max: usize, lease_ms: u64, now: u64) -> Claims {
        // Expired leases come back first, ready since their expiry.
        let expired: Vec<JobId> = self
            .leased
            .iter()
            .take_while(|(until, _)| *until <= now)
            .map(|(_, id)| *id)
            .collect();
        for id in expired {
            self.update(id, |r| r.stage = Stage::Waiting);
        }
        let mut out = Claims::default();
        while out.jobs.len() < max {
            let Some(&(at, seq, id)) = self.waiting.first() else {
                break;
            };
            if at > now {
                break;
            }
            let Some(rec) = self.recs.get(&id) else {
                // Indexes and records change together; a stray entry is
                // dropped rather than looped on.
                self.waiting.remove(&(at, seq, id));
                continue;
            };
            if rec.attempts >= rec.max_attempts {
                // Claimed max_attempts times and never finished: every
                // attempt died with its lease (a poison pill).
                let reason = poison_reason(rec.attempts, rec.error.clone());
                self.finish(id, Stage::Dead, now, Some(reason));
                out.dead_lettered.push(id);
                continue;
            }
            self.update(id, |r| {
                r.stage = Stage::Leased;
                r.attempts += 1;
                r.fence += 1;
                r.at = now.saturating_add(lease_ms);
            });
            if let Some(rec) = self.recs.get(&id) {
                out.jobs.push(Claimed {
                    lease: lease_of(rec),
                    spec: rec.spec.clone().unwrap_or_else(empty_spec),
                    enqueued_at_ms: rec.enqueued_at,
                    last_error: rec.error.clone(),
                });
            }
        }
        out
    }

    /// Checks that `lease` is the job's current lease.
    fn held(&self, lease: Lease) -> Result<(), StoreError> {
        match self.recs.get(&lease.id) {
            Some(r) if r.stage == Stage::Leased && r.fence == lease.fence => Ok(()),
            _ => Err(StoreError::LeaseLost {
                id: lease.id,
                attempt: lease.attempt,
            }),
        }
    }

    pub(crate) fn extend(
        &mut self,
        lease: Lease,
        lease_ms: u64,
        now: u64,
    ) -> Result<Lease, StoreError> {
        self.held(lease)?;
        let until = now.saturating_add(lease_ms);
        self.update(lease.id, |r| r.at = until);
        Ok(Lease {
            expires_at_ms: until,
            ..lease
        })
    }

    pub(crate) fn ack(&mut self, lease: Lease, now: u64) -> Result<(), StoreError> {
        self.held(lease)?;
        self.finish(lease.id, Stage::Succeeded, now, None);
        Ok(())
    }

    pub(crate) fn nack(
        &mut self,
        lease: Lease,
        error: String,
        delay_ms: u64,
        now: u64,
    ) -> Result<Nacked, StoreError> {
        self.held(lease)?;
        let last = self
            .recs
            .get(&lease.id)
            .is_some_and(|r| r.attempts >= r.max_attempts);
        if last {
            self.finish(lease.id, Stage::Dead, now, Some(error));
            return Ok(Nacked::Dead);
        }
        let run_at = now.saturating_add(delay_ms);
        self.update(lease.id, |r| {
            r.stage = Stage::Waiting;
            r.at = run_at;
            r.error = Some(error);
        });
        // Due later, but maybe sooner than an idle worker's next look.
        self.woken += 1;
        Ok(Nacked::Retrying { run_at_ms: run_at })
    }

    pub(crate) fn dead_letter(
        &mut self,
        lease: Lease,
        reason: String,
        now: u64,
    ) -> Result<(), StoreError> {
        self.held(lease)?;
        self.finish(lease.id, Stage::Dead, now, Some(reason));
        Ok(())
    }

    pub(crate) fn release(&mut self, lease: Lease) -> Result<(), StoreError> {
        self.held(lease)?;
        self.update(lease.id, |r| {
            r.stage = Stage::Waiting;
            r.attempts = r.attempts.saturating_sub(1);
            // Back to the front: it was ready before it was claimed.
            r.at = r.enqueued_at;
        });
        self.woken += 1;
        Ok(())
    }

    /// Every lease back to waiting (the previous process died holding
    /// them); attempts stay charged.
    pub(crate) fn recover_all(&mut self) -> u64 {
        let ids: Vec<JobId> = self.leased.iter().map(|(_, id)| *id).collect();
        for &id in &ids {
            self.update(id, |r| {
                r.stage = Stage::Waiting;
                r.at = r.enqueued_at;
            });
        }
        self.woken += ids.len() as u64;
        ids.len() as u64
    }

    /// How many jobs became waiting since the last call (see `woken`).
    pub(crate) fn take_woken(&mut self) -> u64 {
        std::mem::take(&mut self.woken)
    }

    fn finish(&mut self, id: JobId, stage: Stage, now: u64, error: Option<String>) {
        self.update(id, |r| {
            r.stage = stage;
            r.at = now;
            r.spec = None;
            r.error = error;
        });
    }

    /// Removes finished records older than the retention.
    pub(crate) fn prune(&mut self, now: u64) -> u64 {
        let old: Vec<JobId> = self
            .finished
            .iter()
            .take_while(|(at, _)| at.saturating_add(self.retention) <= now)
            .map(|(_, id)| *id)
            .collect();
        for &id in &old {
            self.journal(id, |core| core.recs.get(&id).map(|r| Rec::clone(r)));
            if let Some(rec) = self.recs.remove(&id) {
                self.unindex(&rec);
                if let Some(key) = &rec.key {
                    self.keys.remove(key);
                }
                self.dirty.insert(id, rec.seq);
            }
        }
        old.len() as u64
    }

    pub(crate) fn get(&self, id: JobId) -> Option<JobRecord> {
        let r = self.recs.get(&id)?;
        let (state, run_at_ms, finished_at_ms) = match r.stage {
            Stage::Waiting => (
                JobState::Queued,
                Some(r.at).filter(|_| r.error.is_some()),
                None,
            ),
            Stage::Leased => (JobState::Running, None, None),
            Stage::Succeeded => (JobState::Succeeded, None, Some(r.at)),
            Stage::Dead => (JobState::Dead, None, Some(r.at)),
        };
        Some(JobRecord {
            id,
            state,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            error: r.error.clone(),
            enqueued_at_ms: r.enqueued_at,
            run_at_ms,
            finished_at_ms,
        })
    }

    pub(crate) fn stats(&self, now: u64) -> StoreStats {
        let ready = self
            .waiting
            .iter()
            .take_while(|(at, _, _)| *at <= now)
            .count() as u64;
        StoreStats {
            ready,
            delayed: self.waiting.len() as u64 - ready,
            leased: self.leased.len() as u64,
            succeeded: self.succeeded,
            dead: self.dead,
            oldest_ready_age_ms: self
                .waiting
                .first()
                .filter(|(at, _, _)| *at <= now)
                .map_or(0, |(at, _, _)| now - at),
        }
    }

    /// The next instant something becomes claimable (a delayed job's run
    /// time, a lease's expiry), if any.
    pub(crate) fn next_due(&self) -> Option<u64> {
        let waiting = self.waiting.first().map(|(at, _, _)| *at);
        let leased = self.leased.first().map(|(at, _)| *at);
        waiting.into_iter().chain(leased).min()
    }
}

fn lease_of(rec: &Rec) -> Lease {
    Lease {
        id: rec.id,
        attempt: rec.attempts,
        fence: rec.fence,
        expires_at_ms: rec.at,
    }
}

fn poison_reason(attempts: u32, last: Option<String>) -> String {
    let mut reason = format!(
        "attempts exhausted: {attempts} attempt(s) started and none finished (the worker or the process died while running it)"
    );
    if let Some(last) = last {
        reason.push_str("; last error: ");
        reason.push_str(&last);
    }
    reason
}

/// Stands in for the spec of a waiting job, which always has one; only a
/// record edited by hand could lack it.
fn empty_spec() -> JobSpec {
    JobSpec {
        payload: serde_json::Value::Null,
        work_ms: 0,
        fail_rate: 0.0,
        downstream: false,
        panic: false,
        max_attempts: 1,
    }
}
