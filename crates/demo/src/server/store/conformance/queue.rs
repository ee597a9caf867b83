//! Conformance checks of the queue: enqueue, claim and ack, delayed
//! retries, dead letters, idempotency, retention and admission.

use std::future::Future;
use std::time::Duration;

use super::{LEASE, START_MS, claim_one, options, spec, state};
use crate::server::store::{
    Enqueued, JobState, JobStore, ManualClock, Nacked, NewJob, StoreError, StoreOptions,
};

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
    crate::server::store::Clock::now_ms(clock)
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
