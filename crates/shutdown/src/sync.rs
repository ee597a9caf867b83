//! The synchronization primitives the lock-free core is written against:
//! `std`'s in normal builds, loom's under `--cfg loom`, so the models in
//! `tests/loom.rs` explore every interleaving of exactly the code that ships
//! (the way tokio swaps its own primitives for its loom tests).
//!
//! Only the protocol (`word.rs`, `record.rs`) uses these; the tokio parts
//! around it (`Notify`, `CancellationToken`) stay as they are and are not
//! part of the models.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};

/// A cell written at most once, read by cloning: `std::sync::OnceLock` in
/// normal builds, a loom `Mutex<Option<T>>` in the models (loom has no
/// `OnceLock`; the models check the protocol built on "first write wins",
/// and `OnceLock` is trusted to provide it).
pub(crate) struct Once<T> {
    #[cfg(not(loom))]
    cell: std::sync::OnceLock<T>,
    #[cfg(loom)]
    cell: loom::sync::Mutex<Option<T>>,
}

impl<T: Clone> Once<T> {
    pub(crate) fn new() -> Self {
        Self {
            #[cfg(not(loom))]
            cell: std::sync::OnceLock::new(),
            #[cfg(loom)]
            cell: loom::sync::Mutex::new(None),
        }
    }

    /// The value, if it was written.
    #[cfg(not(loom))]
    pub(crate) fn get(&self) -> Option<T> {
        self.cell.get().cloned()
    }

    /// Writes `value` if nothing was written yet; returns whether it did.
    #[cfg(not(loom))]
    pub(crate) fn set(&self, value: T) -> bool {
        self.cell.set(value).is_ok()
    }

    /// The value, if it was written.
    #[cfg(loom)]
    pub(crate) fn get(&self) -> Option<T> {
        // A poisoned lock only means a model thread panicked; the model has
        // failed already, so reading through it is fine.
        self.cell
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Writes `value` if nothing was written yet; returns whether it did.
    #[cfg(loom)]
    pub(crate) fn set(&self, value: T) -> bool {
        let mut cell = self
            .cell
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cell.is_some() {
            return false;
        }
        *cell = Some(value);
        true
    }
}
