//! The harness every end-to-end test uses: a real `evenkeel-demo serve`
//! process on an ephemeral port, an HTTP client, and real signals.
//!
//! [`Server::start`] runs the binary cargo built for this package with
//! `--addr 127.0.0.1:0`, a private data directory (its job store) and JSON
//! logs, reads its
//! stdout on a background task, and waits (bounded) for the `listening on`
//! line that carries the actual port. Every wait in these tests polls an
//! observable condition (a line on stdout, an HTTP answer, the process
//! exit) with a bounded timeout; none sleeps to let time pass. The child is
//! killed if a test fails before it exits (`kill_on_drop`), and its scratch
//! directory is removed.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, header::HeaderMap};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// The longest any single wait in these tests may take.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// A scratch directory, removed on drop.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "evenkeel-e2e-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            name
        ));
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        Self(dir)
    }

    /// The server's `--data-dir` (its embedded job store).
    pub(crate) fn data(&self) -> PathBuf {
        self.0.join("data")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An HTTP answer: status, headers, body parsed as JSON (`Null` if not).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) json: Value,
    pub(crate) text: String,
}

/// A running server process.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    new_line: Arc<Notify>,
    /// The lines of its log (stderr), each also passed on to the test's
    /// stderr.
    log: Arc<Mutex<Vec<String>>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Server {
    /// Starts `evenkeel-demo serve` with `data` as its data directory, JSON
    /// logs, an ephemeral port, and `extra` flags.
    pub(crate) async fn start(data: &Path, extra: &[&str]) -> Self {
        let mut args: Vec<OsString> = ["serve", "--addr", "127.0.0.1:0", "--log-format", "json"]
            .into_iter()
            .map(OsString::from)
            .collect();
        args.push("--data-dir".into());
        args.push(data.into());
        args.extend(extra.iter().map(OsString::from));
        Self::spawn(args).await
    }

    /// Starts `evenkeel-demo downstream` (the flaky service) on an
    /// ephemeral port with no latency and no errors, plus `extra` flags.
    pub(crate) async fn downstream(extra: &[&str]) -> Self {
        let mut args: Vec<OsString> = [
            "downstream",
            "--addr",
            "127.0.0.1:0",
            "--latency",
            "0ms",
            "--jitter",
            "0ms",
            "--error-rate",
            "0",
            "--busy-rate",
            "0",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        args.extend(extra.iter().map(OsString::from));
        Self::spawn(args).await
    }

    /// Like [`start`](Self::start), with extra environment variables.
    pub(crate) async fn start_with_env(data: &Path, env: &[(&str, &str)]) -> Self {
        let mut args: Vec<OsString> = ["serve", "--addr", "127.0.0.1:0", "--log-format", "json"]
            .into_iter()
            .map(OsString::from)
            .collect();
        args.push("--data-dir".into());
        args.push(data.into());
        Self::spawn_with_env(args, env).await
    }

    /// Spawns the binary with `args` and waits for its `listening on` line.
    async fn spawn(args: Vec<OsString>) -> Self {
        Self::spawn_with_env(args, &[]).await
    }

    async fn spawn_with_env(args: Vec<OsString>, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_evenkeel-demo"))
            .args(args)
            // The default pre-drain delay (5 s, for a load balancer) would
            // outlast the tests' drain deadlines; a test that wants one
            // passes the flag (or this variable), which wins.
            .env("EVENKEEL_PRE_DRAIN_DELAY", "0s")
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn evenkeel-demo");
        let stdout = child.stdout.take().expect("stdout is piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let new_line = Arc::new(Notify::new());
        tokio::spawn({
            let lines = Arc::clone(&lines);
            let new_line = Arc::clone(&new_line);
            async move {
                let mut reader = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    lines.lock().unwrap().push(line);
                    new_line.notify_waiters();
                }
                new_line.notify_waiters();
            }
        });
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn({
            let log = Arc::clone(&log);
            let new_line = Arc::clone(&new_line);
            async move {
                let mut reader = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    eprintln!("{line}");
                    log.lock().unwrap().push(line);
                    new_line.notify_waiters();
                }
            }
        });
        let client = Client::builder(TokioExecutor::new()).build_http();
        let mut server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
            new_line,
            log,
            client,
        };
        let line = server
            .wait_for_line(|l| l.starts_with("listening on "))
            .await;
        server.addr = line["listening on ".len()..]
            .parse()
            .expect("the listening line carries an address");
        server
    }

    /// Waits (bounded) for a stdout line that satisfies `pred`.
    pub(crate) async fn wait_for_line(&self, pred: impl Fn(&str) -> bool) -> String {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let notified = self.new_line.notified();
                if let Some(line) = self.lines.lock().unwrap().iter().find(|l| pred(l)) {
                    return line.clone();
                }
                notified.await;
            }
        })
        .await
        .expect("the expected line did not appear on stdout in time")
    }

    /// How many log (stderr) lines so far satisfy `pred`.
    pub(crate) fn count_log_lines(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.log.lock().unwrap().iter().filter(|l| pred(l)).count()
    }

    /// Waits (bounded) for a log (stderr) line that satisfies `pred`.
    pub(crate) async fn wait_for_log_line(&self, pred: impl Fn(&str) -> bool) {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let notified = self.new_line.notified();
                if self.log.lock().unwrap().iter().any(|l| pred(l)) {
                    return;
                }
                notified.await;
            }
        })
        .await
        .expect("the expected line did not appear in the log in time");
    }

    /// Sends one request.
    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Bytes>,
    ) -> Answer {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        let request = builder.body(Full::new(body.into())).unwrap();
        let response = tokio::time::timeout(PATIENCE, self.client.request(request))
            .await
            .expect("the server answered in time")
            .expect("the request went through");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            json,
            text,
        }
    }

    /// `POST /jobs` with a JSON body; `None` when the connection failed
    /// (the server died) or took longer than `PATIENCE`.
    pub(crate) async fn try_post_job(&self, body: &Value) -> Option<Answer> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("http://{}/jobs", self.addr))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(serde_json::to_vec(body).unwrap())))
            .unwrap();
        let response = tokio::time::timeout(PATIENCE, self.client.request(request))
            .await
            .ok()?
            .ok()?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.ok()?.to_bytes();
        Some(Answer {
            status,
            headers,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    /// Kills the process with SIGKILL and waits for it to be gone.
    pub(crate) async fn kill9(mut self) -> ExitStatus {
        self.signal(Signal::SIGKILL);
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("a killed server is gone in time")
            .expect("wait for the server")
    }

    /// `POST /jobs` with a JSON body.
    pub(crate) async fn post_job(&self, body: &Value) -> Answer {
        self.request(
            Method::POST,
            "/jobs",
            Some("application/json"),
            serde_json::to_vec(body).unwrap(),
        )
        .await
    }

    /// `GET path`.
    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.request(Method::GET, path, None, Bytes::new()).await
    }

    /// `GET /metrics`, as text.
    pub(crate) async fn metrics(&self) -> String {
        self.get("/metrics").await.text
    }

    /// Polls `GET path` until `pred` holds for the answer (bounded).
    pub(crate) async fn poll(&self, path: &str, pred: impl Fn(&Answer) -> bool) -> Answer {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let answer = self.get(path).await;
                if pred(&answer) {
                    return answer;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("GET {path} never satisfied the condition"))
    }

    /// Polls until the job `id` reaches `state`.
    pub(crate) async fn wait_state(&self, id: &str, state: &str) -> Value {
        self.poll(&format!("/jobs/{id}"), |a| a.json["state"] == state)
            .await
            .json
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id().expect("the server is still running")
    }

    /// Sends `signal` to the server process.
    pub(crate) fn signal(&self, signal: Signal) {
        let pid = self.pid();
        kill(Pid::from_raw(i32::try_from(pid).unwrap()), signal).expect("send the signal");
    }

    /// Waits (bounded) for the process to exit; returns its status and the
    /// final accounting record it printed.
    pub(crate) async fn exit(mut self) -> (ExitStatus, Value) {
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the server exited in time")
            .expect("wait for the server");
        let line = self
            .wait_for_line(|l| l.contains("\"final accounting\""))
            .await;
        (
            status,
            serde_json::from_str(&line).expect("the record is JSON"),
        )
    }
}

/// A metric's value from the text exposition (first line that starts
/// with `name` followed by a space).
pub(crate) fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The integer field `name` of the final accounting record.
pub(crate) fn field(record: &Value, name: &str) -> u64 {
    record[name]
        .as_u64()
        .unwrap_or_else(|| panic!("the record has no integer `{name}`: {record}"))
}
