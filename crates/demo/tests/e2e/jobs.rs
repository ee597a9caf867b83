//! What happens to a job: retries with backoff, death after the last
//! attempt, and a worker panic that is caught and retried.

use serde_json::json;

use crate::harness::{Scratch, Server, metric};

/// A job whose every attempt fails is retried up to its attempt limit,
/// then recorded `dead` with its last error; retries are counted.
#[tokio::test]
async fn a_job_that_always_fails_dies_after_its_attempts() {
    let scratch = Scratch::new("dead");
    let server = Server::start(
        &scratch.data(),
        &["--retry-initial", "1ms", "--retry-max", "5ms"],
    )
    .await;
    let id = server
        .post_job(&json!({"payload": 1, "fail_rate": 1.0, "max_attempts": 3}))
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let record = server.wait_state(&id, "dead").await;
    assert_eq!(record["attempts"], 3);
    assert!(
        record["error"]
            .as_str()
            .unwrap()
            .contains("simulated transient failure"),
        "{record}"
    );
    // The worker counts the death once the store has committed it, a
    // moment after the record shows it.
    let text = server
        .poll("/metrics", |a| {
            metric(&a.text, "evenkeel_jobs_total{outcome=\"dead\"}") == Some(1.0)
        })
        .await
        .text;
    assert_eq!(metric(&text, "evenkeel_job_retries_total"), Some(2.0));
}

/// A job whose first attempt panics takes its worker down; the worker is
/// restarted, the job is retried and succeeds on attempt 2, and
/// the panic and restart are counted. With a single attempt allowed, the
/// same panic makes the job `dead` with the panic message.
#[tokio::test]
async fn a_panicking_job_is_retried_and_its_worker_restarted() {
    let scratch = Scratch::new("panic");
    let server = Server::start(
        &scratch.data(),
        &["--workers", "1", "--retry-initial", "1ms"],
    )
    .await;
    let retried = server
        .post_job(&json!({"payload": 1, "panic": true}))
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let record = server.wait_state(&retried, "succeeded").await;
    assert_eq!(record["attempts"], 2, "{record}");

    let doomed = server
        .post_job(&json!({"payload": 2, "panic": true, "max_attempts": 1}))
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let record = server.wait_state(&doomed, "dead").await;
    assert!(
        record["error"].as_str().unwrap().contains("asked to panic"),
        "{record}"
    );
    // The single worker was restarted each time: later jobs still run.
    let after = server.post_job(&json!({"payload": 3})).await.json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server.wait_state(&after, "succeeded").await;
    let text = server.metrics().await;
    assert_eq!(metric(&text, "evenkeel_job_panics_total"), Some(2.0));
    assert_eq!(metric(&text, "evenkeel_worker_restarts_total"), Some(2.0));
}

/// Jobs' panics are client input, not a crash loop: 160 panicking jobs on
/// 16 workers (more than the supervisor's 100 restarts in 10 s) each cost
/// their worker a restart, are retried and succeed, and the server stays
/// ready throughout. Before, the supervisor counted them, gave up, and the
/// server shut itself down.
#[tokio::test]
async fn a_flood_of_panicking_jobs_does_not_take_the_server_down() {
    const JOBS: usize = 160;
    let scratch = Scratch::new("panic-flood");
    let server = Server::start(
        &scratch.data(),
        &[
            "--workers",
            "16",
            "--queue-capacity",
            "1000",
            "--retry-initial",
            "1ms",
        ],
    )
    .await;
    let mut ids = Vec::with_capacity(JOBS);
    for n in 0..JOBS {
        let answer = server.post_job(&json!({"payload": n, "panic": true})).await;
        assert_eq!(answer.status, 202, "job {n}: {}", answer.text);
        ids.push(answer.json["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let record = server.wait_state(id, "succeeded").await;
        assert_eq!(record["attempts"], 2, "{record}");
    }
    assert_eq!(server.get("/readyz").await.status, 200);
    let text = server.metrics().await;
    assert_eq!(
        metric(&text, "evenkeel_job_panics_total"),
        Some(JOBS as f64)
    );
    assert_eq!(
        metric(&text, "evenkeel_worker_restarts_total"),
        Some(JOBS as f64)
    );
    assert_eq!(
        server.count_log_lines(|line| line.contains("gave up")),
        0,
        "the supervisor gave up"
    );
}
