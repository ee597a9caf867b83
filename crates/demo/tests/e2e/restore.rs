//! Start-up from a spill file: restored jobs keep their ids and run before
//! any new job; a corrupt spill file stops the start instead of dropping
//! jobs.

use std::process::Stdio;

use hyper::StatusCode;
use nix::sys::signal::Signal;
use serde_json::json;

use crate::harness::{PATIENCE, Scratch, Server, field};

/// Jobs in the spill file are queued ahead of new ones, under their old
/// ids, with their attempt counts; the restarted server reports them as
/// `restored`.
#[tokio::test]
async fn spilled_jobs_are_restored_first_under_their_ids() {
    let scratch = Scratch::new("restore");
    let spill = scratch.spill();
    let ids = ["00000000000000a1", "00000000000000a2", "00000000000000a3"];
    let lines: Vec<String> = ids
        .iter()
        .map(|id| {
            json!({"id": id, "attempts": 1, "payload": {"restored": id}, "work_ms": 50, "max_attempts": 3})
                .to_string()
        })
        .collect();
    std::fs::write(&spill, lines.join("\n") + "\n").unwrap();

    let server = Server::start(&spill, &["--workers", "1"]).await;
    let new = server.post_job(&json!({"payload": "new"})).await;
    assert_eq!(new.status, StatusCode::ACCEPTED);
    let new = new.json["id"].as_str().unwrap().to_owned();
    server.wait_state(&new, "succeeded").await;
    // One worker, backlog first: every restored job finished before the
    // new one could start.
    for id in ids {
        let record = server.get(&format!("/jobs/{id}")).await.json;
        assert_eq!(record["state"], "succeeded", "{record}");
        assert_eq!(record["attempts"], 2, "the spilled attempt still counts");
    }
    server.signal(Signal::SIGTERM);
    let (status, record) = server.exit().await;
    assert_eq!(status.code(), Some(0), "{record}");
    assert_eq!(field(&record, "restored"), 3);
    assert_eq!(field(&record, "accepted"), 4);
    assert_eq!(field(&record, "succeeded"), 4);
    assert!(!spill.exists(), "a complete drain leaves no spill file");
}

/// A spill file with a line that is not a job stops the start with exit
/// code 1 and an error naming the line: the jobs in it are not dropped.
#[tokio::test]
async fn a_corrupt_spill_file_stops_the_start() {
    let scratch = Scratch::new("corrupt");
    let spill = scratch.spill();
    std::fs::write(
        &spill,
        "{\"id\": \"00000000000000b1\", \"payload\": 1, \"max_attempts\": 1}\nnot json\n",
    )
    .unwrap();
    let output = tokio::time::timeout(
        PATIENCE,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_evenkeel-demo"))
            .args(["serve", "--addr", "127.0.0.1:0", "--spill-file"])
            .arg(&spill)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the server gave up in time")
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(":2:"), "names the line: {stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("listening on"));
    assert!(spill.exists(), "the file is left for the operator");
}
