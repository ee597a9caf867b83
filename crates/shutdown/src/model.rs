//! The lock-free core, exposed to the loom models in `tests/loom.rs` and
//! built only under `--cfg loom`. Not part of the public API.
//!
//! A [`Node`] is a scope reduced to its protocol: the guard word (`word.rs`),
//! the write-once trigger and force records (`record.rs`) and a parent. Its
//! methods call exactly the functions `Shutdown` calls, with a `u32` for the
//! reason and a counter where `Shutdown` wakes its drains.

use std::sync::Arc;

use crate::record::{self, Record};
use crate::sync::{AtomicUsize, Ordering};
use crate::word::{self, Scope, Word};

/// The reason `force` triggers with, as `Reason::Forced` does.
pub const FORCED: u32 = u32::MAX;

/// A scope reduced to its lock-free protocol.
#[derive(Debug)]
pub struct Node {
    word: Word,
    trigger: Record<u32>,
    forced: Record<()>,
    parent: Option<Arc<Node>>,
    completions: AtomicUsize,
}

impl Node {
    /// A root scope.
    pub fn root() -> Arc<Self> {
        Arc::new(Self::with_parent(None))
    }

    /// A child scope of `self`.
    pub fn child(self: &Arc<Self>) -> Arc<Self> {
        Arc::new(Self::with_parent(Some(Arc::clone(self))))
    }

    fn with_parent(parent: Option<Arc<Self>>) -> Self {
        Self {
            word: Word::new(),
            trigger: Record::new(),
            forced: Record::new(),
            parent,
            completions: AtomicUsize::new(0),
        }
    }

    /// `Shutdown::guard`: takes a guard here and in every ancestor.
    pub fn guard(&self) -> bool {
        word::acquire(self)
    }

    /// Dropping a `DrainGuard` taken here.
    pub fn release(&self) {
        word::release(self, None);
    }

    /// The start of `Shutdown::drain`; returns whether this call set the bit.
    pub fn begin_drain(&self) -> bool {
        let (first, completed) = self.word.begin_drain();
        if completed {
            self.drained();
        }
        first
    }

    /// Whether this scope's drain has completed.
    pub fn is_drained(&self) -> bool {
        self.word.is_drained()
    }

    /// How many times this scope's drain completed (must end at 0 or 1).
    pub fn completions(&self) -> usize {
        self.completions.load(Ordering::SeqCst)
    }

    /// Live guards of this scope and its children.
    pub fn outstanding(&self) -> usize {
        self.word.outstanding()
    }

    /// `Shutdown::trigger`.
    pub fn trigger(&self, reason: u32) -> bool {
        record::settle(self, |node| &node.trigger, reason)
    }

    /// `Shutdown::reason`.
    pub fn reason(&self) -> Option<u32> {
        record::resolve(self, |node| &node.trigger)
    }

    /// `Shutdown::force`: triggers with [`FORCED`], then races for the
    /// force marker.
    pub fn force(&self) -> bool {
        self.trigger(FORCED);
        record::settle(self, |node| &node.forced, ())
    }

    /// Whether this scope (or an ancestor) was forced.
    pub fn is_forced(&self) -> bool {
        record::resolve(self, |node| &node.forced).is_some()
    }
}

impl Scope for Node {
    fn word(&self) -> &Word {
        &self.word
    }

    fn parent(&self) -> Option<&Self> {
        self.parent.as_deref()
    }

    fn drained(&self) {
        self.completions.fetch_add(1, Ordering::SeqCst);
    }
}
