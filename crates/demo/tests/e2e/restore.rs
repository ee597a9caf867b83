//! The data directory as a client and an operator see it: one server per
//! directory, a file that is not a job store stops the start, a 202 comes
//! with its `Location`, and a repeated `Idempotency-Key` gives back the
//! first job instead of a second one, across a restart too.

use std::process::Stdio;

use hyper::{Method, StatusCode};
use nix::sys::signal::Signal;
use serde_json::json;

use crate::harness::{PATIENCE, Scratch, Server, field};

/// Runs `serve` on `data` and returns its exit code and stderr, expecting
/// it to give up at start.
async fn failed_start(data: &std::path::Path) -> (Option<i32>, String) {
    let output = tokio::time::timeout(
        PATIENCE,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_evenkeel-demo"))
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the server gave up in time")
    .unwrap();
    assert!(!String::from_utf8_lossy(&output.stdout).contains("listening on"));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A second server on a data directory in use fails at start with exit
/// code 1 and an error saying so; the first one keeps serving.
#[tokio::test]
async fn a_second_server_on_the_same_data_dir_fails_at_start() {
    let scratch = Scratch::new("locked");
    let data = scratch.data();
    let first = Server::start(&data, &[]).await;
    let (code, stderr) = failed_start(&data).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("in use by another process"), "{stderr}");
    let answer = first.post_job(&json!({"payload": 1})).await;
    assert_eq!(
        answer.status,
        StatusCode::ACCEPTED,
        "the first server is unharmed"
    );
    first.signal(Signal::SIGTERM);
    let (status, _) = first.exit().await;
    assert_eq!(status.code(), Some(0));
}

/// A data directory whose store file is not a job store stops the start
/// with exit code 1; the file is left for the operator.
#[tokio::test]
async fn a_file_that_is_not_a_job_store_stops_the_start() {
    let scratch = Scratch::new("corrupt");
    let data = scratch.data();
    std::fs::create_dir_all(&data).unwrap();
    let file = data.join("jobs.redb");
    std::fs::write(&file, b"not a database\n").unwrap();
    let (code, stderr) = failed_start(&data).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("opening the job store"), "{stderr}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        b"not a database\n",
        "left as it was"
    );
}

/// A 202 carries `Location: /jobs/{id}`; the same `Idempotency-Key` again
/// answers 200 with the first job's id (and stores no second job), also
/// after a restart; a different key makes a new job.
#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_first_job() {
    let scratch = Scratch::new("idempotency");
    let data = scratch.data();
    let post = |server: &Server, key: &'static str| {
        let request = hyper::Request::builder()
            .method(Method::POST)
            .uri(format!("http://{}/jobs", server.addr))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(http_body_util::Full::new(bytes::Bytes::from_static(
                b"{\"payload\": 1}",
            )))
            .unwrap();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        async move {
            let response = client.request(request).await.unwrap();
            let status = response.status();
            let location = response.headers().get("location").cloned();
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            (status, location, json["id"].as_str().unwrap().to_owned())
        }
    };
    let server = Server::start(&data, &[]).await;
    let (status, location, id) = post(&server, "order-1").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(location.unwrap(), format!("/jobs/{id}").as_str());
    let (again, location, same) = post(&server, "order-1").await;
    assert_eq!((again, same.as_str()), (StatusCode::OK, id.as_str()));
    assert_eq!(location.unwrap(), format!("/jobs/{id}").as_str());
    let (other, _, new) = post(&server, "order-2").await;
    assert_eq!(other, StatusCode::ACCEPTED);
    assert_ne!(new, id);
    server.signal(Signal::SIGTERM);
    let (_, record) = server.exit().await;
    assert_eq!(field(&record, "accepted"), 2, "one job per key: {record}");

    let server = Server::start(&data, &[]).await;
    let (after, _, same) = post(&server, "order-1").await;
    assert_eq!(
        (after, same.as_str()),
        (StatusCode::OK, id.as_str()),
        "kept across a restart"
    );
}
