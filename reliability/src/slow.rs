//! Slow clients: connections that never finish their request head, or send
//! a body slowly, or stop halfway through it, held open by the dozen while
//! ordinary requests go on.
//!
//! Each slow connection is a raw TCP socket (no client library lets a
//! caller stall mid-request): a writer trickles bytes at the pace its kind
//! asks for, a reader waits for whatever the server does. The server runs
//! with short `--header-read-timeout` and `--body-read-timeout`; each slow
//! connection must be closed (an unfinished head: hyper's header timer) or
//! answered 408 `body_timeout` (a slow body: the body timeout) within its
//! timeout plus a margin, and the ordinary requests' latency must stay
//! bounded meanwhile.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::load::{ACCOUNT_PATIENCE, quantile};
use crate::sections::{Section, restart_and_account};
use crate::server::{Launch, Scratch, Server, request};

/// The server's timeouts in this section.
const HEAD_TIMEOUT: Duration = Duration::from_secs(1);
const BODY_TIMEOUT: Duration = Duration::from_secs(1);
/// How late past its timeout a slow connection may be dealt with (timer
/// granularity and a loaded 2-core machine).
const MARGIN: Duration = Duration::from_millis(1_500);
/// The most an ordinary request may take while the slow clients hang on.
const NORMAL_BOUND: Duration = Duration::from_millis(500);

/// The kinds of slow client.
#[derive(Debug, Clone, Copy)]
enum Slow {
    /// Sends part of the head, then nothing.
    HeadStalls,
    /// Sends the head one byte every 100 ms, never ending it.
    HeadTrickles,
    /// Complete head, then the body one byte every 100 ms.
    BodyTrickles,
    /// Complete head, a tenth of the body, then nothing (the socket stays
    /// open).
    BodyStops,
}

const KINDS: [Slow; 4] = [
    Slow::HeadStalls,
    Slow::HeadTrickles,
    Slow::BodyTrickles,
    Slow::BodyStops,
];

impl Slow {
    fn timeout(self) -> Duration {
        match self {
            Slow::HeadStalls | Slow::HeadTrickles => HEAD_TIMEOUT,
            Slow::BodyTrickles | Slow::BodyStops => BODY_TIMEOUT,
        }
    }

    /// What the server must do: close (no answer, or hyper's bare 408) for
    /// a head, a 408 with the `body_timeout` code for a body.
    fn judge(self, status: Option<u16>, body: &str) -> Result<(), String> {
        match self {
            Slow::HeadStalls | Slow::HeadTrickles => match status {
                None | Some(408) => Ok(()),
                Some(other) => Err(format!("answered {other} to an unfinished head: {body}")),
            },
            Slow::BodyTrickles | Slow::BodyStops => {
                let code = serde_json::from_str::<Value>(body)
                    .ok()
                    .and_then(|v| v.get("code").or(v.get("error")).cloned());
                if status == Some(408) && body.contains("body_timeout") {
                    Ok(())
                } else {
                    Err(format!(
                        "expected 408 body_timeout, got {status:?} ({code:?}): {body}"
                    ))
                }
            }
        }
    }
}

/// One slow connection: what the server did and when.
async fn slow_client(
    addr: SocketAddr,
    kind: Slow,
) -> anyhow::Result<(Duration, Option<u16>, String)> {
    let body = json!({"payload": "x".repeat(90)}).to_string();
    let head = format!(
        "POST /jobs HTTP/1.1\r\nhost: reliability\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let started = Instant::now();
    let stream = TcpStream::connect(addr).await?;
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        let tick = Duration::from_millis(100);
        match kind {
            Slow::HeadStalls => {
                let _ = write.write_all(&head.as_bytes()[..20]).await;
                std::future::pending::<()>().await;
            }
            Slow::HeadTrickles => {
                for b in head.as_bytes()[..head.len() - 2]
                    .iter()
                    .cycle()
                    .take(10_000)
                {
                    if write.write_all(&[*b]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(tick).await;
                }
            }
            Slow::BodyTrickles => {
                let _ = write.write_all(head.as_bytes()).await;
                for b in body.as_bytes() {
                    if write.write_all(&[*b]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(tick).await;
                }
            }
            Slow::BodyStops => {
                let _ = write.write_all(head.as_bytes()).await;
                let _ = write.write_all(&body.as_bytes()[..body.len() / 10]).await;
                std::future::pending::<()>().await;
            }
        }
        // Keep the write half (and so the socket) open until aborted.
        std::future::pending::<()>().await;
    });
    let mut answer = Vec::new();
    let patience = kind.timeout() + MARGIN + Duration::from_secs(5);
    let read_result = tokio::time::timeout(patience, read.read_to_end(&mut answer)).await;
    let took = started.elapsed();
    writer.abort();
    if read_result.is_err() {
        anyhow::bail!("still open after {} ms", patience.as_millis());
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok());
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((took, status, body))
}

/// Slow clients: `per_kind` connections of each kind at once.
pub(crate) async fn section(bin: &std::path::Path, per_kind: usize) -> Section {
    let mut section = Section {
        name: "Slow clients",
        what: format!(
            "with `--header-read-timeout {}ms --body-read-timeout {}ms`, {per_kind} connections \
             of each kind at once: a head that stalls after 20 bytes, a head sent one byte per \
             100 ms, a body sent one byte per 100 ms, a body that stops at a tenth (socket left \
             open). Each must be closed (head) or answered 408 `body_timeout` (body) within its \
             timeout + {} ms; meanwhile ordinary `GET /healthz` and `POST /jobs` must each \
             answer within {} ms, and every 202 must finish after a graceful stop and restart",
            HEAD_TIMEOUT.as_millis(),
            BODY_TIMEOUT.as_millis(),
            MARGIN.as_millis(),
            NORMAL_BOUND.as_millis()
        ),
        runs: 1,
        ..Section::default()
    };
    if let Err(e) = run(bin, per_kind, &mut section).await {
        section.failures.push(format!("{e:#}"));
    }
    section
}

// One scenario, read top to bottom as the module docs tell it.
#[allow(clippy::too_many_lines)]
async fn run(bin: &std::path::Path, per_kind: usize, section: &mut Section) -> anyhow::Result<()> {
    let scratch = Scratch::new("slow")?;
    let launch = Launch {
        bin: bin.to_owned(),
        data_dir: scratch.path().join("data"),
        flags: vec![
            "--header-read-timeout".into(),
            format!("{}ms", HEAD_TIMEOUT.as_millis()),
            "--body-read-timeout".into(),
            format!("{}ms", BODY_TIMEOUT.as_millis()),
        ],
    };
    let mut server = Server::start(&launch).await?;
    let mut slow = Vec::new();
    for kind in KINDS {
        for _ in 0..per_kind {
            slow.push((kind, tokio::spawn(slow_client(server.addr, kind))));
        }
    }
    // Ordinary traffic while they hang on.
    let client = crate::server::client();
    let mut latencies = Vec::new();
    let mut ids = Vec::new();
    let started = Instant::now();
    let mut n = 0_u64;
    while started.elapsed() < HEAD_TIMEOUT.max(BODY_TIMEOUT) + Duration::from_millis(500) {
        n += 1;
        let t = Instant::now();
        let health = server.get("/healthz").await?;
        latencies.push(t.elapsed());
        if health.status != 200 {
            section.failures.push(format!(
                "/healthz answered {} while slow clients hung on",
                health.status
            ));
        }
        let t = Instant::now();
        let job = json!({"payload": {"n": n}, "work_ms": 1});
        let posted = request(
            &client,
            server.addr,
            hyper::Method::POST,
            "/jobs",
            Some(&job),
        )
        .await?;
        latencies.push(t.elapsed());
        match posted.json.get("id").and_then(Value::as_str) {
            Some(id) if posted.status == 202 => ids.push(id.to_owned()),
            _ => section.failures.push(format!(
                "POST /jobs answered {} while slow clients hung on",
                posted.status
            )),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut worst = std::collections::BTreeMap::<String, Duration>::new();
    for (kind, handle) in slow {
        let bound = kind.timeout() + MARGIN;
        match handle.await? {
            Ok((took, status, body)) => {
                let w = worst.entry(format!("{kind:?}")).or_default();
                *w = (*w).max(took);
                if let Err(e) = kind.judge(status, &body) {
                    section.failures.push(format!("{kind:?}: {e}"));
                } else if took > bound {
                    section.failures.push(format!(
                        "{kind:?}: dealt with after {} ms (bound {} ms)",
                        took.as_millis(),
                        bound.as_millis()
                    ));
                }
            }
            Err(e) => section.failures.push(format!("{kind:?}: {e:#}")),
        }
    }
    let p99 = quantile(&mut latencies, 0.99).unwrap_or_default();
    let max = latencies.iter().max().copied().unwrap_or_default();
    if max > NORMAL_BOUND {
        section.failures.push(format!(
            "an ordinary request took {} ms while slow clients hung on (bound {} ms)",
            max.as_millis(),
            NORMAL_BOUND.as_millis()
        ));
    }
    server.signal(Signal::SIGTERM)?;
    server.wait(ACCOUNT_PATIENCE).await?;
    let acc = restart_and_account(&launch, &ids).await?;
    section.jobs = acc.accepted + (per_kind * KINDS.len()) as u64;
    section.lost = acc.lost;
    let worst: Vec<String> = worst
        .iter()
        .map(|(k, d)| format!("{k} {} ms", d.as_millis()))
        .collect();
    section.figures.extend([
        (
            "slow connections".into(),
            (per_kind * KINDS.len()).to_string(),
        ),
        (
            "slowest to be closed or answered, by kind".into(),
            worst.join(", "),
        ),
        (
            "ordinary requests meanwhile: count, p99, max".into(),
            format!(
                "{}, {:.1} ms, {:.1} ms",
                latencies.len(),
                p99.as_secs_f64() * 1e3,
                max.as_secs_f64() * 1e3
            ),
        ),
        (
            "ordinary jobs accepted / finished after the restart".into(),
            format!("{} / {}", acc.accepted, acc.succeeded + acc.dead),
        ),
    ]);
    Ok(())
}
