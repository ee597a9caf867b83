//! Unit tests of the server's pure parts: job validation, the job store's
//! state machine, accounting and retention, and the spill file round trip.
//! The behaviour over HTTP and signals is pinned by `tests/e2e`.

use serde_json::json;

use super::job::{JobId, JobRequest, JobSpec, Limits};
use super::spill::{self, SpilledJob};
use super::store::{JobState, JobStore};

fn spec(n: u64) -> JobSpec {
    JobSpec {
        payload: json!({ "n": n }),
        work_ms: n,
        fail_rate: 0.25,
        downstream: false,
        panic: false,
        max_attempts: 3,
    }
}

fn request(body: serde_json::Value) -> JobRequest {
    serde_json::from_value(body).expect("a well-formed request")
}

const LIMITS: Limits = Limits {
    max_attempts: 4,
    has_downstream: false,
};

/// Defaults fill in what the client left out; every bound is checked.
#[test]
fn validation_applies_defaults_and_bounds() {
    let ok = request(json!({"payload": null})).validate(LIMITS).unwrap();
    assert_eq!(
        (
            ok.work_ms,
            ok.fail_rate,
            ok.downstream,
            ok.panic,
            ok.max_attempts
        ),
        (0, 0.0, false, false, 4)
    );
    for bad in [
        json!({"payload": 1, "work_ms": 60_001}),
        json!({"payload": 1, "fail_rate": -0.1}),
        json!({"payload": 1, "fail_rate": 1.01}),
        json!({"payload": 1, "max_attempts": 0}),
        json!({"payload": 1, "max_attempts": 5}),
        json!({"payload": 1, "downstream": true}),
    ] {
        assert!(request(bad.clone()).validate(LIMITS).is_err(), "{bad}");
    }
    let with_downstream = Limits {
        has_downstream: true,
        ..LIMITS
    };
    assert!(
        request(json!({"payload": 1, "downstream": true}))
            .validate(with_downstream)
            .is_ok()
    );
}

/// A job moves queued → running → failed → running → succeeded, and the
/// accounting follows: a finished job cannot be finished twice.
#[test]
fn store_moves_a_job_through_its_states_once() {
    let store = JobStore::new(10);
    let id = JobId::random();
    store.insert(id, spec(1));
    assert_eq!(store.get(id).unwrap().state, JobState::Queued);
    assert!(store.claim(id).is_some());
    assert_eq!(store.begin_attempt(id), Some(1));
    store.attempt_failed(id, "boom".into());
    let view = store.get(id).unwrap();
    assert_eq!(
        (view.state, view.error.as_deref()),
        (JobState::Failed, Some("boom"))
    );
    assert_eq!(store.begin_attempt(id), Some(2));
    assert!(store.succeed(id));
    assert!(!store.succeed(id), "a finished job stays finished");
    assert!(!store.kill(id, "late".into()));
    assert_eq!(store.claim(id), None);
    let books = store.accounting();
    assert_eq!(
        (books.accepted, books.succeeded, books.dead, books.retries),
        (1, 1, 0, 1)
    );
    assert_eq!(books.unaccounted(), 0);
}

/// The spill takes every live job, in admission order, exactly once; a
/// worker that finishes a spilled job afterwards is refused, so the books
/// still balance.
#[test]
fn spill_takes_every_live_job_and_wins_against_late_workers() {
    let store = JobStore::new(10);
    let ids: Vec<JobId> = (0..5).map(|_| JobId::random()).collect();
    for (n, id) in ids.iter().enumerate() {
        store.insert(*id, spec(n as u64));
    }
    store.claim(ids[1]);
    store.begin_attempt(ids[1]);
    store.succeed(ids[1]);
    store.claim(ids[3]);
    store.begin_attempt(ids[3]);

    let spilled = store.spill_live();
    let spilled_ids: Vec<JobId> = spilled.iter().map(|j| j.id).collect();
    assert_eq!(spilled_ids, [ids[0], ids[2], ids[3], ids[4]]);
    assert_eq!(spilled[2].attempts, 1);
    assert!(!store.succeed(ids[3]), "the spill won");
    assert!(store.spill_live().is_empty());
    let books = store.accounting();
    assert_eq!((books.accepted, books.succeeded, books.spilled), (5, 1, 4));
    assert_eq!(books.unaccounted(), 0);
    assert_eq!(store.live(), 0);
}

/// At most `retain` finished records are kept, oldest forgotten first;
/// live records are never forgotten, however many there are.
#[test]
fn retention_forgets_the_oldest_finished_records_only() {
    let store = JobStore::new(2);
    let live: Vec<JobId> = (0..5).map(|_| JobId::random()).collect();
    for id in &live {
        store.insert(*id, spec(0));
    }
    let finished: Vec<JobId> = (0..4).map(|_| JobId::random()).collect();
    for id in &finished {
        store.insert(*id, spec(0));
        store.claim(*id);
        store.succeed(*id);
    }
    assert!(store.get(finished[0]).is_none());
    assert!(store.get(finished[1]).is_none());
    assert!(store.get(finished[2]).is_some());
    assert!(store.get(finished[3]).is_some());
    assert!(live.iter().all(|id| store.get(*id).is_some()));
    assert_eq!(store.records(), 7);
    assert_eq!(
        store.accounting().succeeded,
        4,
        "forgetting is not un-counting"
    );
}

/// A withdrawn admission leaves no trace in the books.
#[test]
fn a_withdrawn_admission_is_not_counted() {
    let store = JobStore::new(2);
    let id = JobId::random();
    store.insert(id, spec(0));
    store.withdraw(id);
    assert!(store.get(id).is_none());
    assert_eq!(store.accounting().accepted, 0);
    assert_eq!(store.live(), 0);
}

/// Restored jobs keep their id and attempts, count as accepted and as
/// restored.
#[test]
fn restored_jobs_keep_id_and_attempts() {
    let store = JobStore::new(2);
    let job = SpilledJob {
        id: JobId::random(),
        attempts: 2,
        spec: spec(3),
    };
    store.restore(job.clone());
    let view = store.get(job.id).unwrap();
    assert_eq!((view.state, view.attempts), (JobState::Queued, 2));
    assert_eq!(store.begin_attempt(job.id), Some(3));
    let books = store.accounting();
    assert_eq!((books.accepted, books.restored, books.retries), (1, 1, 1));
}

/// The spill file round-trips every field, ignores blank lines, names the
/// line of a corrupt entry, and disappears when there is nothing to spill.
#[test]
fn spill_file_round_trips() {
    let dir = std::env::temp_dir().join(format!("evenkeel-spill-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("spill.jsonl");
    assert!(
        spill::load(&path).unwrap().is_empty(),
        "missing file = empty"
    );

    let jobs: Vec<SpilledJob> = (0..3)
        .map(|n| SpilledJob {
            id: JobId::random(),
            attempts: n,
            spec: spec(u64::from(n)),
        })
        .collect();
    spill::write(&path, &jobs).unwrap();
    assert_eq!(spill::load(&path).unwrap(), jobs);
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);

    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\n\n{\"id\": \"nope\"}\n");
    std::fs::write(&path, text).unwrap();
    let err = spill::load(&path).unwrap_err();
    assert!(err.to_string().contains(":6:"), "{err}");

    spill::write(&path, &[]).unwrap();
    assert!(!path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The documented defaults, and a flag overriding one.
#[test]
fn serve_flags_have_the_documented_defaults() {
    use clap::Parser;
    use std::time::Duration;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: super::ServeArgs,
    }
    let args = Cli::parse_from(["serve"]).args;
    assert_eq!(args.addr.to_string(), "0.0.0.0:8080");
    assert_eq!(args.drain_timeout, Duration::from_secs(25));
    assert_eq!(args.pre_drain_delay, Duration::from_secs(5));
    assert_eq!(args.header_read_timeout, Duration::from_secs(10));
    assert_eq!(args.keep_alive_timeout, Duration::from_secs(5));
    assert_eq!(args.body_read_timeout, Duration::from_secs(10));
    assert_eq!(args.max_connections, 1024);
    assert!(!args.debug_panic_route);
    assert_eq!(args.overflow, super::OverflowPolicy::Reject);
    assert_eq!(args.log_format, super::LogFormat::Text);
    assert_eq!(args.rate_limit, 0);
    let args = Cli::parse_from([
        "serve",
        "--drain-timeout",
        "2s",
        "--overflow",
        "drop-oldest",
    ])
    .args;
    assert_eq!(args.drain_timeout, Duration::from_secs(2));
    assert_eq!(args.overflow, super::OverflowPolicy::DropOldest);
    assert!(Cli::try_parse_from(["serve", "--workers", "0"]).is_err());
}
