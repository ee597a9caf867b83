//! The `--overflow` policies as a client sees them.

use hyper::StatusCode;
use serde_json::json;

use crate::harness::{Scratch, Server};

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

/// `drop-oldest` admits the new job and sheds the oldest queued one, which
/// ends `dead` with a "shed" error, so the books still balance.
#[tokio::test]
async fn drop_oldest_admits_and_sheds_the_oldest_queued_job() {
    let scratch = Scratch::new("drop-oldest");
    let server = Server::start(
        &scratch.spill(),
        &[
            "--workers",
            "1",
            "--queue-capacity",
            "1",
            "--overflow",
            "drop-oldest",
        ],
    )
    .await;
    occupy_the_worker(&server).await;
    let old = server.post_job(&json!({"payload": "old"})).await;
    let new = server.post_job(&json!({"payload": "new"})).await;
    assert_eq!(old.status, StatusCode::ACCEPTED);
    assert_eq!(new.status, StatusCode::ACCEPTED);
    let old = old.json["id"].as_str().unwrap();
    let shed = server.wait_state(old, "dead").await;
    assert!(shed["error"].as_str().unwrap().contains("shed"), "{shed}");
    let new = new.json["id"].as_str().unwrap();
    assert_eq!(
        server.get(&format!("/jobs/{new}")).await.json["state"],
        "queued"
    );
}

/// `wait` holds the request up to `--admit-wait` for room, then answers
/// 503 with `Retry-After`.
#[tokio::test]
async fn wait_gives_up_after_the_admit_wait() {
    let scratch = Scratch::new("wait");
    let server = Server::start(
        &scratch.spill(),
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
