//! A job store that cannot write: the server must not lie with a 202.
//!
//! The data directory is a small tmpfs (the tests run as root on CI;
//! without root they are skipped with a message, since nothing else can
//! make the disk full under a running server). A filler file takes the
//! last free byte; from then on the store's commits fail with `ENOSPC`.
//! The server must answer `POST /jobs` with `503 store_unavailable` and a
//! `Retry-After`, report not ready, log the episode once and count it, stay
//! up, and come back by itself once the filler is deleted: redb refuses
//! every call after an I/O error until the database is reopened, so the
//! store reopens it after a back-off.
//!
//! (`mount -o remount,ro` cannot stand in for a read-only disk here: the
//! kernel refuses to remount a filesystem read-only while a file on it is
//! open for writing, and the store holds its file open.)

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hyper::StatusCode;
use nix::sys::signal::Signal;
use serde_json::json;

use crate::harness::{Answer, PATIENCE, Scratch, Server, metric};

/// A size-limited tmpfs mounted on a directory, unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` on `dir`, or `None` when not root.
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return None;
        }
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount a tmpfs on {}", dir.display());
        Some(Self {
            dir: dir.to_owned(),
        })
    }

    fn filler(&self) -> PathBuf {
        self.dir.join("filler")
    }

    /// Writes a file until the filesystem has no byte left.
    fn fill(&self) {
        let mut file = std::fs::File::create(self.filler()).unwrap();
        let block = vec![0x5a_u8; 64 * 1024];
        loop {
            if let Err(e) = file.write_all(&block) {
                assert_eq!(e.raw_os_error(), Some(nix::libc::ENOSPC), "{e}");
                break;
            }
        }
        // The last partial block: fill it byte by byte.
        while file.write_all(&[0x5a]).is_ok() {}
    }

    /// Gives the space back.
    fn free(&self) {
        std::fs::remove_file(self.filler()).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// A job with a payload big enough to need fresh pages in the store.
fn big_job(n: usize) -> serde_json::Value {
    json!({"payload": format!("{n:06}-{}", "x".repeat(4000))})
}

/// Checks a refusal is the store's: 503, `store_unavailable`, and a
/// `Retry-After` of a few seconds.
fn assert_store_unavailable(answer: &Answer) {
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text
    );
    assert_eq!(answer.json["code"], "store_unavailable", "{}", answer.text);
    let after: u64 = answer.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&after), "retry-after {after}");
}

/// Notes a 202's id in `accepted` and returns `true`, or checks the answer
/// is the store's refusal and returns `false`.
fn accepted_or_refused(answer: &Answer, accepted: &mut Vec<String>) -> bool {
    if answer.status == StatusCode::ACCEPTED {
        accepted.push(answer.json["id"].as_str().unwrap().to_owned());
        return true;
    }
    assert_store_unavailable(answer);
    false
}

/// With the disk full, `POST /jobs` answers 503 `store_unavailable` with a
/// `Retry-After` and never a 202; `/readyz` says not ready; the failure is
/// logged once and counted in `evenkeel_store_errors_total`; the server
/// stays up. Once space is back, 202s resume by themselves, readiness
/// returns, every job that got a 202 runs to `succeeded` (workers whose
/// claims and acks failed retried), and every one of them is still there
/// after a restart.
#[tokio::test]
async fn a_full_disk_answers_503_and_recovers_when_space_returns() {
    let scratch = Scratch::new("disk-full");
    let data = scratch.data();
    let Some(disk) = Tmpfs::mount(&data, "4m") else {
        eprintln!("skipped: mounting a size-limited tmpfs needs root");
        return;
    };
    // A short lease: a job whose ack failed on the full disk stays leased
    // (nothing is lost) and runs again once its lease expires.
    let flags = [
        "--workers",
        "2",
        "--queue-capacity",
        "100000",
        "--lease",
        "2s",
    ];
    let server = Server::start(&data, &flags).await;
    let mut accepted = Vec::new();
    for n in 0..5 {
        let answer = server.post_job(&big_job(n)).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
        accepted.push(answer.json["id"].as_str().unwrap().to_owned());
    }

    disk.fill();
    let mut refused = None;
    for n in 5..2000 {
        let answer = server.post_job(&big_job(n)).await;
        if !accepted_or_refused(&answer, &mut accepted) {
            refused = Some(answer);
            break;
        }
    }
    assert!(refused.is_some(), "a full disk never refused a job");
    // Until space comes back, every answer is a refusal or a real commit.
    for n in 0..20 {
        accepted_or_refused(&server.post_job(&big_job(10_000 + n)).await, &mut accepted);
    }
    let ready = server.get("/readyz").await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.text
    );
    assert_eq!(ready.json["code"], "not_ready");
    assert_eq!(server.get("/healthz").await.status, StatusCode::OK);
    let errors = metric(
        &server.metrics().await,
        "evenkeel_store_errors_total{op=\"enqueue\"}",
    )
    .unwrap_or(0.0);
    assert!(errors >= 1.0, "store errors counted: {errors}");
    server
        .wait_for_log_line(|l| l.contains("job store failing"))
        .await;
    let logged = server.count_log_lines(|l| l.contains("job store failing"));
    assert_eq!(
        logged, 1,
        "one log line for the episode, not one per request"
    );

    disk.free();
    let back = tokio::time::timeout(PATIENCE, async {
        let mut n = 20_000;
        loop {
            let answer = server.post_job(&big_job(n)).await;
            n += 1;
            if answer.status == StatusCode::ACCEPTED {
                return answer;
            }
            assert_store_unavailable(&answer);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the store recovers once space is back");
    accepted.push(back.json["id"].as_str().unwrap().to_owned());
    server.poll("/readyz", |a| a.status == StatusCode::OK).await;
    server
        .wait_for_log_line(|l| l.contains("job store recovered"))
        .await;
    assert_eq!(
        server.count_log_lines(|l| l.contains("job store recovered")),
        1
    );
    assert_eq!(
        server.count_log_lines(|l| l.contains("job store failing")),
        1
    );
    for id in &accepted {
        server.wait_state(id, "succeeded").await;
    }

    server.signal(Signal::SIGTERM);
    let (status, _) = server.exit().await;
    assert_eq!(status.code(), Some(0));
    let again = Server::start(&data, &flags).await;
    for id in &accepted {
        let answer = again.get(&format!("/jobs/{id}")).await;
        assert_eq!(answer.status, StatusCode::OK, "job {id} after the restart");
        assert_eq!(answer.json["state"], "succeeded");
    }
    drop(again);
}
