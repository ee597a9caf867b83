//! The PostgreSQL job store: the conformance suite every backend passes,
//! then what only a shared store has to get right (migrations racing at
//! start, admission and claims across two servers, the `NOTIFY` wake-up).
//!
//! Needs a server: see `pg_support` (skipped locally without
//! `EVENKEEL_TEST_DATABASE_URL`, failing under CI).

mod pg_support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use evenkeel_demo::server::store::postgres::{PostgresOptions, PostgresStore};
use evenkeel_demo::server::store::{
    Enqueued, JobStore, NewJob, StoreError, StoreOptions, conformance,
};
use pg_support::{base_url, fresh_database, query, with_dbname};

/// A store on a database of its own.
async fn store_on(url: &str, options: StoreOptions) -> PostgresStore {
    PostgresStore::connect(url, options).await.expect("connect")
}

/// Runs one conformance check, each store it asks for on a fresh database.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {$(
        /// The conformance check of the same name, against PostgreSQL.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(base) = base_url(stringify!($name)) else { return };
            conformance::$name(|options| {
                let base = base.clone();
                async move { store_on(&fresh_database(&base).await, options).await }
            })
            .await;
        }
    )*};
}

conformance!(
    check_enqueue_claim_ack,
    check_lease_expiry_and_recovery,
    check_stale_lease_rejected,
    check_nack_with_retry_at,
    check_dead_letter_after_max_attempts,
    check_release_on_shutdown,
    check_idempotency,
    check_retention,
    check_full,
    check_concurrent_claimers,
);

/// The database name in a URL is replaced in both connection-string forms,
/// keeping the query string.
#[test]
fn test_database_urls_keep_everything_but_the_name() {
    assert_eq!(
        with_dbname("postgres://u:p@127.0.0.1:5432/main?sslmode=disable", "t1"),
        "postgres://u:p@127.0.0.1:5432/t1?sslmode=disable"
    );
    assert_eq!(with_dbname("postgresql://h", "t2"), "postgresql://h/t2");
    assert_eq!(
        with_dbname("host=h user=u", "t3"),
        "host=h user=u dbname=t3"
    );
}

/// Four servers starting at once on an empty database apply each migration
/// exactly once (the advisory lock makes them take turns), and a restart
/// applies nothing and keeps the jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_applied_once_under_concurrent_starts() {
    let Some(base) = base_url("migrations") else {
        return;
    };
    let url = fresh_database(&base).await;
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { store_on(&url, StoreOptions::default()).await })
        })
        .collect();
    let mut stores = Vec::new();
    for start in starts {
        stores.push(start.await.expect("start"));
    }
    let versions = query(&url, "SELECT version FROM evenkeel_schema_migrations").await;
    assert_eq!(versions.len(), 1, "one row per migration, recorded once");
    let id = stores[0]
        .enqueue(NewJob::new(conformance::spec(1, 3)))
        .await
        .expect("enqueue")
        .id();
    drop(stores);
    let again = store_on(&url, StoreOptions::default()).await;
    assert!(
        again.get(id).await.expect("get").is_some(),
        "the job survived the restart"
    );
    let versions = query(&url, "SELECT version FROM evenkeel_schema_migrations").await;
    assert_eq!(versions.len(), 1, "a restart applies nothing");
}

/// A database whose schema is newer than the binary is refused at start,
/// with an error that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let Some(base) = base_url("newer schema") else {
        return;
    };
    let url = fresh_database(&base).await;
    drop(store_on(&url, StoreOptions::default()).await);
    query(
        &url,
        "INSERT INTO evenkeel_schema_migrations (version, name) VALUES (999, 'future')",
    )
    .await;
    let refused = PostgresStore::connect(&url, StoreOptions::default()).await;
    match refused {
        Err(StoreError::Storage(e)) => assert!(e.to_string().contains("newer"), "{e}"),
        other => panic!("a newer schema must be refused, got {other:?}"),
    }
}

/// Two servers enqueueing at once into a shared queue of capacity 5 admit
/// exactly 5 jobs between them; the rest are refused with `Full`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_holds_across_servers() {
    let Some(base) = base_url("admission") else {
        return;
    };
    let url = fresh_database(&base).await;
    let options = StoreOptions {
        capacity: 5,
        ..StoreOptions::default()
    };
    let a = Arc::new(store_on(&url, options.clone()).await);
    let b = Arc::new(store_on(&url, options).await);
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let store = if n % 2 == 0 {
                Arc::clone(&a)
            } else {
                Arc::clone(&b)
            };
            tokio::spawn(async move { store.enqueue(NewJob::new(conformance::spec(n, 3))).await })
        })
        .collect();
    let (mut created, mut full) = (0, 0);
    for task in tasks {
        match task.await.expect("task") {
            Ok(Enqueued::Created(_)) => created += 1,
            Err(StoreError::Full { .. }) => full += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((created, full), (5, 15));
    assert_eq!(a.stats().await.expect("stats").ready, 5);
}

/// The same idempotency key sent to two servers at once stores one job,
/// and both answers carry its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_one_job_across_servers() {
    let Some(base) = base_url("idempotency across servers") else {
        return;
    };
    let url = fresh_database(&base).await;
    let a = Arc::new(store_on(&url, StoreOptions::default()).await);
    let b = Arc::new(store_on(&url, StoreOptions::default()).await);
    let tasks: Vec<_> = (0..10)
        .map(|n| {
            let store = if n % 2 == 0 {
                Arc::clone(&a)
            } else {
                Arc::clone(&b)
            };
            tokio::spawn(async move {
                let job = NewJob::new(conformance::spec(n, 3)).idempotency_key("same");
                store.enqueue(job).await.expect("enqueue")
            })
        })
        .collect();
    let mut ids = HashSet::new();
    let mut created = 0;
    for task in tasks {
        let answer = task.await.expect("task");
        created += usize::from(matches!(answer, Enqueued::Created(_)));
        ids.insert(answer.id());
    }
    assert_eq!((created, ids.len()), (1, 1), "one job, one id");
    assert_eq!(a.stats().await.expect("stats").ready, 1);
}

/// Claimers on two servers sharing one queue drain 300 jobs, each claimed
/// exactly once while its lease is live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimers_on_two_servers_never_share_a_job() {
    let Some(base) = base_url("claims across servers") else {
        return;
    };
    let url = fresh_database(&base).await;
    let a = Arc::new(store_on(&url, StoreOptions::default()).await);
    let b = Arc::new(store_on(&url, StoreOptions::default()).await);
    let mut ids = HashSet::new();
    for n in 0..300 {
        ids.insert(
            a.enqueue(NewJob::new(conformance::spec(n, 3)))
                .await
                .expect("enqueue")
                .id(),
        );
    }
    let claimers: Vec<_> = (0..8)
        .map(|n| {
            let store = if n % 2 == 0 {
                Arc::clone(&a)
            } else {
                Arc::clone(&b)
            };
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store
                        .claim(4, conformance::LEASE)
                        .await
                        .expect("claim")
                        .jobs;
                    if batch.is_empty() {
                        return mine;
                    }
                    for claimed in batch {
                        mine.push(claimed.lease.id);
                        store.ack(claimed.lease).await.expect("ack");
                    }
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for claimer in claimers {
        for id in claimer.await.expect("claimer") {
            assert!(seen.insert(id), "job {id} was claimed twice");
        }
    }
    assert_eq!(seen, ids, "every job was claimed");
    assert_eq!(b.stats().await.expect("stats").succeeded, 300);
}

/// An idle worker on one server wakes on the `NOTIFY` of another server's
/// enqueue, long before its poll interval (a minute here) would wake it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_on_one_server_wakes_idle_workers_on_another() {
    let Some(base) = base_url("notify") else {
        return;
    };
    let url = fresh_database(&base).await;
    let config = url.parse().expect("url");
    let slow_poll = PostgresOptions {
        poll_interval: Duration::from_secs(60),
        ..PostgresOptions::default()
    };
    let idle = PostgresStore::connect_with(config, StoreOptions::default(), slow_poll)
        .await
        .expect("connect");
    let busy = store_on(&url, StoreOptions::default()).await;
    let mut wait = idle.wait_for_work(Duration::from_secs(60));
    // Poll the wait once so it is registered before the enqueue.
    tokio::select! {
        biased;
        () = &mut wait => panic!("woke with nothing to do"),
        () = std::future::ready(()) => {}
    }
    busy.enqueue(NewJob::new(conformance::spec(1, 3)))
        .await
        .expect("enqueue");
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("the notification wakes the idle worker");
    assert_eq!(
        idle.claim(1, conformance::LEASE)
            .await
            .expect("claim")
            .jobs
            .len(),
        1
    );
}

/// With group commit off (the benchmark's naive baseline) every enqueue
/// commits alone, with the same answers: admission, idempotency, order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_group_commit_the_answers_are_the_same() {
    let Some(base) = base_url("no group commit") else {
        return;
    };
    let make = |mut options: StoreOptions| {
        let base = base.clone();
        options.group_commit = false;
        async move { store_on(&fresh_database(&base).await, options).await }
    };
    conformance::check_enqueue_claim_ack(make).await;
    conformance::check_full(make).await;
    conformance::check_idempotency(make).await;
}
