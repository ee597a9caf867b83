//! The signal sections: shutdown under load (SIGTERM, SIGINT, a second
//! signal at the worst moments) and crashes (SIGKILL), each run a fresh
//! server on its own port and data directory, several runs at a time
//! ([`in_parallel`]), each followed by a restart that must finish every
//! job that got a 202.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::signal::Signal;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::load::{Accounting, flood};
use crate::sections::{Section, restart_and_account, steady_job};
use crate::server::{Launch, Scratch, Server};

/// The ways the shutdown section stops a server under load.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Sigterm,
    Sigint,
    /// Two SIGTERMs 20 ms apart: the second forces.
    TwoSignals,
    /// SIGTERM, then SIGINT during the pre-drain delay.
    DuringPreDrain,
    /// SIGTERM, then SIGTERM during the drain (after the pre-drain delay).
    DuringDrain,
}

const STOPS: [Stop; 5] = [
    Stop::Sigterm,
    Stop::Sigint,
    Stop::TwoSignals,
    Stop::DuringPreDrain,
    Stop::DuringDrain,
];

/// Runs `one(run)` for every run in `0..runs`, `parallel` at a time (each
/// run has its own server, port and data directory, so they do not share
/// anything but the machine), and returns the results in run order.
pub(crate) async fn in_parallel<T, F, Fut>(runs: u64, parallel: usize, one: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(u64) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for run in 0..runs {
        // The semaphore is never closed.
        let Ok(permit) = Arc::clone(&gate).acquire_owned().await else {
            break;
        };
        let fut = one(run);
        set.spawn(async move {
            let out = fut.await;
            drop(permit);
            (run, out)
        });
    }
    let mut out: Vec<(u64, T)> = set.join_all().await;
    out.sort_by_key(|(run, _)| *run);
    out.into_iter().map(|(_, t)| t).collect()
}

/// What one shutdown run saw: the exit code, the server's own `lost`, and
/// the accounting after the restart.
type ShutdownRun = anyhow::Result<(String, Result<u64, String>, Accounting)>;

/// One shutdown run.
async fn shutdown_run(bin: std::path::PathBuf, run: u64, stop: Stop, run_seed: u64) -> ShutdownRun {
    let mut rng = StdRng::seed_from_u64(run_seed);
    let scratch = Scratch::new(&format!("shutdown-{run}"))?;
    let launch = Launch {
        bin,
        data_dir: scratch.path().join("data"),
        flags: vec!["--pre-drain-delay".into(), "200ms".into()],
    };
    let mut server = Server::start(&launch).await?;
    let stop_flag = Arc::new(AtomicBool::new(false));
    let job = steady_job(rng.random_range(10..=40));
    let load = tokio::spawn(flood(server.addr, 8, job, Arc::clone(&stop_flag)));
    tokio::time::sleep(Duration::from_millis(rng.random_range(100..=500))).await;
    let (first, second, gap) = match stop {
        Stop::Sigterm => (Signal::SIGTERM, None, 0),
        Stop::Sigint => (Signal::SIGINT, None, 0),
        Stop::TwoSignals => (Signal::SIGTERM, Some(Signal::SIGTERM), 20),
        Stop::DuringPreDrain => (Signal::SIGTERM, Some(Signal::SIGINT), 100),
        Stop::DuringDrain => (Signal::SIGTERM, Some(Signal::SIGTERM), 260),
    };
    server.signal(first)?;
    if let Some(second) = second {
        tokio::time::sleep(Duration::from_millis(gap)).await;
        let _ = server.signal(second);
    }
    let status = server.wait(Duration::from_secs(40)).await?;
    // The server's own word on what it lost, from its final record.
    let claimed_lost = server
        .final_record()
        .and_then(|r| r.get("lost").and_then(Value::as_u64));
    let tail = server.last_lines(3);
    stop_flag.store(true, Ordering::Relaxed);
    let flooded = load.await?;
    let code = status
        .code()
        .map_or_else(|| "killed by a signal".to_owned(), |c| c.to_string());
    let acc = restart_and_account(&launch, &flooded.accepted).await?;
    Ok((code, claimed_lost.ok_or(tail), acc))
}

/// Shutdown under load: `runs` randomized runs cycling through [`STOPS`],
/// `parallel` at a time.
pub(crate) async fn shutdown(
    bin: &std::path::Path,
    runs: u64,
    parallel: usize,
    seed: u64,
) -> Section {
    let mut section = Section {
        name: "Shutdown under load",
        what: format!(
            "8 clients post 10-40 ms jobs; at a random moment (100-500 ms) the server gets \
             SIGTERM, SIGINT, two signals in a row, a second signal during the 200 ms \
             pre-drain delay, or one during the drain; it must exit by itself with the code \
             its stop calls for, its final record must say lost = 0, and a restart on the \
             same data must finish every job that got a 202 ({parallel} runs at a time, each \
             with its own server, port and data directory)"
        ),
        ..Section::default()
    };
    let stop_of = |run: u64| STOPS[usize::try_from(run).unwrap_or(0) % STOPS.len()];
    let results = in_parallel(runs, parallel, |run| {
        shutdown_run(bin.to_owned(), run, stop_of(run), seed.wrapping_add(run))
    })
    .await;
    let mut exit_codes = std::collections::BTreeMap::<String, u64>::new();
    for (run, outcome) in (0..).zip(results) {
        let stop = stop_of(run);
        let run_seed = seed.wrapping_add(run);
        section.runs += 1;
        match outcome {
            Ok((code, claimed_lost, acc)) => {
                let expected = match stop {
                    Stop::Sigterm | Stop::Sigint => "0",
                    _ => "137",
                };
                // A single signal whose drain finished everything exits 0;
                // a forced stop 137, unless the drain was already complete.
                if code != expected && !(expected == "137" && code == "0") {
                    section.failures.push(format!(
                        "run {run} ({stop:?}, seed {run_seed}): exit code {code}, expected {expected}"
                    ));
                }
                *exit_codes.entry(format!("{stop:?}: {code}")).or_default() += 1;
                // The server's own books must balance too: a record that
                // claims a loss (or no record at all) is a failure, even
                // when the restart finished every job.
                match claimed_lost {
                    Ok(0) => {}
                    Ok(n) => section.failures.push(format!(
                        "run {run} ({stop:?}, seed {run_seed}): the server's final record \
                         claimed lost = {n} (a restart finished {} of {} accepted jobs)",
                        acc.accepted - acc.lost,
                        acc.accepted
                    )),
                    Err(tail) => section.failures.push(format!(
                        "run {run} ({stop:?}, seed {run_seed}): no final accounting record \
                         with a `lost` field on stdout (its last lines: {tail})"
                    )),
                }
                section.add_jobs(&format!("run {run} ({stop:?}, seed {run_seed})"), &acc);
            }
            Err(e) => section
                .failures
                .push(format!("run {run} ({stop:?}, seed {run_seed}): {e:#}")),
        }
    }
    let codes: Vec<String> = exit_codes
        .iter()
        .map(|(k, n)| format!("{k} ({n}x)"))
        .collect();
    section
        .figures
        .push(("exit codes by stop".into(), codes.join("; ")));
    section
}

/// One crash run: load, SIGKILL, restart, account.
async fn crash_run(bin: std::path::PathBuf, run: u64, run_seed: u64) -> anyhow::Result<Accounting> {
    let mut rng = StdRng::seed_from_u64(run_seed);
    let scratch = Scratch::new(&format!("crash-{run}"))?;
    let launch = Launch {
        bin,
        data_dir: scratch.path().join("data"),
        flags: Vec::new(),
    };
    let mut server = Server::start(&launch).await?;
    let stop_flag = Arc::new(AtomicBool::new(false));
    let job = steady_job(rng.random_range(5..=30));
    let load = tokio::spawn(flood(server.addr, 8, job, Arc::clone(&stop_flag)));
    tokio::time::sleep(Duration::from_millis(rng.random_range(100..=800))).await;
    server.signal(Signal::SIGKILL)?;
    server.wait(Duration::from_secs(10)).await?;
    stop_flag.store(true, Ordering::Relaxed);
    let flooded = load.await?;
    restart_and_account(&launch, &flooded.accepted).await
}

/// Crashes: SIGKILL at a random moment under load, then a restart;
/// `parallel` runs at a time.
pub(crate) async fn crashes(
    bin: &std::path::Path,
    runs: u64,
    parallel: usize,
    seed: u64,
) -> Section {
    let mut section = Section {
        name: "Crashes (SIGKILL)",
        what: "8 clients post 5-30 ms jobs that never fail on their own; at a random moment \
               (100-800 ms) the server is killed with SIGKILL; a restart on the same data \
               directory must finish every job that got a 202"
            .into(),
        ..Section::default()
    };
    let mut repeated = 0;
    let results = in_parallel(runs, parallel, |run| {
        crash_run(bin.to_owned(), run, seed.wrapping_add(1_000 + run))
    })
    .await;
    for (run, outcome) in (0..).zip(results) {
        let run_seed = seed.wrapping_add(1_000 + run);
        section.runs += 1;
        match outcome {
            Ok(acc) => {
                section.add_jobs(&format!("run {run} (seed {run_seed})"), &acc);
                repeated += acc.ran_more_than_once;
            }
            Err(e) => section
                .failures
                .push(format!("run {run} (seed {run_seed}): {e:#}")),
        }
    }
    section.figures.push((
        "jobs that ran more than once (at-least-once after a kill)".into(),
        repeated.to_string(),
    ));
    section
}
