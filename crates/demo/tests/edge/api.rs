//! What a client programs against: the catch-panic 500, request ids and
//! the access log, error codes, and `/metrics`.

use prometheus_parse::Value;
use serde_json::json;

use crate::harness::{PATIENCE, Server, exchange, get, post};

/// A handler that panics answers 500 `internal` with the JSON body, and the
/// next request on the same connection succeeds.
#[tokio::test]
async fn a_handler_panic_answers_500_and_the_next_request_succeeds() {
    let server = Server::start(&["--debug-panic-route"]).await;
    let mut conn = server.connect().await;
    let panicked = exchange(&mut conn, &get("/debug/panic")).await;
    assert_eq!(panicked.status, 500);
    assert_eq!(panicked.code(), "internal");
    assert!(panicked.json()["error"].is_string());
    assert!(panicked.header("x-request-id").is_some());
    assert_eq!(exchange(&mut conn, &get("/healthz")).await.status, 200);
    // Without the flag the route does not exist.
    let plain = Server::start(&[]).await;
    assert_eq!(plain.send(&get("/debug/panic")).await.code(), "not_found");
}

/// Every response carries `x-request-id`: the client's own when it sent
/// one, a generated one otherwise; and the access-log line of the request
/// carries it, with method, route, status and latency.
#[tokio::test]
async fn every_response_has_a_request_id_and_an_access_log_line() {
    let server = Server::start(&[]).await;
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
    let server = Server::start(&[
        "--max-body",
        "64",
        "--workers",
        "1",
        "--queue-capacity",
        "1",
    ])
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
/// labelled by reason, the job gauges are the store's counts, and states
/// are labelled series with one at 1.
#[tokio::test]
async fn metrics_parse_and_follow_prometheus_conventions() {
    let server = Server::start(&[]).await;
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
    // The job store's counts are what the gauges show: the dead job is in
    // the store as dead, nothing is live; its one attempt was measured as
    // a dead one.
    let gauge = |name: &'static str, label: Option<(&str, &str)>| {
        find(name)
            .find(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                Value::Gauge(v) => v,
                ref other => panic!("{name} is a gauge, not {other:?}"),
            })
    };
    assert_eq!(
        gauge("evenkeel_store_jobs", Some(("state", "dead"))),
        Some(1.0)
    );
    assert_eq!(gauge("evenkeel_jobs_live", None), Some(0.0));
    assert!(
        find("evenkeel_job_run_duration_seconds").any(|s| s.labels.get("outcome") == Some("dead")),
        "the attempt's duration is recorded under its outcome"
    );
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
