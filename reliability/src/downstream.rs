//! Faults at the server's downstream: a fake downstream run by the suite
//! itself (raw TCP, so it can misbehave in ways a well-behaved HTTP server
//! never would), and the section that points `evenkeel-demo serve
//! --downstream` at it.
//!
//! The fake downstream answers each connection according to its current
//! [`Fault`]: `Healthy` answers 200; `Hang` reads the request and never
//! answers (the server's `--downstream-timeout` / `--attempt-timeout` must
//! fire); `Reset` reads the request and closes with `SO_LINGER 0`, so the
//! client sees a TCP RST; `Absurd503` answers 503 with a `Retry-After` that
//! no server should honour as given (a billion seconds, a date in year
//! 9999, a negative number, garbage, a number past `u64`). The fault can be
//! changed while the server runs, so a run can check that jobs recover when
//! the downstream does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::load::{ACCOUNT_PATIENCE, account};
use crate::sections::{Section, restart_and_account};
use crate::server::{Launch, Scratch, Server, request};

/// How the fake downstream behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Fault {
    /// 200 to everything.
    Healthy = 0,
    /// Reads the request, never answers, never closes.
    Hang = 1,
    /// Reads the request, then resets the connection.
    Reset = 2,
    /// 503 with an absurd `Retry-After`.
    Absurd503 = 3,
}

/// The `Retry-After` values `Absurd503` cycles through.
pub(crate) const ABSURD_RETRY_AFTER: [&str; 5] = [
    "999999999",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "-5",
    "soon, maybe",
    "18446744073709551616",
];

/// A fake downstream; stops when dropped.
pub(crate) struct FakeDownstream {
    pub(crate) addr: SocketAddr,
    fault: Arc<AtomicU8>,
    /// Requests it has read.
    pub(crate) requests: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeDownstream {
    pub(crate) async fn start(fault: Fault) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AtomicU8::new(fault as u8));
        let requests = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let (state, requests) = (Arc::clone(&state), Arc::clone(&requests));
            async move {
                let mut n = 0_usize;
                while let Ok((stream, _)) = listener.accept().await {
                    n += 1;
                    let hint = ABSURD_RETRY_AFTER[n % ABSURD_RETRY_AFTER.len()];
                    let (state, requests) = (Arc::clone(&state), Arc::clone(&requests));
                    tokio::spawn(serve_one(stream, state, requests, hint));
                }
            }
        });
        Ok(Self {
            addr,
            fault: state,
            requests,
            task,
        })
    }

    pub(crate) fn set(&self, fault: Fault) {
        self.fault.store(fault as u8, Ordering::SeqCst);
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/work", self.addr)
    }
}

impl Drop for FakeDownstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves requests on one connection until it closes or misbehaves.
async fn serve_one(
    mut stream: TcpStream,
    state: Arc<AtomicU8>,
    requests: Arc<AtomicU64>,
    hint: &'static str,
) {
    let mut buf = Vec::with_capacity(1024);
    loop {
        if read_request(&mut stream, &mut buf).await.is_none() {
            return;
        }
        requests.fetch_add(1, Ordering::Relaxed);
        let answer = match state.load(Ordering::SeqCst) {
            1 => {
                // Hang: hold the connection open until the client gives up.
                let mut sink = [0_u8; 64];
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                return;
            }
            2 => {
                // SO_LINGER with a zero timeout: close sends a reset.
                // (tokio's own `set_zero_linger` needs tokio 1.50; the
                // workspace supports 1.47.)
                let linger = nix::libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                };
                let _ = nix::sys::socket::setsockopt(
                    &stream,
                    nix::sys::socket::sockopt::Linger,
                    &linger,
                );
                drop(stream);
                return;
            }
            3 => format!(
                "HTTP/1.1 503 Service Unavailable\r\nretry-after: {hint}\r\ncontent-length: 0\r\n\r\n"
            ),
            _ => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_owned(),
        };
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads one request (head and `content-length` body) into `buf`; `None`
/// when the connection ends first.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    buf.clear();
    let mut chunk = [0_u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return Some(());
            }
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The server's timeouts in these runs; the bounds below follow from them.
const JOB_TIMEOUT_MS: u64 = 4_000;
/// Every job must be finished (succeeded or dead) this long after it was
/// posted: its job timeout, plus one capped retry wait, one attempt
/// timeout and scheduling slack.
const FINISH_BOUND: Duration = Duration::from_millis(JOB_TIMEOUT_MS + 4_000);

fn flags(downstream: &FakeDownstream) -> Vec<String> {
    [
        "--downstream",
        &downstream.url(),
        "--downstream-timeout",
        "200ms",
        "--downstream-attempts",
        "2",
        "--attempt-timeout",
        "500ms",
        "--job-timeout",
        &format!("{JOB_TIMEOUT_MS}ms"),
        "--max-attempts",
        "12",
        "--retry-initial",
        "50ms",
        "--retry-max",
        "300ms",
        "--breaker-open",
        "300ms",
        "--workers",
        "4",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// One run: the downstream misbehaves with `fault`; `recover_after` (if
/// any) turns it healthy again. `jobs` downstream jobs are posted at once,
/// while the fault holds; the server must answer `/healthz` and accept a
/// plain job meanwhile, and every downstream job must finish within
/// [`FINISH_BOUND`]. Then a graceful stop and a restart account for all.
async fn one_run(
    bin: &std::path::Path,
    fault: Fault,
    recover_after: Option<Duration>,
    jobs: u64,
) -> anyhow::Result<(crate::load::Accounting, Duration, u64, Vec<String>)> {
    let mut problems = Vec::new();
    let downstream = FakeDownstream::start(fault).await?;
    let scratch = Scratch::new(&format!("downstream-{fault:?}"))?;
    let launch = Launch {
        bin: bin.to_owned(),
        data_dir: scratch.path().join("data"),
        flags: flags(&downstream),
    };
    let mut server = Server::start(&launch).await?;
    let client = crate::server::client();
    let posted = Instant::now();
    let mut ids = Vec::new();
    for n in 0..jobs {
        let body = json!({"payload": {"n": n}, "downstream": true});
        let answer = request(
            &client,
            server.addr,
            hyper::Method::POST,
            "/jobs",
            Some(&body),
        )
        .await?;
        match answer.json.get("id").and_then(serde_json::Value::as_str) {
            Some(id) if answer.status == 202 => ids.push(id.to_owned()),
            _ => problems.push(format!(
                "POST /jobs answered {}: {}",
                answer.status, answer.json
            )),
        }
    }
    // Meanwhile the server keeps serving: health, and a job that does not
    // need the downstream.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let health = server.get("/healthz").await?;
    if health.status != 200 {
        problems.push(format!("/healthz during the fault: {}", health.status));
    }
    let plain = json!({"payload": "plain", "work_ms": 1});
    let plain = request(
        &client,
        server.addr,
        hyper::Method::POST,
        "/jobs",
        Some(&plain),
    )
    .await?;
    match plain.json.get("id").and_then(serde_json::Value::as_str) {
        Some(id) if plain.status == 202 => ids.push(id.to_owned()),
        _ => problems.push(format!("a plain job during the fault: {}", plain.status)),
    }
    if let Some(after) = recover_after {
        tokio::time::sleep(after.saturating_sub(posted.elapsed())).await;
        downstream.set(Fault::Healthy);
    }
    let acc = account(&server, &ids, FINISH_BOUND.saturating_sub(posted.elapsed())).await;
    let took = posted.elapsed();
    if acc.lost > 0 {
        problems.push(format!(
            "{} of {} jobs not finished within {} ms of being posted",
            acc.lost,
            acc.accepted,
            FINISH_BOUND.as_millis()
        ));
    }
    server.signal(Signal::SIGTERM)?;
    server.wait(ACCOUNT_PATIENCE).await?;
    downstream.set(Fault::Healthy);
    let after = restart_and_account(&launch, &ids).await?;
    if after.lost > 0 {
        problems.push(format!(
            "after a restart, {} jobs still unfinished",
            after.lost
        ));
    }
    Ok((
        after,
        took,
        downstream.requests.load(Ordering::Relaxed),
        problems,
    ))
}

/// Faults at the downstream: hang, reset, absurd `Retry-After`.
pub(crate) async fn section(bin: &std::path::Path, jobs: u64) -> Section {
    let mut section = Section {
        name: "Faults: a misbehaving downstream",
        what: format!(
            "the server runs with `--downstream` pointed at a fake downstream inside the suite \
             (`--downstream-timeout 200ms --attempt-timeout 500ms --job-timeout {JOB_TIMEOUT_MS}ms \
             --max-attempts 12 --retry-max 300ms`); {jobs} downstream jobs are posted while it \
             (a) hangs without answering, then recovers after 1.5 s, (b) resets every connection \
             (SO_LINGER 0), then recovers after 1.5 s, (c) answers 503 with absurd `Retry-After` \
             values ({}) and never recovers. `/healthz` and a plain job must be served during \
             the fault; every job must end succeeded or dead within {} ms of being posted \
             (no wait past the caps); a graceful stop and a restart must account for every 202",
            ABSURD_RETRY_AFTER.map(|v| format!("`{v}`")).join(", "),
            FINISH_BOUND.as_millis()
        ),
        ..Section::default()
    };
    let runs = [
        (Fault::Hang, Some(Duration::from_millis(1_500))),
        (Fault::Reset, Some(Duration::from_millis(1_500))),
        (Fault::Absurd503, None),
    ];
    for (fault, recover) in runs {
        section.runs += 1;
        match one_run(bin, fault, recover, jobs).await {
            Ok((acc, took, calls, problems)) => {
                section.jobs += acc.accepted;
                section.lost += acc.lost;
                section.figures.push((
                    format!("{fault:?}"),
                    format!(
                        "{} accepted (the plain job included), {} succeeded, {} dead, all \
                         finished in {:.1} s, {calls} requests reached the downstream",
                        acc.accepted,
                        acc.succeeded,
                        acc.dead,
                        took.as_secs_f64()
                    ),
                ));
                section
                    .failures
                    .extend(problems.into_iter().map(|p| format!("{fault:?}: {p}")));
            }
            Err(e) => section.failures.push(format!("{fault:?}: {e:#}")),
        }
    }
    section
}
