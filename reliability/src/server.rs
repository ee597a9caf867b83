//! Driving the real `evenkeel-demo serve` process: start it on an ephemeral
//! port over a data directory, talk HTTP to it, signal or kill it, and read
//! the final accounting record it prints.
//!
//! Every wait here polls something observable (a line on stdout, an HTTP
//! answer, the process exit) with a bounded patience; nothing sleeps to let
//! time pass except the load generators, whose pacing is the point.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The longest a single wait may take.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// How to start a server.
#[derive(Clone, Debug)]
pub(crate) struct Launch {
    /// The `evenkeel-demo` binary.
    pub(crate) bin: PathBuf,
    /// The data directory (the embedded job store lives there).
    pub(crate) data_dir: PathBuf,
    /// Extra `serve` flags.
    pub(crate) flags: Vec<String>,
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) json: Value,
}

/// A running server.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    /// The task reading stdout into `lines`: done at the pipe's end.
    reader: Option<tokio::task::JoinHandle<()>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

pub(crate) fn client() -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build(connector)
}

impl Server {
    /// Starts `serve` and waits for its `listening on` line.
    pub(crate) async fn start(launch: &Launch) -> anyhow::Result<Server> {
        let mut cmd = Command::new(&launch.bin);
        cmd.arg("serve")
            .args(["--addr", "127.0.0.1:0", "--log-format", "json"])
            .arg("--data-dir")
            .arg(&launch.data_dir)
            .args(&launch.flags)
            .args(
                // Behind no load balancer here: no pre-drain delay unless a
                // section asks for one.
                if launch.flags.iter().any(|f| f == "--pre-drain-delay") {
                    &[][..]
                } else {
                    &["--pre-drain-delay", "0s"][..]
                },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("start {}", launch.bin.display()))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let reader = {
            let lines = Arc::clone(&lines);
            tokio::spawn(async move {
                let mut addr_tx = Some(addr_tx);
                let mut reader = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if let Some(addr) = line
                        .split_once("listening on ")
                        .and_then(|(_, rest)| rest.split_whitespace().next())
                        .and_then(|a| a.trim_matches('"').parse::<SocketAddr>().ok())
                        && let Some(tx) = addr_tx.take()
                    {
                        let _ = tx.send(addr);
                    }
                    if let Ok(mut lines) = lines.lock() {
                        lines.push(line);
                    }
                }
            })
        };
        let Ok(Ok(addr)) = tokio::time::timeout(PATIENCE, addr_rx).await else {
            let _ = child.start_kill();
            let status = child.wait().await.ok();
            let out = lines.lock().map(|l| l.join("\n")).unwrap_or_default();
            bail!("the server did not say where it listens (exit {status:?}); stdout:\n{out}");
        };
        Ok(Server {
            child,
            addr,
            lines,
            reader: Some(reader),
            client: client(),
        })
    }

    pub(crate) fn pid(&self) -> Option<Pid> {
        self.child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw)
    }

    /// Sends `signal` to the server process.
    pub(crate) fn signal(&self, signal: Signal) -> anyhow::Result<()> {
        let pid = self.pid().ok_or_else(|| anyhow!("the server has exited"))?;
        kill(pid, signal).context("kill")?;
        Ok(())
    }

    /// Waits (bounded) for the process to exit and for its stdout to have
    /// been read to the end (so [`Server::final_record`] sees its last line).
    pub(crate) async fn wait(&mut self, patience: Duration) -> anyhow::Result<ExitStatus> {
        if let Ok(status) = tokio::time::timeout(patience, self.child.wait()).await {
            if let Some(reader) = self.reader.take() {
                let _ = tokio::time::timeout(PATIENCE, reader).await;
            }
            Ok(status?)
        } else {
            let _ = self.child.start_kill();
            bail!("the server did not exit within {patience:?}")
        }
    }

    /// The resident set size of the process in KiB, from /proc.
    pub(crate) fn rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    }

    /// The last `n` lines the server printed on stdout.
    pub(crate) fn last_lines(&self, n: usize) -> String {
        self.lines
            .lock()
            .map(|l| l[l.len().saturating_sub(n)..].join(" | "))
            .unwrap_or_default()
    }

    /// The last JSON line on stdout that has an `accepted` field: the final
    /// accounting record.
    pub(crate) fn final_record(&self) -> Option<Value> {
        let lines = self.lines.lock().ok()?;
        lines.iter().rev().find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(|v| v.get("accepted").is_some())
        })
    }

    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<Answer> {
        request(&self.client, self.addr, Method::GET, path, None).await
    }

    /// A sample's value from `GET /metrics` (the first of that name).
    pub(crate) async fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let req = Request::builder()
            .uri(format!("http://{}/metrics", self.addr))
            .body(Full::new(Bytes::new()))?;
        let response = tokio::time::timeout(PATIENCE, self.client.request(req))
            .await
            .map_err(|_| anyhow!("no answer within {PATIENCE:?}"))??;
        let bytes = tokio::time::timeout(PATIENCE, response.into_body().collect())
            .await
            .map_err(|_| anyhow!("no body within {PATIENCE:?}"))??
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .context("parse /metrics")?;
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .and_then(|s| match s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => Some(v),
                _ => None,
            })
            .ok_or_else(|| anyhow!("/metrics has no sample {name}"))
    }
}

/// One request with a body, answered within [`PATIENCE`].
pub(crate) async fn request(
    client: &Client<HttpConnector, Full<Bytes>>,
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Answer> {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    let body = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Full::new(Bytes::from(v.to_string()))
        }
        None => Full::new(Bytes::new()),
    };
    let req = req.body(body)?;
    let response = tokio::time::timeout(PATIENCE, client.request(req))
        .await
        .map_err(|_| anyhow!("no answer within {PATIENCE:?}"))??;
    let status = response.status();
    let bytes = tokio::time::timeout(PATIENCE, response.into_body().collect())
        .await
        .map_err(|_| anyhow!("no body within {PATIENCE:?}"))??
        .to_bytes();
    Ok(Answer {
        status,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    })
}

/// A scratch directory, removed on drop.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> anyhow::Result<Scratch> {
        let dir = std::env::temp_dir().join(format!(
            "evenkeel-reliability-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
