//! Conformance checks of the lease: expiry and recovery, fencing of stale
//! leases, release at shutdown, and concurrent claimers.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{LEASE, claim_one, options, spec, state};
use crate::server::store::{JobState, JobStore, NewJob, StoreError, StoreOptions};

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
