//! Shutdown with real signals: the readiness flip, intake stopping, the
//! drain, releasing unfinished jobs to the store, the second signal, exit
//! codes, and the accounting invariant across a restart.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::StatusCode;
use nix::sys::signal::Signal;
use serde_json::json;

use crate::harness::{Scratch, Server, field, metric};

fn id_of(answer: &crate::harness::Answer) -> String {
    answer.json["id"]
        .as_str()
        .expect("a 202 carries an id")
        .to_owned()
}

/// SIGTERM turns `/readyz` to 503 at once while `/healthz` stays 200;
/// during the pre-drain delay jobs are still admitted; once the drain
/// begins `POST /jobs` answers 503 "draining" with `Retry-After`; queued
/// and running jobs finish, and a complete drain exits 0 with a final
/// accounting record in which nothing is left in the store.
#[tokio::test]
async fn sigterm_flips_readiness_then_stops_intake_and_drains_to_exit_0() {
    let scratch = Scratch::new("readiness");
    let server = Server::start(
        &scratch.data(),
        &[
            "--pre-drain-delay",
            "1s",
            "--drain-timeout",
            "15s",
            "--workers",
            "1",
        ],
    )
    .await;
    // A job long enough to keep the drain open until we have looked.
    let long = id_of(
        &server
            .post_job(&json!({"payload": "long", "work_ms": 2500}))
            .await,
    );
    server.wait_state(&long, "running").await;
    assert_eq!(server.get("/readyz").await.status, StatusCode::OK);

    server.signal(Signal::SIGTERM);
    server
        .poll("/readyz", |a| a.status == StatusCode::SERVICE_UNAVAILABLE)
        .await;
    assert_eq!(server.get("/healthz").await.status, StatusCode::OK);
    let serving = metric(
        &server.metrics().await,
        "evenkeel_drain_phase{phase=\"serving\"}",
    );
    assert_eq!(serving, Some(0.0), "the phase has moved on");

    // Pre-drain: a job is still admitted (unless the delay is already over).
    let during_pre_drain = server
        .post_job(&json!({"payload": "late", "work_ms": 10}))
        .await;
    let mut accepted = 1;
    if during_pre_drain.status == StatusCode::ACCEPTED {
        accepted += 1;
    } else {
        assert_eq!(during_pre_drain.status, StatusCode::SERVICE_UNAVAILABLE);
    }

    // Draining: once the phase says so, intake answers 503 with Retry-After.
    server
        .poll("/metrics", |a| {
            metric(&a.text, "evenkeel_drain_phase{phase=\"draining\"}") == Some(1.0)
        })
        .await;
    let refused = server.post_job(&json!({"payload": "refused"})).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text
    );
    assert!(refused.headers.contains_key("retry-after"));
    assert!(
        refused.json["error"]
            .as_str()
            .unwrap()
            .contains("shutting down")
    );
    assert_eq!(
        server.get("/readyz").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Lookups still work during the drain.
    assert_eq!(
        server.get(&format!("/jobs/{long}")).await.status,
        StatusCode::OK
    );

    let (status, record) = server.exit().await;
    assert_eq!(status.code(), Some(0), "{record}");
    assert_eq!(field(&record, "accepted"), accepted);
    assert_eq!(field(&record, "succeeded"), accepted);
    assert_eq!(field(&record, "remaining"), 0);
    assert_eq!(field(&record, "lost"), 0);
    assert_eq!(record["drain"], "complete");
}

/// Under load, SIGTERM with a drain deadline shorter than the backlog:
/// every 202 ends succeeded, dead or left in the store (`accepted =
/// succeeded + dead + remaining`, `lost = 0`), and the process exits with
/// the deadline code. A restart on the same data directory resumes the
/// remaining jobs, and every accepted id ends succeeded or dead.
#[tokio::test]
async fn sigterm_under_load_leaves_the_rest_in_the_store_and_a_restart_finishes_it() {
    let scratch = Scratch::new("load");
    let data = scratch.data();
    let server = Arc::new(
        Server::start(
            &data,
            &[
                "--workers",
                "2",
                "--queue-capacity",
                "16",
                "--drain-timeout",
                "1s",
                "--max-attempts",
                "2",
                "--retry-initial",
                "5ms",
            ],
        )
        .await,
    );

    // Four concurrent clients post a mix of jobs until refused by the drain.
    let admitted = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..4)
        .map(|n| tokio::spawn(client(Arc::clone(&server), n, Arc::clone(&admitted))))
        .collect();

    // Signal once a good part of the load is in.
    tokio::time::timeout(crate::harness::PATIENCE, async {
        while admitted.lock().unwrap().len() < 30 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("30 jobs admitted");
    server.signal(Signal::SIGTERM);

    for client in clients {
        assert!(
            client.await.unwrap(),
            "every client was refused by the drain in the end"
        );
    }
    let accepted: Vec<String> = admitted.lock().unwrap().clone();
    let server = Arc::into_inner(server).expect("the clients are done");
    let (status, record) = server.exit().await;

    let total = accepted.len() as u64;
    assert_eq!(field(&record, "accepted"), total, "{record}");
    let remaining = field(&record, "remaining");
    assert_eq!(
        field(&record, "succeeded") + field(&record, "dead") + remaining,
        total,
        "{record}"
    );
    assert_eq!(field(&record, "lost"), 0);
    // Whether a `fail_rate: 1.0` job reaches its last attempt before the
    // 1 s drain deadline depends on the machine's load (on a loaded 2-core
    // machine none may even start), so it is printed, not asserted; the
    // restart below checks that every accepted job ends succeeded or dead.
    eprintln!("dead before the deadline: {}", field(&record, "dead"));
    assert!(
        remaining > 0,
        "the deadline left work in the store: {record}"
    );
    let unique: HashSet<&String> = accepted.iter().collect();
    assert_eq!(unique.len(), accepted.len(), "ids are unique");
    assert_eq!(status.code(), Some(124), "deadline exit code: {record}");

    restart_finishes_the_rest(&data, remaining, &accepted).await;
}

/// One load client: posts a mix of jobs (long, flaky, doomed, medium) until
/// the drain refuses it; records every admitted id. Returns whether it was
/// refused by the drain.
async fn client(server: Arc<Server>, client: u64, admitted: Arc<Mutex<Vec<String>>>) -> bool {
    for n in 0_u64.. {
        let body = match n % 4 {
            // Long enough that 2 workers cannot have run the first 30
            // admitted jobs (about 7 s of work) before the signal, however
            // slowly a loaded machine posts them: the 1 s drain deadline
            // always leaves work in the store.
            0 => json!({"payload": [client, n], "work_ms": 1200}),
            1 => json!({"payload": [client, n], "work_ms": 100, "fail_rate": 0.5}),
            2 => json!({"payload": [client, n], "fail_rate": 1.0}),
            _ => json!({"payload": [client, n], "work_ms": 800}),
        };
        let answer = server.post_job(&body).await;
        match answer.status {
            StatusCode::ACCEPTED => admitted.lock().unwrap().push(id_of(&answer)),
            StatusCode::SERVICE_UNAVAILABLE => {
                if answer.json["error"]
                    .as_str()
                    .unwrap()
                    .contains("shutting down")
                {
                    return true;
                }
                // The queue is full: pace the retry (load, not a wait for
                // anything in particular).
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            other => panic!("unexpected {other}: {}", answer.text),
        }
    }
    false // 2^64 requests later
}

/// Restarts on `data`: the `remaining` jobs run; every accepted id ends
/// succeeded or dead (finished outcomes are kept across the restart); the
/// books balance again.
async fn restart_finishes_the_rest(data: &std::path::Path, remaining: u64, accepted: &[String]) {
    let server = Server::start(data, &["--workers", "4", "--max-attempts", "2"]).await;
    for id in accepted {
        let state = server
            .poll(&format!("/jobs/{id}"), |a| {
                matches!(a.json["state"].as_str(), Some("succeeded" | "dead"))
            })
            .await;
        assert_eq!(state.json["id"], id.as_str());
    }
    server.signal(Signal::SIGTERM);
    let (status, record) = server.exit().await;
    assert_eq!(status.code(), Some(0), "{record}");
    assert_eq!(field(&record, "restored"), remaining, "{record}");
    assert_eq!(field(&record, "accepted"), 0, "{record}");
    assert_eq!(
        field(&record, "succeeded") + field(&record, "dead"),
        remaining,
        "{record}"
    );
    assert_eq!(field(&record, "remaining"), 0);
    assert_eq!(field(&record, "lost"), 0);
}

/// A second signal during the drain skips the rest of it: the running job
/// is released to the store (not charged an attempt), the process exits
/// with the forced code long before the drain deadline, and a restart
/// finds both jobs still to run, the interrupted one still on attempt 0.
#[tokio::test]
async fn a_second_signal_releases_at_once_and_exits_137() {
    let scratch = Scratch::new("second");
    let data = scratch.data();
    let server = Server::start(&data, &["--drain-timeout", "60s", "--workers", "1"]).await;
    let running = id_of(
        &server
            .post_job(&json!({"payload": 1, "work_ms": 60_000}))
            .await,
    );
    let queued = id_of(
        &server
            .post_job(&json!({"payload": 2, "work_ms": 60_000}))
            .await,
    );
    server.wait_state(&running, "running").await;

    server.signal(Signal::SIGTERM);
    server
        .poll("/readyz", |a| a.status == StatusCode::SERVICE_UNAVAILABLE)
        .await;
    server.signal(Signal::SIGINT);
    let (status, record) = server.exit().await;
    assert_eq!(status.code(), Some(137), "{record}");
    assert_eq!(record["drain"], "forced");
    assert_eq!(field(&record, "accepted"), 2);
    assert_eq!(field(&record, "released"), 1);
    assert_eq!(field(&record, "remaining"), 2);
    assert_eq!(field(&record, "lost"), 0);

    let server = Server::start(&data, &["--workers", "1"]).await;
    let first = server.wait_state(&running, "running").await;
    assert_eq!(
        first["attempts"], 1,
        "the released attempt was not charged: {first}"
    );
    let second = server.get(&format!("/jobs/{queued}")).await.json;
    assert_eq!(second["state"], "queued", "admission order kept: {second}");
}
