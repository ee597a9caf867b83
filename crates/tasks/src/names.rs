//! The names of a group's tasks, looked up by tokio task id.
//!
//! A `JoinError` (a panic or an abort) carries the task's id but not its
//! name, so the group keeps an id-to-name table. A hash map works but was
//! the largest cost a group added to a spawn + join in the benchmark. This
//! table uses what task ids are: tokio hands them out from a counter, so a
//! group that spawns in sequence gets increasing ids. Names are appended in
//! id order, found by binary search, and removed by leaving a hole; holes
//! at either end are dropped at once, and the table is compacted when holes
//! outnumber live names, so its size stays proportional to the tasks in
//! the group. An id arriving out of order is inserted at its sorted place,
//! so correctness never depends on the counter.

use std::collections::VecDeque;

use tokio::task::Id;

use crate::error::TaskName;

/// Task names in increasing id order; `None` marks a removed entry.
#[derive(Debug, Default)]
pub(crate) struct Names {
    entries: VecDeque<(Id, Option<TaskName>)>,
    live: usize,
}

impl Names {
    pub(crate) fn insert(&mut self, id: Id, name: TaskName) {
        match self.entries.back() {
            Some((last, _)) if *last >= id => {
                let at = self.entries.partition_point(|(entry, _)| *entry < id);
                self.entries.insert(at, (id, Some(name)));
            }
            _ => self.entries.push_back((id, Some(name))),
        }
        self.live += 1;
    }

    /// Removes and returns every name still in the table, in id order.
    pub(crate) fn take_all(&mut self) -> Vec<TaskName> {
        self.live = 0;
        self.entries
            .drain(..)
            .filter_map(|(_, name)| name)
            .collect()
    }

    pub(crate) fn remove(&mut self, id: Id) -> Option<TaskName> {
        // Tasks often finish in (or in reverse of) the order they were
        // spawned: try both ends before searching.
        let last = self.entries.len().checked_sub(1)?;
        let at = if self.entries.front().is_some_and(|(entry, _)| *entry == id) {
            0
        } else if self.entries.back().is_some_and(|(entry, _)| *entry == id) {
            last
        } else {
            self.entries
                .binary_search_by(|(entry, _)| entry.cmp(&id))
                .ok()?
        };
        let name = self.entries.get_mut(at)?.1.take()?;
        self.live -= 1;
        while matches!(self.entries.front(), Some((_, None))) {
            self.entries.pop_front();
        }
        while matches!(self.entries.back(), Some((_, None))) {
            self.entries.pop_back();
        }
        if self.entries.len() > 2 * self.live + 32 {
            self.entries.retain(|(_, name)| name.is_some());
        }
        Some(name)
    }

    #[cfg(test)]
    fn capacity_used(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::borrow::Cow;

    /// Real task ids (ids cannot be built by hand), in spawn order.
    fn ids(n: usize) -> Vec<Id> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime builds");
        runtime.block_on(async {
            let mut ids = Vec::with_capacity(n);
            for _ in 0..n {
                ids.push(tokio::spawn(async {}).id());
            }
            ids
        })
    }

    proptest! {
        /// Whatever the insertion order and the removal order, every name
        /// comes back exactly once, under its own id, and the table shrinks
        /// back to nothing.
        #[test]
        fn every_name_comes_back_once(
            insert_order in Just((0..40).collect::<Vec<usize>>()).prop_shuffle(),
            remove_order in Just((0..40).collect::<Vec<usize>>()).prop_shuffle(),
        ) {
            let ids = ids(40);
            let mut names = Names::default();
            for &i in &insert_order {
                names.insert(ids[i], Cow::Owned(i.to_string()));
            }
            for &i in &remove_order {
                prop_assert_eq!(names.remove(ids[i]), Some(Cow::Owned(i.to_string())));
                prop_assert_eq!(names.remove(ids[i]), None);
            }
            prop_assert_eq!(names.capacity_used(), 0);
        }
    }

    /// One long-lived early task does not make the table grow without
    /// bound while thousands of later tasks come and go.
    #[test]
    fn holes_are_compacted() {
        let ids = ids(5000);
        let mut names = Names::default();
        names.insert(ids[0], Cow::Borrowed("long-lived"));
        for &id in &ids[1..] {
            names.insert(id, Cow::Borrowed("short"));
            assert_eq!(names.remove(id), Some(Cow::Borrowed("short")));
            assert!(names.capacity_used() <= 2 + 32);
        }
        assert_eq!(names.remove(ids[0]), Some(Cow::Borrowed("long-lived")));
    }
}
