//! The data directory full or read-only: the server must answer 503
//! `store_unavailable` (never a 202 it cannot keep), stay alive, and take
//! jobs again once writes work; every 202 it did give must finish.
//!
//! The section mounts a small tmpfs (it needs root, as on CI; without it the
//! section is reported as not run, never as passed) and puts the data
//! directory there:
//!
//! 1. **full**: a filler file takes every free byte; jobs with 16 KiB
//!    payloads are posted until the store refuses; each answer must be 202
//!    (the store still had room inside its own file) or 503
//!    `store_unavailable`, at least one must be a refusal, `/healthz` must
//!    answer 200 throughout;
//! 2. **freed**: the filler is deleted; a job must get its 202 again within
//!    a few seconds;
//! 3. **read-only**: a mounted file system cannot be remounted read-only
//!    while the server holds its store open for writing (the kernel answers
//!    EBUSY), so the server is stopped gracefully, the mount is made
//!    read-only, and a start on it must fail with exit code 1 without ever
//!    listening; back to read-write, a start must finish every job it
//!    accepted before.
//!
//! The mount is unmounted at the end, whatever happened.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::load::ACCOUNT_PATIENCE;
use crate::sections::{Section, restart_and_account};
use crate::server::{Launch, Scratch, Server, request};

/// The tmpfs's size.
const MOUNT_SIZE: &str = "16m";
/// The payload of each job posted while the disk is full.
const PAYLOAD_BYTES: usize = 16 * 1024;
/// Posts while full before giving up waiting for a refusal.
const MAX_POSTS: u64 = 400;

/// A tmpfs mount, unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn new(at: &Path) -> anyhow::Result<Mount> {
        std::fs::create_dir_all(at)?;
        mount(
            &["-t", "tmpfs", "-o", &format!("size={MOUNT_SIZE}"), "tmpfs"],
            at,
        )?;
        Ok(Mount(at.to_owned()))
    }

    fn remount(&self, mode: &str) -> anyhow::Result<()> {
        mount(&["-o", &format!("remount,{mode}")], &self.0)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = StdCommand::new("umount").arg(&self.0).status();
    }
}

fn mount(args: &[&str], at: &Path) -> anyhow::Result<()> {
    let out = StdCommand::new("mount").args(args).arg(at).output()?;
    anyhow::ensure!(
        out.status.success(),
        "mount {} {}: {}",
        args.join(" "),
        at.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Writes zeros into `path` until the file system says no more.
fn fill(path: &Path) -> anyhow::Result<u64> {
    let mut file = std::fs::File::create(path)?;
    let chunk = vec![0_u8; 64 * 1024];
    let mut written = 0_u64;
    loop {
        match file.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    let _ = file.sync_all();
    Ok(written)
}

fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// The disk section.
pub(crate) async fn section(bin: &Path) -> Section {
    let mut section = Section {
        name: "Faults: data directory full or read-only",
        what: format!(
            "the data directory on a {MOUNT_SIZE} tmpfs: (1) full (a filler file takes every \
             free byte): {} KiB jobs are posted until the store refuses, each answer must be \
             202 or 503 `store_unavailable`, `/healthz` 200 throughout; (2) the filler deleted: \
             a job must get its 202 again; (3) read-only (after a graceful stop, as the kernel \
             refuses to remount read-only under an open store file): a start must exit 1 \
             without listening; read-write again: a start must finish every 202",
            PAYLOAD_BYTES / 1024
        ),
        runs: 1,
        ..Section::default()
    };
    if !is_root() {
        section.runs = 0;
        section
            .failures
            .push("not run: mounting a tmpfs needs root (the suite runs as root on CI)".into());
        return section;
    }
    if let Err(e) = run(bin, &mut section).await {
        section.failures.push(format!("{e:#}"));
    }
    section
}

// One scenario, read top to bottom as the module docs tell it.
#[allow(clippy::too_many_lines)]
async fn run(bin: &Path, section: &mut Section) -> anyhow::Result<()> {
    let scratch = Scratch::new("disk")?;
    let mount = Mount::new(&scratch.path().join("mnt"))?;
    let data = mount.0.join("data");
    let launch = Launch {
        bin: bin.to_owned(),
        data_dir: data.clone(),
        flags: Vec::new(),
    };
    let mut server = Server::start(&launch).await?;
    let client = crate::server::client();
    let mut ids = Vec::new();
    let post = |n: u64| {
        let body = json!({"payload": {"n": n, "pad": "x".repeat(PAYLOAD_BYTES)}, "work_ms": 1});
        let client = client.clone();
        let addr = server.addr;
        async move { request(&client, addr, hyper::Method::POST, "/jobs", Some(&body)).await }
    };

    // 1. Full.
    let filler_path = mount.0.join("filler");
    let filled = fill(&filler_path)?;
    let mut statuses = std::collections::BTreeMap::<String, u64>::new();
    let mut refused = 0;
    for n in 0..MAX_POSTS {
        let answer = post(n).await?;
        let code = answer
            .json
            .get("code")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let status = answer.status.as_u16();
        let key = if code.is_empty() {
            status.to_string()
        } else {
            format!("{status} {code}")
        };
        *statuses.entry(key).or_default() += 1;
        match answer.status.as_u16() {
            202 => {
                if let Some(id) = answer.json.get("id").and_then(Value::as_str) {
                    ids.push(id.to_owned());
                }
            }
            503 if answer.json.to_string().contains("store_unavailable") => refused += 1,
            other => section.failures.push(format!(
                "while full: POST /jobs answered {other}: {}",
                answer.json
            )),
        }
        let health = server.get("/healthz").await?;
        if health.status != 200 {
            section
                .failures
                .push(format!("while full: /healthz answered {}", health.status));
        }
        if refused >= 10 {
            break;
        }
    }
    if refused == 0 {
        section.failures.push(format!(
            "while full: {MAX_POSTS} posts and the store never refused one"
        ));
    }
    // 2. Freed.
    std::fs::remove_file(&filler_path)?;
    let freed = Instant::now();
    let mut back = None;
    while freed.elapsed() < Duration::from_secs(5) {
        let answer = post(1_000_000).await?;
        if answer.status == 202 {
            if let Some(id) = answer.json.get("id").and_then(Value::as_str) {
                ids.push(id.to_owned());
            }
            back = Some(freed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if back.is_none() {
        section
            .failures
            .push("space freed, but no 202 within 5 s".into());
    }
    server.signal(Signal::SIGTERM)?;
    server.wait(ACCOUNT_PATIENCE).await?;

    // 3. Read-only: a start must fail cleanly.
    mount.remount("ro")?;
    let ro_outcome = start_read_only(bin, &data, section).await?;
    mount.remount("rw")?;
    let acc = restart_and_account(&launch, &ids).await?;
    section.jobs = acc.accepted;
    section.lost = acc.lost;
    section.figures.extend([
        ("filler written".into(), format!("{} KiB", filled / 1024)),
        ("answers while full".into(), format!("{statuses:?}")),
        (
            "first 202 after the space was freed".into(),
            back.map_or("none".into(), |d| format!("{} ms", d.as_millis())),
        ),
        ("a start on the read-only directory".into(), ro_outcome),
        (
            "202s / finished after the restart on read-write".into(),
            format!("{} / {}", acc.accepted, acc.succeeded + acc.dead),
        ),
    ]);
    drop(mount);
    Ok(())
}

/// A start on the read-only `data`: it must exit 1 without listening.
async fn start_read_only(bin: &Path, data: &Path, section: &mut Section) -> anyhow::Result<String> {
    let start = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(bin)
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .kill_on_drop(true)
            .output(),
    )
    .await;
    Ok(match start {
        Ok(Ok(out)) => {
            let listened = String::from_utf8_lossy(&out.stdout).contains("listening on");
            if out.status.code() != Some(1) || listened {
                section.failures.push(format!(
                    "a start on a read-only data directory: exit {:?}, listened: {listened}",
                    out.status.code()
                ));
            }
            format!("exit {:?}", out.status.code())
        }
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => {
            section
                .failures
                .push("a start on a read-only data directory did not end within 20 s".into());
            "hung".into()
        }
    })
}
