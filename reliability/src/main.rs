//! The reliability suite: the real `evenkeel-demo` server binary under
//! signals, SIGKILL, overload, malformed input and panicking workers, with
//! every job that got a 202 accounted for.
//!
//! `cargo xtask reliability` builds the server in release mode and runs the
//! full suite, which writes `RELIABILITY.md` at the workspace root;
//! `cargo xtask reliability --quick` (what CI runs) does fewer runs and
//! writes `target/RELIABILITY-quick.md`, so the published file always comes
//! from a full run. The process exits non-zero if any section did not hold:
//! a failure is reported with the seed that reproduces it, never hidden.
//!
//! Usage: `evenkeel-reliability --demo <path> [--quick] [--seed N] [--out FILE]
//! [--only shutdown|crashes|faults|overload|bad|slow|disk]`.

/// The same allocator as the demo server, so the end-to-end baseline (the
/// bare axum handler served from this process) is measured on equal terms.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bad_input;
mod disk;
mod downstream;
mod e2e;
mod load;
mod report;
mod sections;
mod server;
mod signals;
mod slow;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

/// How much to run.
#[derive(Debug, Clone, Copy)]
struct Plan {
    shutdown_runs: u64,
    crash_runs: u64,
    overload_secs: u64,
    /// Downstream jobs per downstream-fault run.
    downstream_jobs: u64,
    /// Slow connections of each kind held at once.
    slow_per_kind: usize,
    /// Generated bad-input cases.
    bad_inputs: u64,
    /// Shutdown and crash runs at a time (each its own server, port and
    /// data directory).
    parallel: usize,
    quick: bool,
}

const FULL: Plan = Plan {
    shutdown_runs: 1_000,
    crash_runs: 100,
    overload_secs: 30,
    downstream_jobs: 60,
    slow_per_kind: 32,
    bad_inputs: 4_500,
    parallel: 2,
    quick: false,
};

const QUICK: Plan = Plan {
    shutdown_runs: 25,
    crash_runs: 8,
    overload_secs: 8,
    downstream_jobs: 20,
    slow_per_kind: 8,
    bad_inputs: 450,
    parallel: 2,
    quick: true,
};

struct Args {
    /// Run only the section whose name starts with this (case-insensitive).
    only: Option<String>,
    demo: PathBuf,
    plan: Plan,
    seed: u64,
    out: PathBuf,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut demo = None;
    let mut plan = FULL;
    let mut seed = 42;
    let mut out = None;
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--demo" => demo = args.next().map(PathBuf::from),
            "--quick" => plan = QUICK,
            "--seed" => {
                seed = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .context("--seed needs a number")?;
            }
            "--out" => out = args.next().map(PathBuf::from),
            "--only" => only = args.next().map(|s| s.to_lowercase()),
            other => bail!("unknown argument `{other}`"),
        }
    }
    let demo = demo.context("--demo <path to the evenkeel-demo binary> is required")?;
    let out = out.unwrap_or_else(|| PathBuf::from("RELIABILITY.md"));
    Ok(Args {
        only,
        demo,
        plan,
        seed,
        out,
    })
}

/// `evenkeel-reliability e2e --demo <path> [--secs S] [--overload-secs N]`:
/// the end-to-end and memory figures for `cargo xtask bench`, as JSON.
async fn e2e_mode() -> anyhow::Result<()> {
    let mut demo = None;
    let mut secs = 5.0;
    let mut overload_secs = 30;
    let mut args = std::env::args().skip(2);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--demo" => demo = args.next().map(PathBuf::from),
            "--secs" => {
                secs = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .context("--secs S")?;
            }
            "--overload-secs" => {
                overload_secs = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .context("--overload-secs N")?;
            }
            other => bail!("unknown argument `{other}`"),
        }
    }
    let demo = demo.context("--demo <path> is required")?;
    e2e::run(&demo, secs, overload_secs).await
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("reliability: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> anyhow::Result<bool> {
    if std::env::args().nth(1).as_deref() == Some("e2e") {
        return e2e_mode().await.map(|()| true);
    }
    let args = parse_args()?;
    let bin = args.demo.as_path();
    let started = std::time::Instant::now();
    let mut results = Vec::new();
    let wanted = |name: &str| {
        args.only
            .as_ref()
            .is_none_or(|o| name.starts_with(o.as_str()))
    };
    if wanted("shutdown") {
        println!(
            "reliability: shutdown under load ({} runs)",
            args.plan.shutdown_runs
        );
        results.push(
            signals::shutdown(bin, args.plan.shutdown_runs, args.plan.parallel, args.seed).await,
        );
    }
    if wanted("crashes") {
        println!("reliability: crashes ({} runs)", args.plan.crash_runs);
        results
            .push(signals::crashes(bin, args.plan.crash_runs, args.plan.parallel, args.seed).await);
    }
    if wanted("faults") {
        println!("reliability: faults");
        results.push(sections::worker_panics(bin, args.seed).await);
        results.push(downstream::section(bin, args.plan.downstream_jobs).await);
    }
    if wanted("faults") || wanted("disk") {
        println!("reliability: data directory full or read-only");
        results.push(disk::section(bin).await);
    }
    if wanted("overload") {
        println!("reliability: overload ({} s)", args.plan.overload_secs);
        results.push(sections::overload(bin, args.plan.overload_secs).await);
    }
    if wanted("bad") {
        println!(
            "reliability: bad input ({} generated)",
            args.plan.bad_inputs
        );
        results.push(sections::bad_input(bin, args.seed, args.plan.bad_inputs).await);
    }
    if wanted("slow") {
        println!("reliability: slow clients");
        results.push(slow::section(bin, args.plan.slow_per_kind).await);
    }

    let markdown = report::render(
        &results,
        args.plan.quick,
        args.plan.parallel,
        args.seed,
        started.elapsed(),
    );
    std::fs::write(&args.out, &markdown)
        .with_context(|| format!("write {}", args.out.display()))?;
    let held = results.iter().all(sections::Section::held);
    for s in &results {
        let verdict = if s.held() { "held" } else { "FAILED" };
        println!(
            "  {verdict:<6} {}: {} runs, {} jobs, lost {}",
            s.name, s.runs, s.jobs, s.lost
        );
        for f in &s.failures {
            println!("         - {f}");
        }
        for f in &s.findings {
            println!("         - open finding: {f}");
        }
    }
    println!("reliability: wrote {}", args.out.display());
    Ok(held)
}
