//! First-wins records that children inherit: the trigger (its reason and
//! instant) and the force marker.
//!
//! Each scope has its own write-once cell. A scope's record is its own
//! cell's value if written; otherwise the nearest ancestor's record, which is
//! then *copied into the scope's own cell* (first write wins) before it is
//! returned. So the first time anyone looks at a scope's record fixes it:
//!
//! - A child triggered while its parent triggers ends with one reason.
//!   Either the child's own write lands first (the child keeps its own
//!   reason, its `trigger` returns `true`) or a look at the child adopts the
//!   parent's first (the child's own write then fails, its `trigger` returns
//!   `false`). A reader never sees the parent's reason and later the
//!   child's.
//! - Two concurrent triggers (or forces) of one scope race for one cell:
//!   exactly one call reports that it was first.
//!
//! The loom models in `tests/loom.rs` run exactly this code.

use crate::sync::Once;
use crate::word::Scope;

/// One scope's write-once record.
pub(crate) struct Record<T>(Once<T>);

impl<T> std::fmt::Debug for Record<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record").finish_non_exhaustive()
    }
}

impl<T: Clone> Record<T> {
    pub(crate) fn new() -> Self {
        Self(Once::new())
    }
}

/// The record of `scope`: its own, or inherited from the nearest ancestor
/// that has one (and then fixed as its own).
pub(crate) fn resolve<S, T>(scope: &S, field: fn(&S) -> &Record<T>) -> Option<T>
where
    S: Scope,
    T: Clone,
{
    let own = &field(scope).0;
    if let Some(value) = own.get() {
        return Some(value);
    }
    let inherited = resolve(scope.parent()?, field)?;
    // Adopt it; if the scope's own write got in first, that one stands.
    own.set(inherited);
    own.get()
}

/// Records `value` for `scope` unless it (or an ancestor) already has a
/// record; returns whether `value` is the one that stands.
pub(crate) fn settle<S, T>(scope: &S, field: fn(&S) -> &Record<T>, value: T) -> bool
where
    S: Scope,
    T: Clone,
{
    resolve(scope, field).is_none() && field(scope).0.set(value)
}
