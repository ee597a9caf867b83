//! The store conformance suite against the in-memory and redb backends,
//! plus what only the embedded store promises: jobs survive a reopen, a
//! second opener of the same directory is refused, and leases found at
//! start are handed back.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use evenkeel_demo::server::store::{
    JobState, JobStore, MemoryStore, NewJob, RedbStore, StoreError, StoreOptions, conformance,
};

/// A fresh, empty directory under the system's temporary directory.
fn scratch_dir() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "evenkeel-store-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn redb(options: StoreOptions) -> RedbStore {
    RedbStore::open(&scratch_dir(), options).expect("open a fresh redb store")
}

/// The in-memory backend passes every conformance check.
#[tokio::test]
async fn memory_store_conforms() {
    conformance::check_all(|options| async move { MemoryStore::new(options) }).await;
}

/// The redb backend passes every conformance check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_store_conforms() {
    conformance::check_all(|options| async move { redb(options) }).await;
}

/// The redb backend with one commit per command (the benchmark's naive
/// baseline) has the same semantics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_store_without_group_commit_conforms() {
    conformance::check_all(|mut options| async move {
        options.group_commit = false;
        redb(options)
    })
    .await;
}

/// What `enqueue` answered survives closing and reopening the file: the
/// waiting job, the finished outcome and the idempotency key; a lease held
/// when the file was closed is handed back by `recover`, still charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_jobs_survive_a_reopen_and_leases_are_recovered() {
    let dir = scratch_dir();
    let (options, _clock) = conformance::options();
    let store = RedbStore::open(&dir, options.clone()).expect("open");
    let done = store
        .enqueue(NewJob::new(conformance::spec(1, 3)).idempotency_key("k"))
        .await
        .expect("enqueue")
        .id();
    let leased = store
        .enqueue(NewJob::new(conformance::spec(2, 3)))
        .await
        .expect("enqueue")
        .id();
    let waiting = store
        .enqueue(NewJob::new(conformance::spec(3, 3)))
        .await
        .expect("enqueue")
        .id();
    let first = store
        .claim(1, conformance::LEASE)
        .await
        .expect("claim")
        .jobs;
    store.ack(first[0].lease).await.expect("ack");
    let second = store
        .claim(1, conformance::LEASE)
        .await
        .expect("claim")
        .jobs;
    assert_eq!(second[0].lease.id, leased);
    drop(store); // as if the process died holding the lease

    let store = RedbStore::open(&dir, options).expect("reopen");
    let get = |id| {
        let store = &store;
        async move { store.get(id).await.expect("get").expect("kept") }
    };
    assert_eq!(get(done).await.state, JobState::Succeeded);
    assert_eq!(get(leased).await.state, JobState::Running);
    assert_eq!(get(waiting).await.state, JobState::Queued);
    let again = store
        .enqueue(NewJob::new(conformance::spec(1, 3)).idempotency_key("k"))
        .await
        .expect("enqueue");
    assert_eq!(again.id(), done, "the idempotency key survived");
    assert_eq!(store.recover().await.expect("recover"), 1);
    let leased_again = get(leased).await;
    assert_eq!(
        (leased_again.state, leased_again.attempts),
        (JobState::Queued, 1)
    );
    let claims = store
        .claim(5, conformance::LEASE)
        .await
        .expect("claim")
        .jobs;
    let ids: Vec<_> = claims
        .iter()
        .map(|c| (c.lease.id, c.lease.attempt))
        .collect();
    assert_eq!(
        ids,
        vec![(leased, 2), (waiting, 1)],
        "recovered first, charged"
    );
    drop(store);
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// A second store on a directory already open fails at open with
/// `Locked`, naming the file, and leaves the first one working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_second_opener_is_refused() {
    let dir = scratch_dir();
    let store = RedbStore::open(&dir, StoreOptions::default()).expect("open");
    match RedbStore::open(&dir, StoreOptions::default()) {
        Err(StoreError::Locked { path }) => assert_eq!(path, store.path()),
        other => panic!("expected Locked, got {other:?}"),
    }
    store
        .enqueue(NewJob::new(conformance::spec(1, 1)))
        .await
        .expect("the first store still works");
    drop(store);
    RedbStore::open(&dir, StoreOptions::default()).expect("free again once closed");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// `wait_for_work` wakes for an enqueue from another task, and otherwise
/// returns by its bound.
#[tokio::test(start_paused = true)]
async fn wait_for_work_wakes_on_enqueue() {
    let store = std::sync::Arc::new(MemoryStore::new(StoreOptions::default()));
    let sleeper = tokio::spawn({
        let store = std::sync::Arc::clone(&store);
        async move {
            let start = tokio::time::Instant::now();
            store.wait_for_work(Duration::from_secs(60)).await;
            start.elapsed()
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    store
        .enqueue(NewJob::new(conformance::spec(1, 1)))
        .await
        .expect("enqueue");
    let slept = sleeper.await.expect("waiter");
    assert_eq!(
        slept,
        Duration::from_secs(1),
        "woken by the enqueue, not the bound"
    );
    let start = tokio::time::Instant::now();
    let empty = MemoryStore::new(StoreOptions::default());
    empty.wait_for_work(Duration::from_secs(5)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}
