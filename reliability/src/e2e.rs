//! End to end, for `cargo xtask bench`: `POST /jobs` through the demo's
//! whole stack (middleware, admission, the durable job store with group
//! commit) beside a bare axum handler that does the same JSON parse and
//! nothing else, in the same run, over the same number of keep-alive
//! connections; and the server's memory under a sustained overload.
//!
//! The bare handler parses the body into the same shape as the demo's job
//! request (unknown fields refused) and answers 202 with a fresh id: it is
//! the ceiling an HTTP job API on this machine cannot beat. The demo is
//! also measured with `--store memory`, the same stack with no durability,
//! as the reference for what the store costs. Each contender is loaded by
//! this process's own clients and, when `wrk` is installed, again by `wrk`
//! from a process of its own (see [`wrk`]), so a figure that belongs to
//! one driver shows as such. Output is one JSON object on stdout, which
//! `cargo xtask bench` folds into BENCHMARKS.md.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::StatusCode;
use axum::routing::post;
use nix::sys::signal::Signal;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::load::{flood, quantile};
use crate::server::{Launch, Scratch, Server};

mod wrk;

/// The demo's job request, field for field (the bare handler's parse).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "parsed to cost what the demo's parse costs, then dropped"
)]
struct JobRequest {
    payload: Value,
    #[serde(default)]
    work_ms: Option<u64>,
    #[serde(default)]
    fail_rate: Option<f64>,
    #[serde(default)]
    downstream: Option<bool>,
    #[serde(default)]
    panic: Option<bool>,
    #[serde(default)]
    max_attempts: Option<u32>,
}

/// Serves the bare handler on an ephemeral port; returns its address.
async fn bare_server() -> anyhow::Result<SocketAddr> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let app = axum::Router::new().route(
        "/jobs",
        post(|Json(_job): Json<JobRequest>| async {
            let id = format!("{:016x}", NEXT.fetch_add(1, Ordering::Relaxed));
            (StatusCode::ACCEPTED, Json(json!({ "id": id })))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// The published comparison's keep-alive connections.
const CONNECTIONS: usize = 32;

/// The connections to measure with: [`CONNECTIONS`], unless
/// `EVENKEEL_E2E_CONNECTIONS` asks for another count (to see how the
/// durable store scales with more concurrent clients; the published table
/// uses the default).
fn connections() -> usize {
    std::env::var("EVENKEEL_E2E_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(CONNECTIONS)
}

/// The demo's flags, plus any from `EVENKEEL_E2E_DEMO_FLAGS`
/// (whitespace-separated; for looking into the figure, e.g.
/// `--store memory` to see what durability costs; the published table
/// uses none).
fn extra_flags(mut flags: Vec<String>) -> Vec<String> {
    if let Ok(extra) = std::env::var("EVENKEEL_E2E_DEMO_FLAGS") {
        flags.extend(extra.split_whitespace().map(str::to_owned));
    }
    flags
}

/// Throughput and latency of one contender.
#[derive(Debug, Clone, PartialEq)]
struct Figures {
    accepted_per_sec: f64,
    answered_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// The slowest 202: what the p99 leaves out.
    max_ms: f64,
}

/// The job every contender is sent.
fn job() -> Value {
    json!({"payload": {"n": 1}, "work_ms": 0})
}

async fn measure(addr: SocketAddr, connections: usize, secs: f64) -> Figures {
    let stop = Arc::new(AtomicBool::new(false));
    let job = job();
    let started = Instant::now();
    let load = tokio::spawn(flood(addr, connections, job, Arc::clone(&stop)));
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut flooded = load.await.unwrap_or_default();
    let took = started.elapsed().as_secs_f64();
    let answered: u64 = flooded
        .statuses
        .iter()
        .filter(|(s, _)| **s != 0)
        .map(|(_, n)| n)
        .sum();
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    Figures {
        accepted_per_sec: flooded.accepted.len() as f64 / took,
        answered_per_sec: answered as f64 / took,
        p50_ms: ms(quantile(&mut flooded.accept_latency, 0.5)),
        p99_ms: ms(quantile(&mut flooded.accept_latency, 0.99)),
        max_ms: ms(quantile(&mut flooded.accept_latency, 1.0)),
    }
}

fn figures_json(f: &Figures) -> Value {
    json!({
        "accepted_per_sec": f.accepted_per_sec,
        "answered_per_sec": f.answered_per_sec,
        "p50_ms": f.p50_ms,
        "p99_ms": f.p99_ms,
        "max_ms": f.max_ms,
    })
}

/// The demo with the job store in memory (`--store memory`): the same
/// stack with no durability at all, measured beside the default as the
/// reference for what the store costs (no target of its own).
fn memory_launch(demo: &Path, scratch: &Scratch) -> Launch {
    Launch {
        bin: demo.to_owned(),
        data_dir: scratch.path().join("memory"),
        flags: extra_flags(vec![
            "--queue-capacity".into(),
            "1000000".into(),
            "--store".into(),
            "memory".into(),
        ]),
    }
}

/// Seconds of load that warm a contender up before it is measured.
const WARM_UP: f64 = 0.5;

/// A demo's figures and the jobs it had not run yet when the load
/// stopped.
struct DemoFigures {
    figures: Figures,
    /// Jobs waiting in the store (`evenkeel_queue_depth`) right after the
    /// measured load: whether the workers kept up with the intake, or the
    /// intake rate was bought by leaving the jobs for later.
    backlog: Option<f64>,
}

impl DemoFigures {
    fn json(&self) -> Value {
        let mut out = figures_json(&self.figures);
        out["backlog_after"] = json!(self.backlog);
        out
    }
}

/// Starts `launch`, warms it up, measures it for `secs` with `load` (its
/// address, seconds), reads its backlog and stops it.
async fn measure_demo<F, Fut>(launch: &Launch, secs: f64, load: F) -> anyhow::Result<DemoFigures>
where
    F: Fn(SocketAddr, f64) -> Fut,
    Fut: Future<Output = anyhow::Result<Figures>>,
{
    let mut server = Server::start(launch).await?;
    let figures = async {
        load(server.addr, WARM_UP).await?;
        let figures = load(server.addr, secs).await?;
        let backlog = server.metric("evenkeel_queue_depth").await.ok();
        Ok(DemoFigures { figures, backlog })
    }
    .await;
    server.signal(Signal::SIGTERM)?;
    let _ = server.wait(Duration::from_secs(120)).await;
    figures
}

/// Runs the end-to-end comparison and (unless `overload_secs` is 0) the
/// memory measurement; prints one JSON object.
///
/// Three contenders, each loaded by this process's own driver and, when
/// `wrk` is on the PATH, by `wrk` from a process of its own: the bare
/// handler, the demo as it ships (the embedded durable store), and the
/// demo with `--store memory`. Each demo run starts a fresh server on a
/// fresh data directory, so no run inherits the backlog of the one before.
pub(crate) async fn run(demo: &Path, secs: f64, overload_secs: u64) -> anyhow::Result<()> {
    let scratch = Scratch::new("e2e")?;
    let launch = Launch {
        bin: demo.to_owned(),
        data_dir: scratch.path().join("data"),
        // Room for everything a few seconds of load can post, so the
        // figure is the intake path, not the 503 path.
        flags: extra_flags(vec!["--queue-capacity".into(), "1000000".into()]),
    };
    let in_memory = memory_launch(demo, &scratch);
    let connections = connections();
    let bare = bare_server().await?;
    let own =
        |addr: SocketAddr, secs: f64| async move { Ok(measure(addr, connections, secs).await) };
    let _ = measure(bare, connections, WARM_UP).await;
    let bare_figures = measure(bare, connections, secs).await;
    let demo_figures = measure_demo(&launch, secs, own).await?;
    let memory_figures = measure_demo(&in_memory, secs, own).await?;

    let wrk = match wrk::Wrk::find(scratch.path(), &job()).await {
        Ok(wrk) => {
            let run = |addr: SocketAddr, secs: f64| {
                let wrk = &wrk;
                async move { wrk.load(addr, connections, secs).await }
            };
            run(bare, WARM_UP).await?;
            let bare = run(bare, secs).await?;
            let fresh = |dir: &str, l: &Launch| Launch {
                data_dir: scratch.path().join(dir),
                ..l.clone()
            };
            let demo = measure_demo(&fresh("wrk-data", &launch), secs, run).await?;
            let memory = measure_demo(&fresh("wrk-memory", &in_memory), secs, run).await?;
            json!({
                "bare_axum": figures_json(&bare),
                "demo": demo.json(),
                "demo_memory": memory.json(),
            })
        }
        Err(why) => json!({ "skipped": why }),
    };

    if overload_secs == 0 {
        println!(
            "{}",
            json!({"connections": connections, "seconds": secs,
                "demo": demo_figures.json(), "bare_axum": figures_json(&bare_figures),
                "demo_memory": memory_figures.json(), "wrk": wrk})
        );
        return Ok(());
    }
    let overload = crate::sections::overload(demo, overload_secs).await;
    let figure = |label: &str| {
        overload
            .figures
            .iter()
            .find(|(l, _)| l.starts_with(label))
            .map(|(_, v)| v.clone())
    };
    let out = json!({
        "connections": connections,
        "seconds": secs,
        "demo": demo_figures.json(),
        "bare_axum": figures_json(&bare_figures),
        "demo_memory": memory_figures.json(),
        "wrk": wrk,
        "overload": {
            "seconds": overload_secs,
            "held": overload.held(),
            "rss": figure("RSS"),
            "statuses": figure("answers by status"),
            "failures": overload.failures,
        },
    });
    println!("{out}");
    Ok(())
}
