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

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{
    Claimed, Enqueued, JobState, JobStore, ManualClock, Nacked, NewJob, StoreError, StoreOptions,
};
use crate::server::job::JobSpec;

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

async fn claim_one<S: JobStore>(store: &S) -> Claimed {
    let mut claimed = store.claim(1, LEASE).await.expect("claim").jobs;
    assert_eq!(claimed.len(), 1, "one ready job must be claimable");
    claimed.remove(0)
}

async fn state<S: JobStore>(store: &S, id: crate::server::JobId) -> (JobState, u32) {
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

/// Enqueue, claim (attempt 1, oldest first), ack: the job is succeeded and
/// keeps no payload; a second claim finds nothing.
///
/// # Panics
///
/// When the backend breaks the rule above.
pub async fn check_enqueue_claim_ack<S, F, Fut>(make: F)
where
    S: JobStore,
    F: Fn(StoreOptions) -> Fut,
    Fut: Future<Output = S>,
{
    let (options, _clock) = options();
    let store = make(options).await;
    let first = store
        .enqueue(NewJob::new(spec(1, 3)))
        .await
        .expect("enqueue");
    let second = store
        .enqueue(NewJob::new(spec(2, 3)))
        .await
        .expect("enqueue");
    assert!(
        matches!(first, Enqueued::Created(_)),
        "a new job is Created"
    );
    let stats = store.stats().await.expect("stats");
    assert_eq!(
        (stats.ready, stats.leased),
        (2, 0),
        "two ready jobs: {stats:?}"
    );
    assert_eq!(state(&store, first.id()).await, (JobState::Queued, 0));

    let claimed = claim_one(&store).await;
    assert_eq!(claimed.lease.id, first.id(), "claims go oldest first");
    assert_eq!(claimed.lease.attempt, 1, "the first claim is attempt 1");
    assert_eq!(
        claimed.spec,
        spec(1, 3),
        "the claim carries the job as enqueued"
    );
    assert_eq!(state(&store, first.id()).await, (JobState::Running, 1));

    store.ack(claimed.lease).await.expect("ack");
    let record = store.get(first.id()).await.expect("get").expect("kept");
    assert_eq!((record.state, record.attempts), (JobState::Succeeded, 1));
    assert!(
        record.finished_at_ms.is_some(),
        "a finished job has a finish time"
    );
    let claimed = claim_one(&store).await;
    assert_eq!(claimed.lease.id, second.id());
    store.ack(claimed.lease).await.expect("ack");
    assert!(
        store.claim(5, LEASE).await.expect("claim").jobs.is_empty(),
        "nothing left"
    );
    let stats = store.stats().await.expect("stats");
    assert_eq!((stats.live(), stats.succeeded), (0, 2), "{stats:?}");
}

/// A lease that expires makes the job claimable again as attempt 2, and
/// `recover` hands back leases (charged) in a single-owner store.
///
/// # Panics
///
/// When the backend breaks the rule above.
pub async fn check_lease_expiry_and_recovery<S, F, Fut>(make: F)
where
    S: JobStore,
    F: Fn(StoreOptions) -> Fut,
    Fut: Future<Output = S>,
{
    let (options, clock) = options();
    let store = make(options).await;
    let id = store
        .enqueue(NewJob::new(spec(1, 5)))
        .await
        .expect("enqueue")
        .id();
    let first = claim_one(&store).await;
    assert!(
        store.claim(1, LEASE).await.expect("claim").jobs.is_empty(),
        "a live lease hides the job"
    );
    clock.advance(LEASE.saturating_sub(Duration::from_millis(1)));
    assert!(
        store.claim(1, LEASE).await.expect("claim").jobs.is_empty(),
        "not expired yet"
    );
    clock.advance(Duration::from_millis(2));
    let second = claim_one(&store).await;
    assert_eq!(
        (second.lease.id, second.lease.attempt),
        (id, 2),
        "expired lease: attempt 2"
    );
    assert_ne!(
        first.lease.fence, second.lease.fence,
        "each claim has its own fence"
    );

    if !store.is_shared() {
        let recovered = store.recover().await.expect("recover");
        assert_eq!(recovered, 1, "the one lease is handed back");
        assert_eq!(
            state(&store, id).await,
            (JobState::Queued, 2),
            "recovery keeps the charge"
        );
        let third = claim_one(&store).await;
        assert_eq!(third.lease.attempt, 3);
        store.ack(third.lease).await.expect("ack");
    }
}

/// A stale lease (expired and claimed again) gets `LeaseLost` on every
/// call and changes nothing; the current holder still finishes the job.
///
/// # Panics
///
/// When the backend breaks the rule above.
pub async fn check_stale_lease_rejected<S, F, Fut>(make: F)
where
    S: JobStore,
    F: Fn(StoreOptions) -> Fut,
    Fut: Future<Output = S>,
{
    let (options, clock) = options();
    let store = make(options).await;
    let id = store
        .enqueue(NewJob::new(spec(1, 5)))
        .await
        .expect("enqueue")
        .id();
    let stale = claim_one(&store).await.lease;
    clock.advance(LEASE + Duration::from_secs(1));
    let current = claim_one(&store).await.lease;
    let lost = |r: Result<(), StoreError>| {
        assert!(
            matches!(r, Err(StoreError::LeaseLost { id: lost, attempt: 1 }) if lost == id),
            "a stale lease must get LeaseLost, got {r:?}"
        );
    };
    lost(store.ack(stale).await);
    lost(store.dead_letter(stale, "late".into()).await);
    lost(store.release(stale).await);
    lost(store.extend(stale, LEASE).await.map(drop));
    lost(
        store
            .nack(stale, "late".into(), Duration::ZERO)
            .await
            .map(drop),
    );
    assert_eq!(
        state(&store, id).await,
        (JobState::Running, 2),
        "the stale calls changed nothing"
    );
    let extended = store.extend(current, LEASE * 2).await.expect("extend");
    assert!(
        extended.expires_at_ms > current.expires_at_ms,
        "extend moves the expiry"
    );
    clock.advance(LEASE + Duration::from_secs(1));
    assert!(
        store.claim(1, LEASE).await.expect("claim").jobs.is_empty(),
        "the extended lease holds"
    );
    store.ack(extended).await.expect("the current holder acks");
    assert!(
        matches!(
            store.ack(extended).await,
            Err(StoreError::LeaseLost { attempt: 2, .. })
        ),
        "a finished job's lease is gone"
    );
    assert_eq!(state(&store, id).await, (JobState::Succeeded, 2));
}

/// `nack` keeps the job delayed until its retry time, with the error
/// shown; then it is claimable as the next attempt.
///
/// # Panics
///
/// When the backend breaks the rule above.
pub async fn check_nack_with_retry_at<S, F, Fut>(make: F)
where
    S: JobStore,
    F: Fn(StoreOptions) -> Fut,
    Fut: Future<Output = S>,
{
    let (options, clock) = options();
    let store = make(options).await;
    let id = store
        .enqueue(NewJob::new(spec(1, 3)))
        .await
        .expect("enqueue")
        .id();
    let lease = claim_one(&store).await.lease;
    let nacked = store
        .nack(lease, "boom".into(), Duration::from_secs(5))
        .await
        .expect("nack");
    let now = START_MS;
    assert_eq!(
        nacked,
        Nacked::Retrying {
            run_at_ms: now + 5_000
        }
    );
    let record = store.get(id).await.expect("get").expect("kept");
    assert_eq!(record.state, JobState::Queued);
    assert_eq!(record.error.as_deref(), Some("boom"));
    assert_eq!(record.run_at_ms, Some(now + 5_000));
    let stats = store.stats().await.expect("stats");
    assert_eq!((stats.ready, stats.delayed), (0, 1), "{stats:?}");
    clock.advance(Duration::from_millis(4_999));
    assert!(
        store.claim(1, LEASE).await.expect("claim").jobs.is_empty(),
        "still delayed"
    );
    clock.advance(Duration::from_millis(1));
    let retry = claim_one(&store).await;
    assert_eq!(retry.lease.attempt, 2);
    assert_eq!(retry.last_error.as_deref(), Some("boom"));
    store.ack(retry.lease).await.expect("ack");
}

/// A nack of the last attempt dead-letters the job with its error; an
/// explicit `dead_letter` does too; a job whose leases keep expiring (a
/// poison pill that kills its worker) is dead-lettered by the claim after
/// its last attempt, never run again.
///
/// # Panics
///
/// When the backend breaks the rule above.
pub async fn check_dead_letter_after_max_attempts<S, F, Fut>(make: F)
where
    S: JobStore,
    F: Fn(StoreOptions) -> Fut,
    Fut: Future<Output = S>,
{
    let (mut options, clock) = options();
    // Long enough that the outcomes outlive the expiring leases below.
    options.retention = Duration::from_secs(3600);
    let store = make(options).await;
    let failing = store
        .enqueue(NewJob::new(spec(1, 2)))
        .await
        .expect("enqueue")
        .id();
    for attempt in 1..=2 {
        let lease = claim_one(&store).await.lease;
        assert_eq!(lease.attempt, attempt);
        let nacked = store
            .nack(lease, format!("fail {attempt}"), Duration::ZERO)
            .await;
        let expected = if attempt == 2 {
            Nacked::Dead
        } else {
            Nacked::Retrying {
                run_at_ms: clock_ms(&clock),
            }
        };
        assert_eq!(nacked.expect("nack"), expected);
    }
    let record = store.get(failing).await.expect("get").expect("kept");
    assert_eq!((record.state, record.attempts), (JobState::Dead, 2));
    assert_eq!(
        record.error.as_deref(),
        Some("fail 2"),
        "dead with its last error"
    );

    let refused = store
        .enqueue(NewJob::new(spec(2, 4)))
        .await
        .expect("enqueue")
        .id();
    let lease = claim_one(&store).await.lease;
    store
        .dead_letter(lease, "not runnable".into())
        .await
        .expect("dead_letter");
    let record = store.get(refused).await.expect("get").expect("kept");
    assert_eq!(
        (record.state, record.error.as_deref()),
        (JobState::Dead, Some("not runnable"))
    );

    let poison = store
        .enqueue(NewJob::new(spec(3, 2)))
        .await
        .expect("enqueue")
        .id();
    for _ in 0..2 {
        claim_one(&store).await;
        clock.advance(LEASE + Duration::from_secs(1));
    }
    assert!(
        store.claim(1, LEASE).await.expect("claim").jobs.is_empty(),
        "a poison pill is not run a third time"
    );
    let record = store.get(poison).await.expect("get").expect("kept");
    assert_eq!((record.state, record.attempts), (JobState::Dead, 2));
    assert!(
        record
            .error
            .as_deref()
            .is_some_and(|e| e.contains("attempts exhausted")),
        "the reason says why: {:?}",
        record.error
    );
    assert_eq!(store.stats().await.expect("stats").dead, 3);
}

fn clock_ms(clock: &ManualClock) -> u64 {
    super::Clock::now_ms(clock)
}

/// `release` hands a leased job back ready at once, its attempt not
/// charged, and ahead of jobs enqueued after it.
///
/// # Panics
///
/// When the backend breaks the rule above.
pub async fn check_release_on_shutdown<S, F, Fut>(make: F)
where
    S: JobStore,
    F: Fn(StoreOptions) -> Fut,
    Fut: Future<Output = S>,
{
    let (options, clock) = options();
    let store = make(options).await;
    let id = store
        .enqueue(NewJob::new(spec(1, 3)))
        .await
        .expect("enqueue")
        .id();
    let lease = claim_one(&store).await.lease;
    clock.advance(Duration::from_secs(1));
    let later = store
        .enqueue(NewJob::new(spec(2, 3)))
        .await
        .expect("enqueue")
        .id();
    store.release(lease).await.expect("release");
    assert_eq!(
        state(&store, id).await,
        (JobState::Queued, 0),
        "released, not charged"
    );
    let again = claim_one(&store).await;
    assert_eq!(
        (again.lease.id, again.lease.attempt),
        (id, 1),
        "released job first, attempt 1 again"
    );
    assert_ne!(again.lease.fence, lease.fence, "a new claim, a new fence");
    assert!(
        matches!(store.ack(lease).await, Err(StoreError::LeaseLost { .. })),
        "the released lease is gone"
    );
    assert_eq!(claim_one(&store).await.lease.id, later);
}

/// The same `Idempotency-Key` twice stores one job and returns its id.
///
/// # Panics
///
/// When the backend breaks the rule above.
pub async fn check_idempotency<S, F, Fut>(make: F)
where
    S: JobStore,
    F: Fn(StoreOptions) -> Fut,
    Fut: Future<Output = S>,
{
    let (options, _clock) = options();
    let store = make(options).await;
    let first = store
        .enqueue(NewJob::new(spec(1, 3)).idempotency_key("order-1"))
        .await
        .expect("enqueue");
    let again = store
        .enqueue(NewJob::new(spec(99, 3)).idempotency_key("order-1"))
        .await
        .expect("enqueue");
    assert_eq!(
        again,
        Enqueued::Existing(first.id()),
        "the key maps to the first job"
    );
    let other = store
        .enqueue(NewJob::new(spec(2, 3)).idempotency_key("order-2"))
        .await
        .expect("enqueue");
    assert!(matches!(other, Enqueued::Created(id) if id != first.id()));
    assert_eq!(
        store.stats().await.expect("stats").ready,
        2,
        "one job per key"
    );
    let claimed = claim_one(&store).await;
    assert_eq!(
        claimed.spec,
        spec(1, 3),
        "the first job's payload, not the repeat's"
    );
    store.ack(claimed.lease).await.expect("ack");
    let after = store
        .enqueue(NewJob::new(spec(1, 3)).idempotency_key("order-1"))
        .await
        .expect("enqueue");
    assert_eq!(
        after,
        Enqueued::Existing(first.id()),
        "still known once finished"
    );
}

/// Finished jobs are kept for the retention, then pruned (with their
/// idempotency key); live jobs are never pruned.
///
/// # Panics
///
/// When the backend breaks the rule above.
pub async fn check_retention<S, F, Fut>(make: F)
where
    S: JobStore,
    F: Fn(StoreOptions) -> Fut,
    Fut: Future<Output = S>,
{
    let (options, clock) = options();
    let retention = options.retention;
    let store = make(options).await;
    let done = store
        .enqueue(NewJob::new(spec(1, 3)).idempotency_key("k"))
        .await
        .expect("enqueue")
        .id();
    let lease = claim_one(&store).await.lease;
    store.ack(lease).await.expect("ack");
    let live = store
        .enqueue(NewJob::new(spec(2, 3)))
        .await
        .expect("enqueue")
        .id();
    clock.advance(retention.saturating_sub(Duration::from_secs(1)));
    assert_eq!(
        store.prune().await.expect("prune"),
        0,
        "inside the retention"
    );
    assert!(store.get(done).await.expect("get").is_some());
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        store.prune().await.expect("prune"),
        1,
        "the finished job goes"
    );
    assert!(
        store.get(done).await.expect("get").is_none(),
        "pruned: unknown"
    );
    assert_eq!(
        state(&store, live).await,
        (JobState::Queued, 0),
        "live jobs stay"
    );
    let fresh = store
        .enqueue(NewJob::new(spec(3, 3)).idempotency_key("k"))
        .await
        .expect("enqueue");
    assert!(
        matches!(fresh, Enqueued::Created(id) if id != done),
        "the key went with it"
    );
}

/// With `capacity` jobs waiting, an enqueue is refused with `Full` and its
/// retry-after; a claim makes room again.
///
/// # Panics
///
/// When the backend breaks the rule above.
pub async fn check_full<S, F, Fut>(make: F)
where
    S: JobStore,
    F: Fn(StoreOptions) -> Fut,
    Fut: Future<Output = S>,
{
    let (mut options, _clock) = options();
    options.capacity = 2;
    let retry_after = options.retry_after;
    let store = make(options).await;
    for n in 0..2 {
        store.enqueue(NewJob::new(spec(n, 3))).await.expect("room");
    }
    let refused = store.enqueue(NewJob::new(spec(9, 3))).await;
    assert!(
        matches!(refused, Err(StoreError::Full { retry_after: r }) if r == retry_after),
        "a full store refuses with its retry-after, got {refused:?}"
    );
    assert_eq!(
        store.stats().await.expect("stats").ready,
        2,
        "nothing stored"
    );
    claim_one(&store).await;
    store
        .enqueue(NewJob::new(spec(3, 3)))
        .await
        .expect("a claim made room");
}

/// Eight concurrent claimers drain 200 jobs: every job is claimed exactly
/// once while its lease is live.
///
/// # Panics
///
/// When the backend breaks the rule above.
pub async fn check_concurrent_claimers<S, F, Fut>(make: F)
where
    S: JobStore,
    F: Fn(StoreOptions) -> Fut,
    Fut: Future<Output = S>,
{
    let (options, _clock) = options();
    let store = Arc::new(make(options).await);
    // Enqueued concurrently, so a durable backend commits them in groups.
    let enqueues: Vec<_> = (0..200)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.enqueue(NewJob::new(spec(n, 3))).await })
        })
        .collect();
    let mut ids = HashSet::new();
    for enqueue in enqueues {
        ids.insert(enqueue.await.expect("enqueuer").expect("enqueue").id());
    }
    let claimers: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store.claim(3, LEASE).await.expect("claim").jobs;
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|c| c.lease.id));
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for claimer in claimers {
        for id in claimer.await.expect("claimer") {
            assert!(
                seen.insert(id),
                "job {id} was claimed twice under a live lease"
            );
        }
    }
    assert_eq!(seen, ids, "every job was claimed");
}
