//! The conformance suite: what every [`JobStore`] backend must do.
//!
//! Each `check_*` function builds fresh stores with `make` (given the
//! [`StoreOptions`] the check needs, always with a [`ManualClock`], so time
//! moves only when the check advances it) and **panics** with a message
//! naming the broken rule when the backend gets it wrong: these functions
//! are test code, kept in the library so that every backend's test file
//! (`tests/store_conformance.rs`, and the PostgreSQL backend's) runs the
//! very same checks. [`check_all`] runs them all.
//!
//! ```
//! use evenkeel_demo::server::store::{MemoryStore, conformance};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! conformance::check_all(|options| async move { MemoryStore::new(options) }).await;
//! # });
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{Claimed, JobState, JobStore, ManualClock, StoreOptions};
use crate::server::job::JobSpec;

mod leases;
mod queue;

pub use leases::{
    check_concurrent_claimers, check_lease_expiry_and_recovery, check_release_on_shutdown,
    check_stale_lease_rejected,
};
pub use queue::{
    check_dead_letter_after_max_attempts, check_enqueue_claim_ack, check_full, check_idempotency,
    check_nack_with_retry_at, check_retention,
};

/// The lease every check takes.
pub const LEASE: Duration = Duration::from_secs(30);

/// The clock's start: 2026-01-01T00:00:00Z in ms.
pub const START_MS: u64 = 1_767_225_600_000;

/// A job spec with `max_attempts` and payload `n`.
pub fn spec(n: u64, max_attempts: u32) -> JobSpec {
    JobSpec {
        payload: serde_json::json!({ "n": n }),
        work_ms: 0,
        fail_rate: 0.0,
        downstream: false,
        panic: false,
        max_attempts,
    }
}

/// Options with a fresh manual clock (returned too).
pub fn options() -> (StoreOptions, ManualClock) {
    let clock = ManualClock::new(START_MS);
    let options = StoreOptions {
        capacity: 1_000,
        retention: Duration::from_secs(60),
        retry_after: Duration::from_secs(2),
        group_commit: true,
        clock: Arc::new(clock.clone()),
    };
    (options, clock)
}

pub(super) async fn claim_one<S: JobStore>(store: &S) -> Claimed {
    let mut claimed = store.claim(1, LEASE).await.expect("claim").jobs;
    assert_eq!(claimed.len(), 1, "one ready job must be claimable");
    claimed.remove(0)
}

pub(super) async fn state<S: JobStore>(store: &S, id: crate::server::JobId) -> (JobState, u32) {
    let record = store.get(id).await.expect("get").expect("record exists");
    (record.state, record.attempts)
}

/// Runs every check.
/// # Panics
///
/// When the backend breaks any rule of the suite.
pub async fn check_all<S, F, Fut>(make: F)
where
    S: JobStore,
    F: Fn(StoreOptions) -> Fut,
    Fut: Future<Output = S>,
{
    check_enqueue_claim_ack(&make).await;
    check_lease_expiry_and_recovery(&make).await;
    check_stale_lease_rejected(&make).await;
    check_nack_with_retry_at(&make).await;
    check_dead_letter_after_max_attempts(&make).await;
    check_release_on_shutdown(&make).await;
    check_idempotency(&make).await;
    check_retention(&make).await;
    check_full(&make).await;
    check_concurrent_claimers(&make).await;
}
