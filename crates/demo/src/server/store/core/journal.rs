//! The undo journal of [`Core`]: how the redb backend takes back a batch
//! whose commit failed.
//!
//! With a journal on, the first change of each record since the last
//! [`Core::settle`] saves the record as it was (or `None` for a new one).
//! [`Core::rollback`] puts those back, indexes included, so the state in
//! memory matches the disk again; [`Core::settle`] forgets them once the
//! commit is durable. The in-memory backend keeps no journal.

use std::collections::HashMap;

use super::{Core, JobId, Rec};

impl Core {
    /// Keeps an undo journal from now on (see [`Core::rollback`]).
    pub(crate) fn journaled(mut self) -> Self {
        self.undo = Some(HashMap::new());
        self
    }

    /// Notes `id`'s record as it is before its first change since the
    /// last [`Core::settle`].
    pub(super) fn journal(&mut self, id: JobId, before: impl FnOnce(&Self) -> Option<Rec>) {
        if self.undo.as_ref().is_some_and(|u| !u.contains_key(&id)) {
            let rec = before(self);
            if let Some(undo) = &mut self.undo {
                undo.insert(id, rec);
            }
        }
    }

    /// The changes since the last call are durable: forget how to undo
    /// them.
    pub(crate) fn settle(&mut self) {
        if let Some(undo) = &mut self.undo {
            undo.clear();
        }
    }

    /// Undoes every change since the last [`Core::settle`] (their commit
    /// failed), so the state matches the disk again.
    pub(crate) fn rollback(&mut self) {
        let undo = self.undo.as_mut().map(std::mem::take).unwrap_or_default();
        for (id, before) in undo {
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
                self.recs.insert(id, rec);
            }
        }
        self.dirty.clear();
    }
}
