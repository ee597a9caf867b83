//! Two real `evenkeel-demo serve` processes sharing one PostgreSQL queue;
//! one is killed with SIGKILL while it holds leases; the other finishes
//! the orphans once their leases expire. Every job that got a 202 ends
//! `succeeded` or `dead` (lost = 0); jobs that started more than once (the
//! at-least-once duplicates) are counted and printed, not hidden.
//!
//! Needs a server: see `pg_support` (skipped locally without
//! `EVENKEEL_TEST_DATABASE_URL`, failing under CI). Every wait polls an
//! observable condition with a bound; none sleeps to let time pass.

mod pg_support;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use pg_support::{base_url, fresh_database};

/// The longest any one wait may take.
const PATIENCE: Duration = Duration::from_secs(30);
/// Jobs posted to each server.
const JOBS_PER_SERVER: u64 = 100;

type Http = Client<HttpConnector, Full<Bytes>>;

/// A running server process (killed on drop).
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Starts `evenkeel-demo serve` on the shared database with short
    /// leases, so the orphans of a killed server come back within a second.
    async fn start(database_url: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_evenkeel-demo"))
            .args(["serve", "--addr", "127.0.0.1:0", "--log-format", "json"])
            .args([
                "--database-url",
                database_url,
                "--lease",
                "1s",
                "--workers",
                "4",
            ])
            .args(["--queue-capacity", "10000", "--drain-timeout", "10s"])
            .env("EVENKEEL_PRE_DRAIN_DELAY", "0s")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn evenkeel-demo");
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let addr = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    return addr.parse().expect("an address");
                }
            }
            panic!("the server exited before listening");
        })
        .await
        .expect("the server started in time");
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, addr }
    }

    fn kill9(&mut self) {
        let pid = self.child.id().expect("running");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("a pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("SIGKILL");
    }
}

async fn send(
    http: &Http,
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Bytes,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(body))
        .expect("a request");
    let response = tokio::time::timeout(PATIENCE, http.request(request))
        .await
        .expect("answered in time")
        .expect("the request went through");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Posts `n` jobs to `addr` and returns the ids that got a 202.
async fn post_jobs(http: Http, addr: SocketAddr, first: u64, n: u64) -> Vec<String> {
    let mut ids = Vec::new();
    for i in first..first + n {
        let body = json!({ "payload": { "n": i }, "work_ms": 40 });
        let (status, json) =
            send(&http, addr, Method::POST, "/jobs", body.to_string().into()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "job {i}: {json}");
        ids.push(json["id"].as_str().expect("an id").to_owned());
    }
    ids
}

/// Two servers share a queue; one is killed with SIGKILL holding leases; the other
/// finishes every accepted job (lost = 0), and the duplicates are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_servers_jobs_are_finished_by_the_other() {
    let Some(base) = base_url("multi-instance crash") else {
        return;
    };
    let url = fresh_database(&base).await;
    let (mut a, b) = tokio::join!(Server::start(&url), Server::start(&url));
    let http: Http = Client::builder(TokioExecutor::new()).build_http();

    // Jobs posted to both, concurrently: 8 workers at 40 ms a job need
    // about a second for the 200, so A holds leases when it is killed.
    let (to_a, to_b) = tokio::join!(
        post_jobs(http.clone(), a.addr, 0, JOBS_PER_SERVER),
        post_jobs(http.clone(), b.addr, JOBS_PER_SERVER, JOBS_PER_SERVER),
    );
    a.kill9();
    let _ = a.child.wait().await;
    let accepted: Vec<String> = to_a.into_iter().chain(to_b).collect();

    // B finishes everything: its own jobs, A's queued ones, and A's
    // orphans once their one-second leases expire. A job still unfinished
    // when patience runs out is lost.
    let mut pending: Vec<&String> = accepted.iter().collect();
    let mut finals = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !pending.is_empty() && tokio::time::Instant::now() < deadline {
        let mut still = Vec::new();
        for id in pending {
            let (status, json) = send(
                &http,
                b.addr,
                Method::GET,
                &format!("/jobs/{id}"),
                Bytes::new(),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "job {id} is known: {json}");
            if json["state"] == "succeeded" || json["state"] == "dead" {
                finals.push(json);
            } else {
                still.push(id);
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let succeeded = finals.iter().filter(|r| r["state"] == "succeeded").count();
    let dead = finals.len() - succeeded;
    let ran_again = finals
        .iter()
        .filter(|r| r["attempts"].as_u64().is_some_and(|n| n > 1))
        .count();
    let lost = pending.len();
    println!(
        "multi-instance crash: accepted {}, succeeded {succeeded}, dead {dead}, lost {lost}, \
         started more than once (duplicates) {ran_again}",
        accepted.len()
    );
    assert_eq!(lost, 0, "unfinished: {pending:?}");
    assert_eq!(
        dead, 0,
        "no job may die: none fails, and a job has 4 attempts"
    );
    assert!(
        ran_again > 0,
        "the kill orphaned no lease, so the test did not exercise recovery"
    );
}
