//! The crash test: a 202 survives `kill -9`.
//!
//! The real server binary runs under load from four HTTP clients and is
//! killed with SIGKILL at a random moment (seeded), several times over,
//! each time restarted on the same data directory. At the end a last
//! server runs until every job that ever got a 202 has reached `succeeded`
//! or `dead`: lost must be 0. Delivery is at-least-once, so a job whose
//! attempt was cut short by a kill runs again; the test counts those jobs
//! (claimed more than once although they never fail) and prints the
//! figure rather than hiding it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::StatusCode;
use nix::sys::signal::Signal;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::harness::{PATIENCE, Scratch, Server, field};

/// Kills per run; each at a random moment under load.
const KILLS: usize = 4;
/// The seeds of the runs (each a fresh data directory).
const SEEDS: [u64; 2] = [14, 1_401];

/// Posts jobs until `stop`: 20 ms of work each, never failing, so any
/// second claim is a crash's doing. Records the ids that got a 202.
async fn load(
    server: Arc<Server>,
    client: u64,
    stop: Arc<AtomicBool>,
    accepted: Arc<Mutex<Vec<String>>>,
) {
    let mut n = 0_u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let body = json!({"payload": [client, n], "work_ms": 20, "max_attempts": 10});
        match server.try_post_job(&body).await {
            Some(answer) if answer.status == StatusCode::ACCEPTED => {
                let id = answer.json["id"]
                    .as_str()
                    .expect("a 202 has an id")
                    .to_owned();
                accepted.lock().unwrap().push(id);
            }
            // Full: pace the retry (this is load, not a wait for an event).
            Some(answer) if answer.status == StatusCode::SERVICE_UNAVAILABLE => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Some(answer) => panic!("unexpected {}: {}", answer.status, answer.text),
            // The server was killed mid-request: no 202, nothing promised.
            None => return,
        }
    }
}

const FLAGS: [&str; 8] = [
    "--workers",
    "4",
    "--queue-capacity",
    "200",
    "--max-attempts",
    "10",
    "--lease",
    "5s",
];

/// One seeded run: `KILLS` kill-and-restart rounds, then a final server
/// that must finish every accepted job. Returns (accepted, run twice).
async fn run(seed: u64) -> (usize, usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let scratch = Scratch::new(&format!("crash-{seed}"));
    let data = scratch.data();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..KILLS {
        let server = Arc::new(Server::start(&data, &FLAGS).await);
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..4)
            .map(|c| {
                tokio::spawn(load(
                    Arc::clone(&server),
                    c,
                    Arc::clone(&stop),
                    Arc::clone(&accepted),
                ))
            })
            .collect();
        // The random moment of the kill: how long the load runs first.
        let after = Duration::from_millis(rng.random_range(50..400));
        tokio::time::sleep(after).await;
        // Kill while requests are still in flight, then stop the clients.
        server.signal(Signal::SIGKILL);
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            client.await.expect("load client");
        }
        let server = Arc::into_inner(server).expect("the clients are done");
        let status = server.kill9().await;
        assert_eq!(status.code(), None, "killed by a signal, not exited");
    }

    let accepted = accepted.lock().unwrap().clone();
    assert!(!accepted.is_empty(), "the load got some 202s");
    let server = Server::start(&data, &FLAGS).await;
    let mut ran_twice = 0;
    for id in &accepted {
        let answer = server
            .poll(&format!("/jobs/{id}"), |a| {
                a.status == StatusCode::NOT_FOUND
                    || matches!(a.json["state"].as_str(), Some("succeeded" | "dead"))
            })
            .await;
        assert_ne!(
            answer.status,
            StatusCode::NOT_FOUND,
            "job {id} got a 202 and was lost"
        );
        assert_eq!(
            answer.json["state"], "succeeded",
            "a job that never fails, with 10 attempts, succeeds: {}",
            answer.json
        );
        if answer.json["attempts"].as_u64() > Some(1) {
            ran_twice += 1;
        }
    }
    server.signal(Signal::SIGTERM);
    let (status, record) = server.exit().await;
    assert_eq!(status.code(), Some(0), "{record}");
    assert_eq!(field(&record, "lost"), 0, "{record}");
    assert_eq!(field(&record, "remaining"), 0, "{record}");
    (accepted.len(), ran_twice)
}

/// Every job that got a 202 reaches `succeeded` although the server was
/// killed with SIGKILL four times per run under load (two seeded runs);
/// lost = 0. Prints how many jobs ran more than once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_accepted_job() {
    let outcome = tokio::time::timeout(PATIENCE * 3, async {
        let mut totals = Vec::new();
        for seed in SEEDS {
            totals.push((seed, run(seed).await));
        }
        totals
    })
    .await
    .expect("the crash runs finished in time");
    for (seed, (accepted, ran_twice)) in outcome {
        println!(
            "crash test seed {seed}: {KILLS} x SIGKILL, {accepted} jobs accepted, lost 0, {ran_twice} ran more than once"
        );
    }
}
