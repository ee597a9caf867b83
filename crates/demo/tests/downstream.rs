//! Behaviour of the flaky downstream: its dice at the extremes, its outage
//! windows, and the `Retry-After` on a busy 503.
//!
//! HTTP tests run the real router on an ephemeral loopback port with no
//! latency configured, so each request answers at once; nothing sleeps.
//! Outage windows that expire are tested on the state machine directly with
//! tokio's paused clock.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use evenkeel_demo::downstream::{Downstream, DownstreamConfig};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::RETRY_AFTER;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::oneshot;

/// A running downstream; dropping it stops the server.
struct Running {
    addr: SocketAddr,
    service: Downstream,
    _stop: oneshot::Sender<()>,
    client: Client<HttpConnector, Full<Bytes>>,
}

async fn start(config: DownstreamConfig) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = Downstream::new(config);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(service.clone().serve(listener, async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        service,
        _stop: stop,
        client: Client::builder(TokioExecutor::new()).build_http(),
    }
}

impl Running {
    /// Sends `method path` and returns status, `Retry-After` and body.
    async fn call(&self, method: &str, path: &str) -> (u16, Option<String>, serde_json::Value) {
        let request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let response = self.client.request(request).await.unwrap();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, retry_after, serde_json::from_slice(&body).unwrap())
    }
}

/// With error and busy rates at 0, every `POST /work` is a 200 and the
/// counters say so.
#[tokio::test]
async fn healthy_service_always_answers_200() {
    let ds = start(DownstreamConfig::default()).await;
    for _ in 0..20 {
        assert_eq!(ds.call("POST", "/work").await.0, 200);
    }
    let (code, _, counts) = ds.call("GET", "/stats").await;
    assert_eq!(code, 200);
    assert_eq!(counts["requests"], 20);
    assert_eq!(counts["ok"], 20);
    assert_eq!(counts["errors"], 0);
}

/// With an error rate of 1, every answer is a 500 with a JSON error body and
/// no `Retry-After`.
#[tokio::test]
async fn error_rate_one_always_answers_500() {
    let ds = start(DownstreamConfig {
        error_rate: 1.0,
        ..DownstreamConfig::default()
    })
    .await;
    for _ in 0..20 {
        let (status, retry_after, body) = ds.call("POST", "/work").await;
        assert_eq!(status, 500);
        assert_eq!(retry_after, None);
        assert!(body["error"].is_string());
    }
    assert_eq!(ds.service.stats().errors, 20);
}

/// A busy answer is a 503 carrying `Retry-After` in whole seconds.
#[tokio::test]
async fn busy_answer_carries_retry_after() {
    let ds = start(DownstreamConfig {
        busy_rate: 1.0,
        busy_retry_after: Duration::from_secs(2),
        ..DownstreamConfig::default()
    })
    .await;
    let (status, retry_after, _) = ds.call("POST", "/work").await;
    assert_eq!(status, 503);
    assert_eq!(retry_after.as_deref(), Some("2"));
    assert_eq!(ds.service.stats().busy, 1);
}

/// `POST /admin/outage?secs=N` makes every call a 503 *without*
/// `Retry-After`, and `secs=0` ends the outage.
#[tokio::test]
async fn admin_route_toggles_an_outage() {
    let ds = start(DownstreamConfig::default()).await;
    let (code, _, shown) = ds.call("POST", "/admin/outage?secs=60").await;
    assert_eq!(code, 200);
    assert_eq!(shown["outage_active"], true);

    let (status, retry_after, body) = ds.call("POST", "/work").await;
    assert_eq!((status, retry_after), (503, None));
    assert_eq!(body["error"], "outage");

    let (_, _, shown) = ds.call("POST", "/admin/outage?secs=0").await;
    assert_eq!(shown["outage_active"], false);
    assert_eq!(ds.call("POST", "/work").await.0, 200);
    let counters = ds.service.stats();
    assert_eq!(
        (counters.outage_rejections, counters.outages_started),
        (1, 1)
    );
}

/// A negative outage length is refused with 422 rather than misread.
#[tokio::test]
async fn admin_route_refuses_a_negative_length() {
    let ds = start(DownstreamConfig::default()).await;
    assert_eq!(ds.call("POST", "/admin/outage?secs=-1").await.0, 422);
    assert!(!ds.service.in_outage());
}

/// A client configured with a bare base URL (any other path) reaches the
/// same flaky handler as `/work`.
#[tokio::test]
async fn unrouted_paths_are_treated_as_work() {
    let ds = start(DownstreamConfig {
        error_rate: 1.0,
        ..DownstreamConfig::default()
    })
    .await;
    assert_eq!(ds.call("POST", "/").await.0, 500);
    assert_eq!(ds.call("POST", "/anything/else").await.0, 500);
}

/// An outage opened on cue closes by itself when its length has passed.
#[tokio::test(start_paused = true)]
async fn outage_on_cue_expires() {
    let ds = Downstream::new(DownstreamConfig::default());
    ds.start_outage(Duration::from_secs(5));
    tokio::time::advance(Duration::from_millis(4_999)).await;
    assert!(ds.in_outage());
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(!ds.in_outage());
}

/// `--outage-after 20s --outage-for 10s`: healthy before 20 s, dark in
/// `[20 s, 30 s)`, healthy again from 30 s.
#[tokio::test(start_paused = true)]
async fn scheduled_outage_window() {
    let ds = Downstream::new(DownstreamConfig {
        outage_after: Some(Duration::from_secs(20)),
        outage_for: Duration::from_secs(10),
        ..DownstreamConfig::default()
    });
    tokio::time::advance(Duration::from_secs(19)).await;
    assert!(!ds.begin_request());
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(ds.begin_request());
    tokio::time::advance(Duration::from_millis(9_999)).await;
    assert!(ds.in_outage());
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(!ds.in_outage());
    assert_eq!(ds.stats().outage_rejections, 1);
}

/// The same seed replays the same answers and latencies.
#[tokio::test]
async fn same_seed_same_dice() {
    let config = DownstreamConfig {
        error_rate: 0.3,
        busy_rate: 0.2,
        jitter: Duration::from_millis(50),
        seed: 42,
        ..DownstreamConfig::default()
    };
    let (a, b) = (Downstream::new(config.clone()), Downstream::new(config));
    for _ in 0..100 {
        assert_eq!(a.next_latency(), b.next_latency());
        assert_eq!(a.roll(), b.roll());
    }
    let stats = a.stats();
    assert_eq!(stats.ok + stats.errors + stats.busy, 100);
    assert!(stats.errors > 0 && stats.busy > 0 && stats.ok > 0);
}

/// The real binary: `evenkeel-demo downstream --addr 127.0.0.1:0` prints
/// `listening on <addr>` on stdout, serves there, and exits 0 on SIGTERM.
#[tokio::test]
async fn binary_prints_its_address_and_stops_on_sigterm() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_evenkeel-demo"))
        .args([
            "downstream",
            "--addr",
            "127.0.0.1:0",
            "--latency",
            "0ms",
            "--jitter",
            "0ms",
        ])
        .args(["--error-rate", "0", "--busy-rate", "0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().unwrap();
    let addr: SocketAddr = line.strip_prefix("listening on ").unwrap().parse().unwrap();
    assert_ne!(addr.port(), 0);

    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let request = Request::post(format!("http://{addr}/work"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(client.request(request).await.unwrap().status(), 200);

    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    // A guard against a hang, not a timed assertion: the exit is immediate.
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}
