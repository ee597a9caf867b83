//! The HTTP contract: every status code of `POST /jobs`, the JSON error
//! shape, job lookup, probes and metrics.

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Scratch, Server, metric};

/// Each refusal of `POST /jobs` has its own status and a JSON
/// `{"error": ...}` body: 400 malformed JSON, 413 too large, 415 wrong
/// content type, 422 well-formed but invalid; a valid job gets 202 and an id.
#[tokio::test]
async fn post_jobs_answers_each_status_with_a_json_error() {
    let scratch = Scratch::new("status");
    let server = Server::start(&scratch.data(), &["--max-body", "1024"]).await;

    let ok = server.post_job(&json!({"payload": {"n": 1}})).await;
    assert_eq!(ok.status, StatusCode::ACCEPTED, "{}", ok.text);
    assert_eq!(ok.json["id"].as_str().map(str::len), Some(16));

    let cases: [(Option<&str>, Vec<u8>, StatusCode); 7] = [
        (
            Some("application/json"),
            b"{\"payload\": ".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("application/json"),
            b"not json".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("application/json"),
            format!("{{\"payload\": \"{}\"}}", "x".repeat(2000)).into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            Some("text/plain"),
            b"{\"payload\": 1}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            None,
            b"{\"payload\": 1}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Some("application/json"),
            b"{\"work_ms\": 5}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Some("application/json"),
            b"{\"payload\": 1, \"fail_rate\": 1.5}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (content_type, body, expected) in cases {
        let answer = server
            .request(Method::POST, "/jobs", content_type, body)
            .await;
        assert_eq!(answer.status, expected, "{content_type:?}: {}", answer.text);
        assert!(
            answer.json["error"].is_string(),
            "error body is JSON: {}",
            answer.text
        );
    }

    // Further validation: unknown fields, a downstream job without a
    // downstream, too many attempts.
    for body in [
        json!({"payload": 1, "fail_rte": 0.5}),
        json!({"payload": 1, "downstream": true}),
        json!({"payload": 1, "max_attempts": 1000}),
        json!({"payload": 1, "work_ms": 10_000_000}),
    ] {
        let answer = server.post_job(&body).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }

    let unknown_route = server.get("/nope").await;
    assert_eq!(unknown_route.status, StatusCode::NOT_FOUND);
    assert!(unknown_route.json["error"].is_string());
    let wrong_method = server.request(Method::DELETE, "/jobs", None, "").await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(wrong_method.json["error"].is_string());
}

/// `GET /jobs/{id}` shows a job's state and attempts, and 404 with a JSON
/// error for an id it does not know.
#[tokio::test]
async fn job_records_are_looked_up_by_id() {
    let scratch = Scratch::new("lookup");
    let server = Server::start(&scratch.data(), &[]).await;
    let id = server.post_job(&json!({"payload": [1, 2, 3]})).await.json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let record = server.wait_state(&id, "succeeded").await;
    assert_eq!(record["id"], id);
    assert_eq!(record["attempts"], 1);
    assert!(record.get("error").is_none());

    for unknown in ["0123456789abcdef", "not-an-id"] {
        let answer = server.get(&format!("/jobs/{unknown}")).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        assert!(answer.json["error"].is_string());
    }
}

/// A full queue answers 503 with `Retry-After`, and the rejection is
/// counted by reason in the metrics along with the queue gauges.
#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after() {
    let scratch = Scratch::new("full");
    let server = Server::start(
        &scratch.data(),
        &["--workers", "1", "--queue-capacity", "2"],
    )
    .await;
    // One job occupies the worker; wait until it runs, so the queue is
    // empty and its two slots are what is left.
    let first = server
        .post_job(&json!({"payload": 0, "work_ms": 60_000}))
        .await;
    let first = first.json["id"].as_str().unwrap().to_owned();
    server.wait_state(&first, "running").await;
    for n in 1..=2 {
        let queued = server
            .post_job(&json!({"payload": n, "work_ms": 60_000}))
            .await;
        assert_eq!(queued.status, StatusCode::ACCEPTED);
    }
    let full = server.post_job(&json!({"payload": 3})).await;
    assert_eq!(
        full.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        full.text
    );
    assert!(full.headers.contains_key("retry-after"));
    assert!(full.json["error"].as_str().unwrap().contains("full"));

    let text = server.metrics().await;
    assert_eq!(metric(&text, "evenkeel_queue_capacity"), Some(2.0));
    assert_eq!(metric(&text, "evenkeel_queue_depth"), Some(2.0));
    assert_eq!(metric(&text, "evenkeel_queue_high_water"), Some(2.0));
    assert_eq!(metric(&text, "evenkeel_admissions_total"), Some(3.0));
    assert_eq!(
        metric(&text, "evenkeel_rejections_total{reason=\"queue_full\"}"),
        Some(1.0)
    );
    assert_eq!(metric(&text, "evenkeel_jobs_in_flight"), Some(1.0));
}

/// `/healthz` and `/readyz` answer 200 while serving, and `/metrics`
/// exposes every family the issue lists, in Prometheus text format.
#[tokio::test]
async fn probes_and_metrics_answer_while_serving() {
    let scratch = Scratch::new("probes");
    let server = Server::start(&scratch.data(), &[]).await;
    assert_eq!(server.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(server.get("/readyz").await.status, StatusCode::OK);
    let id = server.post_job(&json!({"payload": 1})).await.json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server.wait_state(&id, "succeeded").await;

    // The worker counts the success once the store has committed its ack,
    // a moment after the record shows it.
    let text = server
        .poll("/metrics", |a| {
            metric(&a.text, "evenkeel_jobs_total{outcome=\"succeeded\"}") == Some(1.0)
        })
        .await
        .text;
    for family in [
        "evenkeel_queue_depth",
        "evenkeel_queue_capacity",
        "evenkeel_queue_high_water",
        "evenkeel_admissions_total",
        "evenkeel_jobs_total{outcome=\"succeeded\"}",
        "evenkeel_jobs_total{outcome=\"dead\"}",
        "evenkeel_jobs_total{outcome=\"released\"}",
        "evenkeel_job_retries_total",
        "evenkeel_circuit_state{state=\"closed\"}",
        "evenkeel_jobs_in_flight",
        "evenkeel_drain_phase{phase=\"serving\"}",
    ] {
        assert!(
            metric(&text, family).is_some(),
            "missing {family} in\n{text}"
        );
    }
    assert_eq!(
        metric(&text, "evenkeel_jobs_total{outcome=\"succeeded\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "evenkeel_drain_phase{phase=\"serving\"}"),
        Some(1.0)
    );
    assert!(
        text.contains("evenkeel_http_request_duration_seconds_bucket{"),
        "latency histogram present"
    );
    assert!(text.trim_end().ends_with("# EOF"));
}

/// Over `--rate-limit`, `POST /jobs` answers 429 with `Retry-After` and a
/// JSON error, counted as `rate_limited`; probes are not rate limited.
#[tokio::test]
async fn over_the_rate_limit_answers_429_with_retry_after() {
    let scratch = Scratch::new("rate");
    let server = Server::start(
        &scratch.data(),
        &["--rate-limit", "1", "--rate-limit-burst", "1"],
    )
    .await;
    let first = server.post_job(&json!({"payload": 1})).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    // One token per second: the next request in the same second is refused
    // (a few tries, in case this machine is slow enough to span a second).
    let mut limited = None;
    for n in 0..5 {
        let answer = server.post_job(&json!({"payload": n})).await;
        if answer.status != StatusCode::ACCEPTED {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("a request was rate limited");
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text
    );
    assert!(limited.headers.contains_key("retry-after"));
    assert!(
        limited.json["error"]
            .as_str()
            .unwrap()
            .contains("rate limited")
    );
    for _ in 0..3 {
        assert_eq!(server.get("/healthz").await.status, StatusCode::OK);
    }
    let text = server.metrics().await;
    assert_eq!(
        metric(&text, "evenkeel_rejections_total{reason=\"rate_limited\"}"),
        Some(1.0)
    );
}

/// Every flag can come from an `EVENKEEL_*` environment variable.
#[tokio::test]
async fn flags_can_be_set_through_the_environment() {
    let scratch = Scratch::new("env");
    let server = Server::start_with_env(
        &scratch.data(),
        &[
            ("EVENKEEL_QUEUE_CAPACITY", "7"),
            ("EVENKEEL_MAX_BODY", "100"),
        ],
    )
    .await;
    let text = server.metrics().await;
    assert_eq!(metric(&text, "evenkeel_queue_capacity"), Some(7.0));
    let big = server.post_job(&json!({"payload": "x".repeat(200)})).await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
}

/// What `/proc/<pid>/status` says of a process's transparent huge pages
/// (`THP_enabled`: `false` once the process turned them off), or `None`
/// where the kernel does not say.
fn thp_enabled(pid: &str) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("THP_enabled:"))?;
    Some(line["THP_enabled:".len()..].trim() == "1")
}

/// The server turns transparent huge pages off for its process (see
/// `no_transparent_huge_pages` in the binary), unless the operator set
/// mimalloc's own `MIMALLOC_ALLOW_THP`, which then decides.
#[tokio::test]
async fn the_server_turns_transparent_huge_pages_off_unless_told_otherwise() {
    if thp_enabled("self") != Some(true) {
        eprintln!(
            "this kernel reports no transparent huge pages for this process: nothing to check"
        );
        return;
    }
    let scratch = Scratch::new("thp-off");
    let server = Server::start(&scratch.data(), &[]).await;
    assert_eq!(thp_enabled(&server.pid().to_string()), Some(false));

    let scratch = Scratch::new("thp-on");
    let server = Server::start_with_env(&scratch.data(), &[("MIMALLOC_ALLOW_THP", "1")]).await;
    assert_eq!(thp_enabled(&server.pid().to_string()), Some(true));
}
