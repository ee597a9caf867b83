//! The server's HTTP edge, pinned against the real binary over raw TCP:
//! slow clients are cut off by the header, keep-alive and body bounds, the
//! connection cap holds, a panicking handler answers 500 and the server
//! keeps serving, every response carries `x-request-id`, every error has
//! its documented code, and `/metrics` parses with a real Prometheus
//! parser.
//!
//! A raw socket is the honest client here: an HTTP client library would
//! not send half a header, and would hide which connection it used. No
//! test sleeps to wait for something: each waits, bounded by [`PATIENCE`],
//! for the event itself (a read that returns, a line that appears).

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_parse::Value;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// The bound on every wait in this file: long enough for a loaded CI
/// machine, far shorter than "forever".
const PATIENCE: Duration = Duration::from_secs(20);

/// One `evenkeel-demo serve` child on an ephemeral port, killed on drop.
struct Server {
    addr: SocketAddr,
    stderr: Arc<(Mutex<Vec<String>>, Notify)>,
    _child: Child,
    spill: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.spill);
    }
}

impl Server {
    async fn start(name: &str, extra: &[&str]) -> Self {
        let spill =
            std::env::temp_dir().join(format!("evenkeel-edge-{}-{name}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&spill);
        let mut child = Command::new(env!("CARGO_BIN_EXE_evenkeel-demo"))
            .args(["serve", "--addr", "127.0.0.1:0", "--log-format", "json"])
            .args(["--pre-drain-delay", "0s", "--spill-file"])
            .arg(&spill)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the demo binary starts");
        let stderr: Arc<(Mutex<Vec<String>>, Notify)> = Arc::default();
        let mut err_lines = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn({
            let stderr = Arc::clone(&stderr);
            async move {
                while let Ok(Some(line)) = err_lines.next_line().await {
                    stderr.0.lock().unwrap().push(line);
                    stderr.1.notify_waiters();
                }
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = out.next_line().await.unwrap() {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    return addr.trim().parse().unwrap();
                }
            }
            panic!("the server exited without listening");
        })
        .await
        .expect("the server listens in time");
        tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
        Self {
            addr,
            stderr,
            _child: child,
            spill,
        }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }

    /// One request on a fresh connection.
    async fn send(&self, request: &str) -> Answer {
        exchange(&mut self.connect().await, request).await
    }

    /// Waits (bounded) for a stderr line that satisfies `pred`.
    async fn log_line(&self, pred: impl Fn(&str) -> bool) -> String {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let notified = self.stderr.1.notified();
                if let Some(line) = self.stderr.0.lock().unwrap().iter().find(|l| pred(l)) {
                    return line.clone();
                }
                notified.await;
            }
        })
        .await
        .expect("the expected log line appeared")
    }
}

/// A parsed response.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

/// `GET path` with `Host`, keep-alive.
fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: edge\r\n\r\n")
}

/// `POST /jobs` with `body` as `content_type`.
fn post(content_type: &str, body: &str) -> String {
    format!(
        "POST /jobs HTTP/1.1\r\nhost: edge\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Writes `request` and reads one response (head, then `content-length`
/// bytes, or to the end of the stream without one), bounded.
async fn exchange(stream: &mut TcpStream, request: &str) -> Answer {
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::timeout(PATIENCE, read_answer(stream))
        .await
        .expect("an answer in time")
}

async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a whole head: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = buf[head_end..].to_vec();
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse::<usize>().unwrap());
    match length {
        Some(length) => {
            while body.len() < length {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "connection closed inside the body");
                body.extend_from_slice(&chunk[..n]);
            }
        }
        None => {
            stream.read_to_end(&mut body).await.unwrap();
        }
    }
    Answer {
        status,
        headers,
        body,
    }
}

/// Waits (bounded) until the server closes `stream`: a read returns end of
/// stream or a reset. Anything the server still sends is discarded.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    tokio::time::timeout(PATIENCE, async {
        let mut sink = [0u8; 1024];
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// A client that sends half a request head and then nothing is
/// disconnected once the header read timeout passes (slowloris).
#[tokio::test]
async fn a_half_sent_header_is_closed_within_the_header_timeout() {
    let server = Server::start(
        "slowloris",
        &["--header-read-timeout", "1s", "--keep-alive-timeout", "60s"],
    )
    .await;
    let mut slow = server.connect().await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: ed")
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut slow).await,
        "the slow client was cut off"
    );
    // The server itself is fine.
    assert_eq!(server.send(&get("/healthz")).await.status, 200);
}

/// A keep-alive connection with no request in flight is closed after the
/// keep-alive timeout.
#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let server = Server::start(
        "idle",
        &["--keep-alive-timeout", "1s", "--header-read-timeout", "60s"],
    )
    .await;
    let mut conn = server.connect().await;
    assert_eq!(exchange(&mut conn, &get("/healthz")).await.status, 200);
    assert!(
        closed_by_server(&mut conn).await,
        "the idle connection was closed"
    );
}

/// A body that stops arriving is answered 408 `body_timeout` at the body
/// read timeout.
#[tokio::test]
async fn a_stalled_body_is_answered_408() {
    let server = Server::start("body", &["--body-read-timeout", "1s"]).await;
    let mut conn = server.connect().await;
    let answer = exchange(
        &mut conn,
        "POST /jobs HTTP/1.1\r\nhost: edge\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"pay",
    )
    .await;
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (408, "body_timeout")
    );
}

/// With `--max-connections 2`, a third connection is answered 503
/// `too_many_connections` and closed while two are open; once one closes,
/// a new connection is served again.
#[tokio::test]
async fn the_connection_cap_holds() {
    let server = Server::start(
        "cap",
        &[
            "--max-connections",
            "2",
            "--keep-alive-timeout",
            "60s",
            "--header-read-timeout",
            "60s",
        ],
    )
    .await;
    let mut first = server.connect().await;
    let mut second = server.connect().await;
    assert_eq!(exchange(&mut first, &get("/healthz")).await.status, 200);
    assert_eq!(exchange(&mut second, &get("/healthz")).await.status, 200);

    let mut third = server.connect().await;
    let refused = exchange(&mut third, &get("/healthz")).await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.code(), "too_many_connections");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(
        refused
            .header("x-request-id")
            .is_some_and(|v| !v.is_empty())
    );
    assert!(closed_by_server(&mut third).await);
    // The two held connections still work.
    assert_eq!(exchange(&mut first, &get("/healthz")).await.status, 200);

    drop(first);
    let metrics = tokio::time::timeout(PATIENCE, async {
        loop {
            let answer = server.send(&get("/metrics")).await;
            if answer.status == 200 {
                return answer;
            }
        }
    })
    .await
    .expect("a slot frees up once a connection closes");
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(text.contains("evenkeel_http_connections_refused_total"));
}

/// A handler that panics answers 500 `internal` with the JSON body, and the
/// next request on the same connection succeeds.
#[tokio::test]
async fn a_handler_panic_answers_500_and_the_next_request_succeeds() {
    let server = Server::start("panic", &["--debug-panic-route"]).await;
    let mut conn = server.connect().await;
    let panicked = exchange(&mut conn, &get("/debug/panic")).await;
    assert_eq!(panicked.status, 500);
    assert_eq!(panicked.code(), "internal");
    assert!(panicked.json()["error"].is_string());
    assert!(panicked.header("x-request-id").is_some());
    assert_eq!(exchange(&mut conn, &get("/healthz")).await.status, 200);
    // Without the flag the route does not exist.
    let plain = Server::start("no-panic", &[]).await;
    assert_eq!(plain.send(&get("/debug/panic")).await.code(), "not_found");
}

/// Every response carries `x-request-id`: the client's own when it sent
/// one, a generated one otherwise; and the access-log line of the request
/// carries it, with method, route, status and latency.
#[tokio::test]
async fn every_response_has_a_request_id_and_an_access_log_line() {
    let server = Server::start("request-id", &[]).await;
    for request in [get("/healthz"), get("/nope"), post("text/plain", "x")] {
        let answer = server.send(&request).await;
        assert!(
            answer.header("x-request-id").is_some_and(|v| v.len() >= 32),
            "{answer:?}"
        );
    }
    let own = server
        .send("GET /jobs/0000000000000001 HTTP/1.1\r\nhost: edge\r\nx-request-id: edge-test-7\r\n\r\n")
        .await;
    assert_eq!(own.header("x-request-id"), Some("edge-test-7"));
    let line = server
        .log_line(|l| l.contains("edge-test-7") && l.contains("evenkeel_demo::access"))
        .await;
    let record: serde_json::Value = serde_json::from_str(&line).unwrap();
    let fields = &record["fields"];
    assert_eq!(fields["status"], 404, "{line}");
    assert_eq!(fields["code"], "unknown_job", "{line}");
    assert!(fields["latency_ms"].is_number(), "{line}");
    assert_eq!(record["span"]["method"], "GET", "{line}");
    assert_eq!(record["span"]["route"], "/jobs/{id}", "{line}");
}

/// Each failure answers its documented code, in the one JSON shape.
#[tokio::test]
async fn errors_carry_their_documented_codes() {
    let server = Server::start(
        "codes",
        &[
            "--max-body",
            "64",
            "--workers",
            "1",
            "--queue-capacity",
            "1",
        ],
    )
    .await;
    let job = json!({"payload": 1}).to_string();
    let cases = [
        (post("application/json", "{ nope"), 400, "invalid_json"),
        (post("text/plain", &job), 415, "unsupported_media_type"),
        (
            post("application/json", &"x".repeat(65)),
            413,
            "body_too_large",
        ),
        (
            post("application/json", r#"{"payload":1,"x":2}"#),
            422,
            "invalid_job",
        ),
        (get("/jobs/zzz"), 404, "unknown_job"),
        (get("/nope"), 404, "not_found"),
        (
            "DELETE /jobs HTTP/1.1\r\nhost: edge\r\n\r\n".to_owned(),
            405,
            "method_not_allowed",
        ),
    ];
    for (request, status, code) in cases {
        let answer = server.send(&request).await;
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (status, code),
            "{answer:?}"
        );
        assert!(answer.json()["error"].is_string(), "{answer:?}");
    }
    // Occupy the worker and fill the queue: the next job is `queue_full`,
    // with a Retry-After within the documented bounds.
    let long = post(
        "application/json",
        &json!({"payload": 1, "work_ms": 10_000}).to_string(),
    );
    assert_eq!(server.send(&long).await.status, 202);
    let full = tokio::time::timeout(PATIENCE, async {
        loop {
            let answer = server.send(&post("application/json", &job)).await;
            if answer.status == 503 {
                return answer;
            }
        }
    })
    .await
    .expect("the queue fills up");
    assert_eq!(full.code(), "queue_full");
    let after: u64 = full.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&after), "{after}");
}

/// `/metrics` parses with a real Prometheus parser; durations are
/// histograms in seconds, counters end in `_total`, dead letters are
/// labelled by reason, and states are labelled series with one at 1.
#[tokio::test]
async fn metrics_parse_and_follow_prometheus_conventions() {
    let server = Server::start("metrics", &[]).await;
    let dead = json!({"payload": 1, "fail_rate": 1.0, "max_attempts": 1}).to_string();
    assert_eq!(
        server.send(&post("application/json", &dead)).await.status,
        202
    );
    let scrape = tokio::time::timeout(PATIENCE, async {
        loop {
            let text = String::from_utf8(server.send(&get("/metrics")).await.body).unwrap();
            let lines = text.lines().map(|l| Ok(l.to_owned()));
            let scrape = prometheus_parse::Scrape::parse(lines).expect("the scrape parses");
            let dead_letters = scrape.samples.iter().any(|s| {
                s.metric == "evenkeel_dead_letters_total"
                    && s.labels.get("reason") == Some("attempts_exhausted")
            });
            if dead_letters {
                return scrape;
            }
        }
    })
    .await
    .expect("the dead job is counted by reason");
    let find = |name: &'static str| scrape.samples.iter().filter(move |s| s.metric == name);
    for histogram in [
        "evenkeel_job_queue_wait_seconds",
        "evenkeel_job_run_duration_seconds",
        "evenkeel_http_request_duration_seconds",
    ] {
        assert!(
            find(histogram).any(|s| matches!(s.value, Value::Histogram(_))),
            "{histogram} is a histogram"
        );
    }
    for (family, label) in [
        ("evenkeel_circuit_state", "state"),
        ("evenkeel_drain_phase", "phase"),
    ] {
        let series: Vec<_> = find(family).collect();
        assert!(series.len() >= 3, "{family} has a series per state");
        let current: Vec<_> = series
            .iter()
            .filter(|s| matches!(s.value, Value::Gauge(v) if (v - 1.0).abs() < f64::EPSILON))
            .collect();
        assert_eq!(current.len(), 1, "exactly one current {family}");
        assert!(current[0].labels.get(label).is_some());
    }
    let counters = scrape
        .docs
        .keys()
        .filter(|name| {
            scrape
                .samples
                .iter()
                .any(|s| s.metric == format!("{name}_total"))
        })
        .count();
    assert!(counters >= 5, "counters are exposed with `_total`");
}
