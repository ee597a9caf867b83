//! The undo journal of [`Core`]: how the redb backend takes back batches
//! whose commit failed.
//!
//! The writer applies a batch, writes it to the log and goes on with the
//! next one while a flush makes the earlier ones durable, so several
//! batches can be applied in memory and not yet durable at once. The
//! journal keeps one segment per such batch ([`Core::begin`]): the first
//! change of each record within the batch saves the record as it was (or
//! `None` for a new one). [`Core::settle`] forgets the segments of the
//! batches that are durable; [`Core::rollback`] undoes every segment still
//! held, newest first, indexes included, so the state in memory matches
//! the disk again. The in-memory backend keeps no journal.

use std::collections::{HashMap, VecDeque};

use super::{Core, JobId, Rec};

/// How to undo one batch: its number and each record it changed, as it
/// was before the batch.
#[derive(Debug)]
pub(crate) struct Segment {
    batch: u64,
    before: HashMap<JobId, Option<Rec>>,
}

impl Core {
    /// Keeps an undo journal from now on (see [`Core::rollback`]).
    pub(crate) fn journaled(mut self) -> Self {
        self.undo = Some(VecDeque::new());
        self
    }

    /// The changes from now on belong to batch `batch` (numbers rise).
    pub(crate) fn begin(&mut self, batch: u64) {
        if let Some(undo) = &mut self.undo {
            undo.push_back(Segment {
                batch,
                before: HashMap::new(),
            });
        }
    }

    /// Notes `id`'s record as it is before its first change in the
    /// current batch.
    pub(super) fn journal(&mut self, id: JobId, before: impl FnOnce(&Self) -> Option<Rec>) {
        let Some(undo) = &self.undo else {
            return;
        };
        if undo.back().is_some_and(|s| s.before.contains_key(&id)) {
            return;
        }
        let rec = before(self);
        if let Some(undo) = &mut self.undo {
            if undo.is_empty() {
                // Changed outside any batch: undone with the oldest one.
                undo.push_back(Segment {
                    batch: 0,
                    before: HashMap::new(),
                });
            }
            if let Some(segment) = undo.back_mut() {
                segment.before.insert(id, rec);
            }
        }
    }

    /// Batches up to `batch` are durable: forget how to undo them.
    pub(crate) fn settle(&mut self, batch: u64) {
        if let Some(undo) = &mut self.undo {
            while undo.front().is_some_and(|s| s.batch <= batch) {
                undo.pop_front();
            }
        }
    }

    /// Undoes every change of the batches not settled (their commit
    /// failed), newest first, so the state matches the disk again.
    pub(crate) fn rollback(&mut self) {
        let segments = self.undo.as_mut().map(std::mem::take).unwrap_or_default();
        for segment in segments.into_iter().rev() {
            for (id, before) in segment.before {
                if let Some(now) = self.recs.remove(&id) {
                    self.unindex(&now);
                    if let Some(key) = &now.key
                        && self.keys.get(key) == Some(&id)
                    {
                        self.keys.remove(key);
                    }
                }
                if let Some(rec) = before {
                    self.index(&rec);
                    self.recs.insert(id, Box::new(rec));
                }
            }
        }
        self.dirty.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Core, JobId};
    use crate::server::job::JobSpec;
    use crate::server::store::types::{JobState, NewJob, StoreOptions};

    fn job(key: &str) -> NewJob {
        NewJob::new(JobSpec {
            payload: serde_json::json!({ "k": key }),
            work_ms: 0,
            fail_rate: 0.0,
            downstream: false,
            panic: false,
            max_attempts: 3,
        })
        .idempotency_key(key)
    }

    /// Enqueues a job with idempotency key `key` at `now`; the id the
    /// store answers (an earlier job's if the key is taken).
    fn enqueue(core: &mut Core, key: &str, now: u64) -> JobId {
        core.enqueue(job(key), now).unwrap().id()
    }

    fn state(core: &Core, id: JobId) -> Option<(JobState, u32)> {
        core.get(id).map(|r| (r.state, r.attempts))
    }

    /// Three batches applied, the first known durable, the flush of the
    /// other two failed: the rollback leaves exactly the first batch.
    #[test]
    fn rollback_undoes_every_unsettled_batch_newest_first_and_keeps_the_settled_one() {
        let mut core = Core::new(&StoreOptions::default()).journaled();
        core.begin(1);
        let a_id = enqueue(&mut core, "a", 10);
        core.begin(2);
        let b_id = enqueue(&mut core, "b", 20);
        let claims = core.claim(1, 1_000, 20);
        assert_eq!(claims.jobs[0].lease.id, a_id);
        core.begin(3);
        core.ack(claims.jobs[0].lease, 30).unwrap();
        assert_eq!(state(&core, a_id), Some((JobState::Succeeded, 1)));

        core.settle(1);
        core.rollback();

        // Batch 1 stays: `a` queued, never claimed; batches 2 and 3 are
        // gone: no `b`, its key free again, `a` not charged an attempt.
        assert_eq!(state(&core, a_id), Some((JobState::Queued, 0)));
        assert_eq!(state(&core, b_id), None);
        assert_eq!(core.stats(30).ready, 1);
        assert_eq!(core.stats(30).succeeded, 0);
        let again = enqueue(&mut core, "b", 40);
        assert_ne!(again, b_id, "the key is free: a new job, not `b` again");
    }

    #[test]
    fn settled_batches_are_not_undone() {
        let mut core = Core::new(&StoreOptions::default()).journaled();
        core.begin(1);
        let a_id = enqueue(&mut core, "a", 10);
        core.begin(2);
        let claims = core.claim(1, 1_000, 20);
        assert_eq!(claims.jobs.len(), 1);
        core.settle(2);
        core.rollback();
        assert_eq!(state(&core, a_id), Some((JobState::Running, 1)));
    }
}
