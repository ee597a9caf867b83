//! The process's books: what this server did with jobs, counted as it
//! happens, and the store's last counts for `/metrics`.
//!
//! The store is the truth about every job; the books say what *this
//! process* did: how many 202s it gave (`accepted`), how many live jobs it
//! found in the store at start (`restored`: left by a previous process,
//! drained, killed or crashed), how many it finished (`succeeded`, `dead`),
//! how many it handed back at shutdown (`released`). The final accounting
//! record adds `remaining`, the jobs live in the store at exit, read from
//! the store itself. For a store this process owns alone,
//! `restored + accepted == succeeded + dead + remaining`: `lost` is the
//! difference and must be 0.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::store::StoreStats;

/// The counts, at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Accounting {
    /// New jobs this process answered 202 for.
    pub accepted: u64,
    /// Live jobs found in the store at start.
    pub restored: u64,
    /// Jobs this process finished as succeeded.
    pub succeeded: u64,
    /// Jobs this process dead-lettered.
    pub dead: u64,
    /// Leased jobs handed back to the store at shutdown (not charged).
    pub released: u64,
    /// Attempts after the first, started by this process.
    pub retries: u64,
}

/// The live counters; shared by the handlers, the workers and the metrics.
#[derive(Debug, Default)]
pub(crate) struct Books {
    accepted: AtomicU64,
    restored: AtomicU64,
    succeeded: AtomicU64,
    dead: AtomicU64,
    released: AtomicU64,
    retries: AtomicU64,
    store: Mutex<StoreStats>,
    high_water: AtomicU64,
}

impl Books {
    pub(crate) fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn restored(&self, n: u64) {
        self.restored.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn succeeded(&self) {
        self.succeeded.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn dead(&self, n: u64) {
        self.dead.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn released(&self) {
        self.released.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub(crate) fn accounting(&self) -> Accounting {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Accounting {
            accepted: get(&self.accepted),
            restored: get(&self.restored),
            succeeded: get(&self.succeeded),
            dead: get(&self.dead),
            released: get(&self.released),
            retries: get(&self.retries),
        }
    }

    /// Remembers the store's latest counts (read at each scrape).
    pub(crate) fn set_store(&self, stats: StoreStats) {
        self.high_water
            .fetch_max(stats.ready + stats.delayed, Ordering::Relaxed);
        *self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = stats;
    }

    /// The store's counts as last read.
    pub(crate) fn store(&self) -> StoreStats {
        *self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The most jobs seen waiting.
    pub(crate) fn high_water(&self) -> u64 {
        self.high_water.load(Ordering::Relaxed)
    }
}
