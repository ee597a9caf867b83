//! The `--overflow` policies as a client sees them.

use hyper::StatusCode;
use serde_json::json;

use std::sync::Arc;

use crate::harness::{Scratch, Server, metric};

/// Fills the single worker with a long job, so that the queue is what is
/// left; returns the running job's id.
async fn occupy_the_worker(server: &Server) -> String {
    let id = server
        .post_job(&json!({"payload": "busy", "work_ms": 60_000}))
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server.wait_state(&id, "running").await;
    id
}

/// `wait` holds the request up to `--admit-wait` for room, then answers
/// 503 with `Retry-After`.
#[tokio::test]
async fn wait_gives_up_after_the_admit_wait() {
    let scratch = Scratch::new("wait");
    let server = Server::start(
        &scratch.data(),
        &[
            "--workers",
            "1",
            "--queue-capacity",
            "1",
            "--overflow",
            "wait",
            "--admit-wait",
            "50ms",
        ],
    )
    .await;
    occupy_the_worker(&server).await;
    assert_eq!(
        server.post_job(&json!({"payload": 1})).await.status,
        StatusCode::ACCEPTED
    );
    let refused = server.post_job(&json!({"payload": 2})).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text
    );
    assert!(refused.headers.contains_key("retry-after"));
}

/// The server preset's bulkhead and total timeout: with one request slot,
/// a request stuck waiting for queue room (`--overflow wait`) holds the
/// slot until the request timeout answers it 504, and a second request
/// meanwhile is refused at once with 503 and `Retry-After`.
#[tokio::test]
async fn a_full_bulkhead_answers_503_and_a_slow_request_504() {
    let scratch = Scratch::new("bulkhead");
    let server = Arc::new(
        Server::start(
            &scratch.data(),
            &[
                "--workers",
                "1",
                "--queue-capacity",
                "1",
                "--overflow",
                "wait",
                "--admit-wait",
                "30s",
                "--request-timeout",
                "500ms",
                "--max-concurrent-requests",
                "1",
            ],
        )
        .await,
    );
    occupy_the_worker(&server).await;
    assert_eq!(
        server
            .post_job(&json!({"payload": "fills the queue"}))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let stuck = tokio::spawn({
        let server = Arc::clone(&server);
        async move { server.post_job(&json!({"payload": "waits"})).await }
    });
    server
        .poll("/metrics", |a| {
            metric(&a.text, "evenkeel_http_requests_in_flight{route=\"/jobs\"}") == Some(1.0)
        })
        .await;
    let second = server.post_job(&json!({"payload": "refused"})).await;
    let first = stuck.await.unwrap();
    // Which of the two got the slot is a race; one gets each answer.
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::SERVICE_UNAVAILABLE, StatusCode::GATEWAY_TIMEOUT],
        "{} / {}",
        first.text,
        second.text
    );
    let refused = if first.status == StatusCode::SERVICE_UNAVAILABLE {
        &first
    } else {
        &second
    };
    assert!(refused.headers.contains_key("retry-after"));
    assert!(refused.json["error"].is_string());
    let text = server.metrics().await;
    assert_eq!(
        metric(&text, "evenkeel_rejections_total{reason=\"overloaded\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            "evenkeel_rejections_total{reason=\"request_timeout\"}"
        ),
        Some(1.0)
    );
}
