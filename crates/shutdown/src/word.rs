//! The guard word: one atomic per scope holding the draining bit, the
//! drained bit and the count of live guards. This file is the whole
//! admission protocol; `guard.rs` wraps it in types and `drain.rs` waits on
//! it. The loom models in `tests/loom.rs` run exactly this code.
//!
//! - Taking a guard is `fetch_add(1)`. If the *previous* value has the
//!   draining bit, the guard is refused and the increment undone with an
//!   ordinary release. Read-modify-writes on one atomic are totally
//!   ordered, so either the increment comes before the drain's `fetch_or`
//!   (the guard is granted and the drain counts it) or after (the guard
//!   sees the bit and is refused). No guard is granted that the drain does
//!   not wait for.
//! - Beginning the drain is `fetch_or(DRAINING)`.
//! - The drain *completes* when the word goes from exactly `DRAINING` (bit
//!   set, count zero, not yet drained) to `DRAINING | DRAINED`, by a
//!   compare-exchange. Whoever leaves the word at exactly `DRAINING` tries
//!   it: the drain itself if the count was already zero, else the release of
//!   the last guard. A refused guard's brief increment can make that
//!   compare-exchange fail, but the refused guard's own release then leaves
//!   the word at `DRAINING` again and tries in turn. The `DRAINED` bit is
//!   never cleared, so the drain completes exactly once, and only when the
//!   count is zero with intake closed.
//!
//! A guard in a child scope increments the child and every ancestor,
//! innermost first, and is refused if any of them is draining (the scopes
//! already incremented are released); dropping it releases the same scopes.
//!
//! The count cannot reach the flag bits: every granted guard is a live
//! object holding a pointer, refused ones add at most one per thread, and no
//! address space holds 2^62 of those.

use crate::sync::{AtomicUsize, Ordering};

/// "Draining has begun": new guards are refused.
const DRAINING: usize = 1 << (usize::BITS - 1);
/// "The drain has completed": set once, when the count reached zero after
/// `DRAINING` was set.
const DRAINED: usize = 1 << (usize::BITS - 2);
/// The bits that count guards.
const COUNT: usize = !(DRAINING | DRAINED);

/// One scope's guard word.
#[derive(Debug)]
pub(crate) struct Word(AtomicUsize);

impl Word {
    pub(crate) fn new() -> Self {
        Self(AtomicUsize::new(0))
    }

    fn load(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Live guards (a refused guard may be counted for an instant).
    pub(crate) fn outstanding(&self) -> usize {
        self.load() & COUNT
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.load() & DRAINING != 0
    }

    /// Whether the drain has completed (the count reached zero after the
    /// drain began). Only ever goes from `false` to `true`.
    pub(crate) fn is_drained(&self) -> bool {
        self.load() & DRAINED != 0
    }

    /// Adds one guard; returns `false` (and the caller must `release`) if
    /// the scope was already draining.
    #[inline]
    fn increment(&self) -> bool {
        self.0.fetch_add(1, Ordering::AcqRel) & DRAINING == 0
    }

    /// Removes one guard; returns whether this call completed the drain.
    #[inline]
    pub(crate) fn release(&self) -> bool {
        let previous = self.0.fetch_sub(1, Ordering::AcqRel);
        previous == DRAINING | 1 && self.complete()
    }

    /// Sets the draining bit. Returns `(first, completed)`: whether this
    /// call set the bit, and whether it completed the drain (nothing was
    /// outstanding).
    pub(crate) fn begin_drain(&self) -> (bool, bool) {
        let previous = self.0.fetch_or(DRAINING, Ordering::AcqRel);
        let first = previous & DRAINING == 0;
        let completed = first && previous & COUNT == 0 && self.complete();
        (first, completed)
    }

    /// The one transition `DRAINING` → `DRAINING | DRAINED`. Out of line:
    /// it runs once per drain, not once per guard.
    #[cold]
    #[inline(never)]
    fn complete(&self) -> bool {
        self.0
            .compare_exchange(
                DRAINING,
                DRAINING | DRAINED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }
}

/// A scope in a tree of scopes, as the protocol sees it.
pub(crate) trait Scope {
    fn word(&self) -> &Word;
    fn parent(&self) -> Option<&Self>;
    /// Called when a release completed this scope's drain (wake its waiters).
    fn drained(&self);
}

/// Takes one guard in `scope` and every ancestor; `false` if any of them is
/// draining (then nothing stays taken).
///
/// Inlined into `Shutdown::guard`: for a root scope the whole call is one
/// `lock xadd` and a sign test; the refusal is out of line.
#[inline]
pub(crate) fn acquire<S: Scope>(scope: &S) -> bool {
    let mut current = Some(scope);
    while let Some(at) = current {
        if !at.word().increment() {
            refuse(scope, at);
            return false;
        }
        current = at.parent();
    }
    true
}

/// The refusal of `acquire`: undoes the increments from `scope` up to and
/// including `at`, the draining scope.
#[cold]
#[inline(never)]
fn refuse<S: Scope>(scope: &S, at: &S) {
    release(scope, Some(at));
}

/// Releases one guard in `from` and its ancestors, up to and including
/// `last` (to the root when `None`), waking each drain this completes.
///
/// Inlined into `DrainGuard::drop`: one `lock xadd` and a compare per
/// scope; the completion and its wake-up are out of line.
#[inline]
pub(crate) fn release<S: Scope>(from: &S, last: Option<&S>) {
    let mut current = Some(from);
    while let Some(at) = current {
        if at.word().release() {
            at.drained();
        }
        if last.is_some_and(|last| std::ptr::eq(last, at)) {
            return;
        }
        current = at.parent();
    }
}
