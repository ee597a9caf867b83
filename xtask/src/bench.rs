//! `cargo xtask bench`: every performance claim measured beside its peer in
//! one run, gathered into `BENCHMARKS.md` and `benchmarks.svg`.
//!
//! # How a figure is made
//!
//! Each crate keeps its criterion benches in `benches/`, with our contender
//! and the peer crate's in the same group. This task runs those benches
//! (only the ids that the table below names) `runs` times in a row. After
//! each run it reads criterion's own results (`target/criterion/**/new/`:
//! `benchmark.json` for the id, `estimates.json` for the median time per
//! iteration) and takes, **within that run**, the ratio ours / peer. The
//! published figure is the median over the runs of each time and of each
//! ratio: a ratio is never formed from figures of different runs, because
//! this class of machine (a shared 2-core VM) drifts by up to 2x over
//! minutes.
//!
//! A row whose target is missed stays in the table, marked **missed**, with
//! the sentence its row carries on why; a row whose bench did not produce a
//! figure says so instead of disappearing.
//!
//! `--quick` (a few minutes on two cores) and the default (heavier, what the
//! published file should come from) differ only in criterion's warm-up and
//! measurement times and the number of runs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::{cargo, step};

/// One comparison in the table.
struct Row {
    /// What is measured, as a reader would say it.
    what: &'static str,
    /// The package and bench target that hold both contenders.
    package: &'static str,
    bench: &'static str,
    /// Criterion full ids (`group/function[/parameter]`).
    ours: &'static str,
    peer: &'static str,
    /// The peer, as a reader knows it.
    peer_name: &'static str,
    /// The highest acceptable ratio of our time per operation to the
    /// peer's; `None` where the row is informational.
    target: Option<f64>,
    /// Why the figure is what it is when the target is missed.
    why_missed: &'static str,
}

const ROWS: &[Row] = &[
    Row {
        what: "drain guard round trip",
        package: "evenkeel-shutdown",
        bench: "shutdown",
        ours: "guard_round_trip/evenkeel_guard/uncontended",
        peer: "guard_round_trip/task_tracker_token/uncontended",
        peer_name: "tokio-util TaskTracker token",
        target: Some(1.2),
        why_missed: "the same four locked instructions as the token (guard and drop are inlined, the refusal and drain completion are cold); a miss here is load on the shared machine",
    },
    Row {
        what: "drain guard round trip, 2 threads",
        package: "evenkeel-shutdown",
        bench: "shutdown",
        ours: "guard_round_trip/evenkeel_guard/2_threads",
        peer: "guard_round_trip/task_tracker_token/2_threads",
        peer_name: "tokio-util TaskTracker token",
        target: Some(1.5),
        why_missed: "both sides do the same four locked instructions (guard word and Arc count, up and down) and bounce one cache line between the cores, so what remains is that line and load on the shared machine",
    },
    Row {
        what: "trigger fan-out to 10k waiters, then drain",
        package: "evenkeel-shutdown",
        bench: "shutdown",
        ours: "trigger_10k/evenkeel_trigger_drain",
        peer: "trigger_10k/tokio_util_cancel_wait",
        peer_name: "CancellationToken + TaskTracker",
        target: Some(1.5),
        why_missed: "each waiter is woken through the scope's notify list; see the shutdown bench's notes",
    },
    Row {
        what: "child scope: create, trigger parent, child observes",
        package: "evenkeel-shutdown",
        bench: "shutdown",
        ours: "child_scope/evenkeel",
        peer: "child_scope/cancellation_token",
        peer_name: "CancellationToken::child_token",
        target: Some(1.5),
        why_missed: "a scope carries more than a token (guard word, phase, reason), and a child allocates it",
    },
    Row {
        what: "queue, 1 producer 1 consumer, trivial work",
        package: "evenkeel-backpressure",
        bench: "throughput",
        ours: "pool/work_0/evenkeel/1",
        peer: "pool/work_0/async_channel/1",
        peer_name: "async-channel",
        target: None,
        why_missed: "",
    },
    Row {
        what: "16-worker pool, trivial work",
        package: "evenkeel-backpressure",
        bench: "throughput",
        ours: "pool/work_0/evenkeel/16",
        peer: "pool/work_0/async_channel/16",
        peer_name: "async-channel",
        target: Some(1.1),
        why_missed: "at zero work every contender measures only its bookkeeping, and the slot count, wait stamps and stats are ours alone",
    },
    Row {
        what: "16-worker pool, ~0.3 µs work",
        package: "evenkeel-backpressure",
        bench: "throughput",
        ours: "pool/work_0.3us/evenkeel/16",
        peer: "pool/work_0.3us/async_channel/16",
        peer_name: "async-channel",
        target: Some(1.1),
        why_missed: "two time-stamp reads per item for the queue-wait statistics are most of the difference",
    },
    Row {
        what: "16-worker pool, ~3 µs work",
        package: "evenkeel-backpressure",
        bench: "throughput",
        ours: "pool/work_3us/evenkeel/16",
        peer: "pool/work_3us/async_channel/16",
        peer_name: "async-channel",
        target: Some(1.0),
        why_missed: "within noise: at 3 µs of work per item the queue is a small share of the time",
    },
    Row {
        what: "16-worker pool, trivial work",
        package: "evenkeel-backpressure",
        bench: "throughput",
        ours: "pool/work_0/evenkeel/16",
        peer: "pool/work_0/textbook/16",
        peer_name: "textbook Arc<Mutex<Receiver>> pool",
        target: Some(0.5),
        why_missed: "",
    },
    Row {
        what: "16-worker pool, ~3 µs work",
        package: "evenkeel-backpressure",
        bench: "throughput",
        ours: "pool/work_3us/evenkeel/16",
        peer: "pool/work_3us/textbook/16",
        peer_name: "textbook Arc<Mutex<Receiver>> pool",
        target: Some(0.5),
        why_missed: "",
    },
    Row {
        what: "retry layer, first attempt succeeds",
        package: "evenkeel-middleware",
        bench: "overhead",
        ours: "per_call_ready/retry",
        peer: "per_call_ready/tower_retry",
        peer_name: "tower's retry",
        target: Some(2.0),
        why_missed: "a layer that can retry carries its schedule and settings into every request's future (an 80-byte copy and its drop check), while tower's retry here carries a zero-sized policy and compiles to almost nothing: 2x of a 0.3 ns peer is below one cache-line copy",
    },
    Row {
        what: "retry runner, first attempt succeeds",
        package: "evenkeel-retry",
        bench: "overhead",
        ours: "first_attempt_success/evenkeel",
        peer: "first_attempt_success/backon",
        peer_name: "backon",
        target: Some(1.0),
        why_missed: "the runner builds its schedule in place and allocates nothing before the first failure; a miss here is noise on the shared machine",
    },
    Row {
        what: "ten zero-delay retries",
        package: "evenkeel-retry",
        bench: "overhead",
        ours: "ten_zero_delay_retries/evenkeel",
        peer: "ten_zero_delay_retries/backon",
        peer_name: "backon (tokio sleeper)",
        target: Some(1.0),
        why_missed: "",
    },
    Row {
        what: "rate-limit check, unlimited quota",
        package: "evenkeel-middleware",
        bench: "overhead",
        ours: "rate_limit_check/evenkeel_admit",
        peer: "rate_limit_check/governor_admit",
        peer_name: "governor",
        target: Some(1.0),
        why_missed: "the check reads the clock and runs the GCRA compare-and-swap even when the quota cannot run out",
    },
    Row {
        what: "rate-limit rejection with its retry-after",
        package: "evenkeel-middleware",
        bench: "overhead",
        ours: "rate_limit_check/evenkeel_reject",
        peer: "rate_limit_check/governor_reject_with_retry_after",
        peer_name: "governor",
        target: None,
        why_missed: "",
    },
    Row {
        what: "server preset (rate limit + timeout + bulkhead + drain), ready response",
        package: "evenkeel-middleware",
        bench: "overhead",
        ours: "per_call_ready/preset_server",
        peer: "per_call_ready/tower_timeout_loadshed_concurrency",
        peer_name: "tower load-shed + concurrency-limit + timeout",
        target: Some(1.5),
        why_missed: "beyond tower's three jobs the preset pays the rate limiter's compare-and-swap and the drain guard's counter and Arc (perf); its fastest samples sit at 1.40-1.43x, so a median above 1.5x is that work plus load on the shared machine",
    },
    Row {
        what: "server preset, pending response (timers armed)",
        package: "evenkeel-middleware",
        bench: "overhead",
        ours: "per_call_pending/preset_server",
        peer: "per_call_pending/tower_timeout_loadshed_concurrency",
        peer_name: "tower load-shed + concurrency-limit + timeout",
        target: Some(1.5),
        why_missed: "the timer wheel (arming and cancelling the Sleep) dominates both stacks equally; the rest is the same rate-limit and drain work, and load on the shared machine (fastest samples 1.37x)",
    },
    Row {
        what: "TaskGroup spawn + join, 1,000 tasks",
        package: "evenkeel-tasks",
        bench: "group",
        ours: "spawn_join/task_group",
        peer: "spawn_join/joinset",
        peer_name: "tokio JoinSet",
        target: Some(1.3),
        why_missed: "a group names every task and keeps its stats; on two cores the figure also swings with the scheduler",
    },
    Row {
        what: "limited TaskGroup (8 at a time), 1,000 tasks",
        package: "evenkeel-tasks",
        bench: "group",
        ours: "limited/task_group_limit",
        peer: "limited/joinset_semaphore",
        peer_name: "JoinSet + Semaphore",
        target: Some(1.3),
        why_missed: "queued tasks wait inside the group for a slot, in order, which a semaphore acquire inside each task does not promise",
    },
    Row {
        what: "job store enqueue, 16 clients: group commit",
        package: "evenkeel-demo",
        bench: "store",
        ours: "enqueue/redb-group/16",
        peer: "enqueue/redb-naive/16",
        peer_name: "the same store, one commit per job",
        target: Some(0.2),
        why_missed: "the ratio follows this shared disk's flush time more than the code: the naive side pays one fdatasync per job, whose cost here swings from 0.2 to 12 ms (p50 to p99), so runs of the same binary gave 1.3x, 4.6-5.0x and 10.5x",
    },
    Row {
        what: "job store claim + ack, 16 workers: group commit",
        package: "evenkeel-demo",
        bench: "store",
        ours: "claim_ack/redb-group/16",
        peer: "claim_ack/redb-naive/16",
        peer_name: "the same store, one commit per job",
        target: None,
        why_missed: "",
    },
];

/// How hard to measure.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    runs: usize,
    warm_up: &'static str,
    measurement: &'static str,
    quick: bool,
    /// Seconds each end-to-end contender is loaded per run.
    e2e_secs: &'static str,
    /// Seconds of sustained overload for the memory figure (once).
    overload_secs: &'static str,
}

impl Settings {
    pub(crate) fn parse(args: &[String]) -> Result<Self, String> {
        let mut settings = Settings {
            runs: 5,
            warm_up: "1",
            measurement: "3",
            quick: false,
            e2e_secs: "10",
            overload_secs: "30",
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => {
                    settings = Settings {
                        runs: 3,
                        warm_up: "0.5",
                        measurement: "1",
                        quick: true,
                        e2e_secs: "3",
                        overload_secs: "30",
                    };
                }
                "--runs" => {
                    let n = args
                        .next()
                        .and_then(|n| n.parse::<usize>().ok())
                        .filter(|n| *n > 0)
                        .ok_or("bench: --runs needs a positive number")?;
                    settings.runs = n;
                }
                other => return Err(format!("bench: unknown argument `{other}`")),
            }
        }
        Ok(settings)
    }
}

/// Median time per iteration in nanoseconds, by criterion full id.
type RunFigures = BTreeMap<String, f64>;

pub(crate) fn run(root: &Path, settings: Settings) -> Result<(), String> {
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let criterion_dir = target_dir.join("criterion");
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "--package",
        "evenkeel-demo",
        "--package",
        "evenkeel-reliability",
    ]);
    step(
        root,
        "build the server and the load driver (release)",
        build,
    )?;
    let release = target_dir.join("release");
    let mut runs: Vec<RunFigures> = Vec::with_capacity(settings.runs);
    let mut e2e_runs: Vec<Vec<serde_json::Value>> = vec![Vec::new(); E2E_CONNECTIONS.len()];
    for n in 1..=settings.runs {
        println!("\n### bench run {n} of {}", settings.runs);
        // Fresh results only: a bench that failed must not leave last run's
        // figure behind to be read as this run's.
        let _ = fs::remove_dir_all(&criterion_dir);
        for (package, bench, filter) in invocations() {
            let mut cmd = cargo();
            cmd.args(["bench", "--package", package, "--bench", bench, "--"]);
            cmd.args(["--warm-up-time", settings.warm_up]);
            cmd.args(["--measurement-time", settings.measurement]);
            cmd.arg(&filter);
            step(root, &format!("bench {package} {bench}"), cmd)?;
        }
        runs.push(read_figures(&criterion_dir)?);
        for (i, connections) in E2E_CONNECTIONS.into_iter().enumerate() {
            println!("\n==> end to end: POST /jobs, demo vs bare axum, {connections} connections");
            e2e_runs[i].push(e2e(&release, settings.e2e_secs, "0", Some(connections))?);
        }
    }
    println!(
        "\n==> memory under {} s of sustained overload",
        settings.overload_secs
    );
    let memory = e2e(&release, "1", settings.overload_secs, None)?;
    let mut report = render(&runs, settings);
    report
        .markdown
        .push_str(&render_e2e(&e2e_runs, &memory, settings));
    fs::write(root.join("BENCHMARKS.md"), report.markdown)
        .map_err(|e| format!("cannot write BENCHMARKS.md: {e}"))?;
    fs::write(root.join("benchmarks.svg"), report.svg)
        .map_err(|e| format!("cannot write benchmarks.svg: {e}"))?;
    println!("\n{}", report.summary);
    println!("bench: wrote BENCHMARKS.md and benchmarks.svg");
    Ok(())
}

/// Runs the end-to-end driver once and returns its JSON.
fn e2e(
    release: &Path,
    secs: &str,
    overload_secs: &str,
    connections: Option<u32>,
) -> Result<serde_json::Value, String> {
    let mut driver = std::process::Command::new(release.join("evenkeel-reliability"));
    if let Some(n) = connections {
        driver.env("EVENKEEL_E2E_CONNECTIONS", n.to_string());
    }
    let output = driver
        .args(["e2e", "--demo"])
        .arg(release.join("evenkeel-demo"))
        .args(["--secs", secs, "--overload-secs", overload_secs])
        .output()
        .map_err(|e| format!("end-to-end driver: could not start: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "end-to-end driver failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().unwrap_or_default();
    println!("{line}");
    serde_json::from_str(line).map_err(|e| format!("end-to-end driver: unreadable output: {e}"))
}

/// The end-to-end tables (median of the per-run ratios), one per load
/// driver, and the memory figures.
fn render_e2e(
    runs_by_connections: &[Vec<serde_json::Value>],
    memory: &serde_json::Value,
    settings: Settings,
) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "\n## End to end: `POST /jobs`\n\n\
         Keep-alive connections post jobs for {} s to the demo server (release build, its whole \
         middleware stack, admission, the embedded job store with group commit) and, in the same \
         run, to a bare axum handler that parses the same JSON and answers 202 (both processes use \
         the same allocator, mimalloc). Figures are accepted jobs per second, median over the runs; \
         the ratio is taken within each run. Every 202 from the demo waits for its batch's fsync, so \
         at 32 connections at most 32 jobs share one commit; at 256 connections batches grow. \
         Both are shown; the target is the same for each. Beside the demo as it ships, the same \
         run measures it with `--store memory`: the same stack with no durability at all, as the \
         reference for what the store costs (no target of its own). Each demo run starts a fresh \
         server on a fresh data directory. \"Jobs left waiting\" is the demo's queue depth when the \
         load stopped: near zero means its workers ran the jobs as fast as they came in; a large \
         number means part of the intake rate was bought by leaving the jobs for later.",
        settings.e2e_secs,
    );
    let mut missed = Vec::new();
    for driver in [Driver::Own, Driver::Wrk] {
        let _ = writeln!(md, "\n{}\n", driver.heading());
        if let Driver::Wrk = driver
            && let Some(why) = wrk_skipped(runs_by_connections)
        {
            let _ = writeln!(md, "Not measured: {why}.");
            continue;
        }
        let _ = writeln!(
            md,
            "| connections | server | jobs/s | bare axum jobs/s | server / bare | target | met? | 202 p50 / p99 / max | bare p99 | jobs left waiting |\n\
             |---|---|---|---|---|---|---|---|---|---|"
        );
        for (connections, runs) in E2E_CONNECTIONS.into_iter().zip(runs_by_connections) {
            for server in [Server::Durable, Server::Memory] {
                if let Some(row) = e2e_row(connections, runs, driver, server) {
                    if row.met == Some(false) {
                        missed.push(format!("{connections} connections ({})", driver.name()));
                    }
                    let _ = writeln!(md, "{}", row.line);
                } else {
                    let _ = writeln!(
                        md,
                        "| {connections} | {} | not measured: the driver produced no figures | | | | | | | |",
                        server.label()
                    );
                }
            }
        }
    }
    if !missed.is_empty() {
        let memory_ratio = |driver| {
            let runs = runs_by_connections.first()?;
            e2e_row(E2E_CONNECTIONS[0], runs, driver, Server::Memory).map(|r| r.ratio)
        };
        let reference = match (memory_ratio(Driver::Own), memory_ratio(Driver::Wrk)) {
            (Some(own), Some(wrk)) => format!(
                "the demo with no durability at all reached {own:.2}x in this run ({wrk:.2}x \
                 under wrk)"
            ),
            (Some(own), None) => {
                format!("the demo with no durability at all reached {own:.2}x in this run")
            }
            _ => "the demo with no durability at all was not measured in this run".to_owned(),
        };
        let _ = writeln!(
            md,
            "\nMissed at {}. At 32 connections each connection waits for its answer before it \
             sends again, so the ratio is the ratio of per-request latencies: 0.5x means the demo \
             must answer in about 0.8 ms, and {reference}: its middleware, access log, metrics \
             and job workers on the same two cores already take about that. Durability adds \
             about 0.5 ms to each request: ~150 µs until the writer, busy in the previous \
             batch's `fdatasync`, takes the command; ~200 µs until its own `fdatasync` (100 µs \
             on this VM idle, 130-180 µs under load) covers it; ~120 µs until a runtime thread \
             runs the request again. The server uses about 1.1 of the two cores and ~35-40 µs of \
             CPU per accepted job (~28 µs without durability; the bare handler ~9 µs). At 256 \
             connections the two cores saturate and CPU per job rules. The checkpoint into redb \
             commits on a thread of its own; every job is three store commands (enqueue, claim, \
             ack), and the run's backlog waits in the store for the workers, which catch up \
             after the load.",
            missed.join(", ")
        );
    }
    md.push_str(&render_memory(memory, settings));
    md
}

/// The connection counts the end-to-end comparison runs at.
const E2E_CONNECTIONS: [u32; 2] = [32, 256];

/// Who loaded the servers in an end-to-end run.
#[derive(Debug, Clone, Copy)]
enum Driver {
    /// The reliability binary's own driver (hyper clients, in the process
    /// that also serves the bare handler).
    Own,
    /// `wrk`, a process of its own (under `"wrk"` in the run's JSON).
    Wrk,
}

impl Driver {
    fn name(self) -> &'static str {
        match self {
            Driver::Own => "own driver",
            Driver::Wrk => "wrk",
        }
    }

    fn heading(self) -> &'static str {
        match self {
            Driver::Own => {
                "### Loaded by the driver's own clients\n\n\
                 hyper clients, one task per connection, in the process that also serves the bare \
                 handler."
            }
            Driver::Wrk => {
                "### Loaded by wrk\n\n\
                 The same three servers loaded by `wrk` (one thread, the same connections, \
                 Debian's package `wrk`) from a process of its own: a second, independent driver, \
                 to tell a figure of the servers from one of the driver. wrk's latencies cover \
                 every answer."
            }
        }
    }

    /// The run's figures for this driver.
    fn figures(self, run: &serde_json::Value) -> Option<&serde_json::Value> {
        match self {
            Driver::Own => Some(run),
            Driver::Wrk => run.get("wrk"),
        }
    }
}

/// Which demo a row is about.
#[derive(Debug, Clone, Copy)]
enum Server {
    /// As it ships: the embedded durable store. The target applies.
    Durable,
    /// `--store memory`: the reference, no target.
    Memory,
}

impl Server {
    fn key(self) -> &'static str {
        match self {
            Server::Durable => "demo",
            Server::Memory => "demo_memory",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Server::Durable => "demo (embedded store)",
            Server::Memory => "demo, `--store memory` (reference)",
        }
    }
}

/// Why no run has wrk figures (the reason the first run gave), or `None`
/// if some run has them.
fn wrk_skipped(runs_by_connections: &[Vec<serde_json::Value>]) -> Option<String> {
    let mut runs = runs_by_connections.iter().flatten();
    if runs
        .clone()
        .any(|r| r.get("wrk").is_some_and(|w| w.get("demo").is_some()))
    {
        return None;
    }
    Some(
        runs.find_map(|r| r.get("wrk")?.get("skipped")?.as_str())
            .unwrap_or("the driver reported no wrk figures")
            .to_owned(),
    )
}

/// One row of an end-to-end table.
struct E2eRow {
    line: String,
    ratio: f64,
    /// Whether the target was met; `None` for a row without one.
    met: Option<bool>,
}

/// One row of the end-to-end table: `server` under `driver` against the
/// bare handler under the same driver, median of the within-run ratios.
fn e2e_row(
    connections: u32,
    runs: &[serde_json::Value],
    driver: Driver,
    server: Server,
) -> Option<E2eRow> {
    let num = |v: &serde_json::Value, path: &[&str]| {
        path.iter()
            .try_fold(v, |v, k| v.get(k))
            .and_then(serde_json::Value::as_f64)
    };
    let mut ours = Vec::new();
    let mut peer = Vec::new();
    let mut ratios = Vec::new();
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    let mut max = Vec::new();
    let mut peer_p99 = Vec::new();
    let mut backlog = Vec::new();
    let key = server.key();
    for run in runs.iter().filter_map(|r| driver.figures(r)) {
        if let (Some(o), Some(p)) = (
            num(run, &[key, "accepted_per_sec"]),
            num(run, &["bare_axum", "accepted_per_sec"]),
        ) && p > 0.0
        {
            ours.push(o);
            peer.push(p);
            ratios.push(o / p);
        }
        p50.extend(num(run, &[key, "p50_ms"]));
        p99.extend(num(run, &[key, "p99_ms"]));
        max.extend(num(run, &[key, "max_ms"]));
        peer_p99.extend(num(run, &["bare_axum", "p99_ms"]));
        backlog.extend(num(run, &[key, "backlog_after"]));
    }
    let (o, p, r) = (median(&mut ours)?, median(&mut peer)?, median(&mut ratios)?);
    let backlog = median(&mut backlog).map_or_else(|| "–".to_owned(), |b| format!("{b:.0}"));
    let met = match server {
        Server::Durable => Some(r >= 0.5),
        Server::Memory => None,
    };
    let (target, verdict) = match met {
        Some(true) => ("≥ 0.50x", "met"),
        Some(false) => ("≥ 0.50x", "**missed**"),
        None => ("–", "no target"),
    };
    Some(E2eRow {
        line: format!(
            "| {connections} | {} | {o:.0} | {p:.0} | {r:.2}x | {target} | {verdict} | {:.2} / {:.2} / {:.1} ms | {:.2} ms | {backlog} |",
            server.label(),
            median(&mut p50).unwrap_or(f64::NAN),
            median(&mut p99).unwrap_or(f64::NAN),
            median(&mut max).unwrap_or(f64::NAN),
            median(&mut peer_p99).unwrap_or(f64::NAN),
        ),
        ratio: r,
        met,
    })
}

/// The memory section.
fn render_memory(memory: &serde_json::Value, settings: Settings) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "\n## Memory under sustained overload\n\n\
         The server with 2 workers (about 100 jobs/s) and its default queue bound faces 64 \
         clients posting as fast as they are answered for {} s (far over 10x what it can \
         finish). RSS is read from /proc every 200 ms.\n\n\
         - RSS at rest / peak under overload / after: {}\n\
         - answers by status: {}\n\
         - flat (second half of the run no higher than the first half + 25 % + 4 MiB): {}\n",
        settings.overload_secs,
        memory["overload"]["rss"].as_str().unwrap_or("not measured"),
        memory["overload"]["statuses"]
            .as_str()
            .unwrap_or("not measured"),
        if memory["overload"]["held"].as_bool() == Some(true) {
            "yes".to_owned()
        } else {
            format!("**no**: {}", memory["overload"]["failures"])
        }
    );
    md
}

/// One `cargo bench` per (package, bench), filtered to the ids the rows use.
fn invocations() -> Vec<(&'static str, &'static str, String)> {
    let mut by_target: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for row in ROWS {
        let ids = by_target.entry((row.package, row.bench)).or_default();
        for id in [row.ours, row.peer] {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    by_target
        .into_iter()
        .map(|((package, bench), ids)| {
            let alternatives: Vec<String> = ids.iter().map(|id| regex_escape(id)).collect();
            (package, bench, format!("^({})$", alternatives.join("|")))
        })
        .collect()
}

fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Reads every `new/benchmark.json` + `new/estimates.json` pair under
/// criterion's output directory.
fn read_figures(dir: &Path) -> Result<RunFigures, String> {
    let mut figures = RunFigures::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "new") {
                if let Some((id, median)) = read_one(&path) {
                    figures.insert(id, median);
                }
            } else {
                stack.push(path);
            }
        }
    }
    if figures.is_empty() {
        return Err(format!("no criterion results under {}", dir.display()));
    }
    Ok(figures)
}

fn read_one(new_dir: &Path) -> Option<(String, f64)> {
    let json = |name: &str| -> Option<serde_json::Value> {
        let text = fs::read_to_string(new_dir.join(name)).ok()?;
        serde_json::from_str(&text).ok()
    };
    let id = json("benchmark.json")?["full_id"].as_str()?.to_owned();
    let median = json("estimates.json")?["median"]["point_estimate"].as_f64()?;
    Some((id, median))
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        f64::midpoint(values[mid - 1], values[mid])
    })
}

/// A row's figures over all runs.
struct Measured {
    ours: f64,
    peer: f64,
    ratio: f64,
    runs: usize,
}

fn measure(row: &Row, runs: &[RunFigures]) -> Option<Measured> {
    let mut ours = Vec::new();
    let mut peer = Vec::new();
    let mut ratios = Vec::new();
    for run in runs {
        if let (Some(o), Some(p)) = (run.get(row.ours), run.get(row.peer))
            && *p > 0.0
        {
            ours.push(*o);
            peer.push(*p);
            ratios.push(o / p);
        }
    }
    let n = ratios.len();
    Some(Measured {
        ours: median(&mut ours)?,
        peer: median(&mut peer)?,
        ratio: median(&mut ratios)?,
        runs: n,
    })
}

fn human(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

struct Report {
    markdown: String,
    svg: String,
    summary: String,
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cores} cores, {model}")
}

fn today() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown date".to_owned(), |d| d.trim().to_owned())
}

fn render(runs: &[RunFigures], settings: Settings) -> Report {
    let mut md = String::new();
    let mode = if settings.quick { " --quick" } else { "" };
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Generated by `cargo xtask bench{mode}`; do not edit by hand.\n\n\
         - Machine: {}\n- Date: {}\n- Runs: {} (criterion warm-up {} s, measurement {} s per bench); \
         each figure is the median over the runs of criterion's median time per operation, \
         and each ratio is the median of the ratios taken **within** each run, never across runs.\n\
         - Ratio = our time per operation / the peer's (below 1 is faster than the peer). \
         A target is the highest acceptable ratio.\n\
         - This is a shared 2-core VM whose speed drifts over minutes; single figures move by \
         tens of percent between runs, ratios much less.\n",
        machine(),
        today(),
        runs.len(),
        settings.warm_up,
        settings.measurement,
    );
    let _ = writeln!(md, "![ratios to the peer](benchmarks.svg)\n");
    let _ = writeln!(
        md,
        "| what | peer | ours | peer's | ratio | target | met? | runs |\n|---|---|---|---|---|---|---|---|"
    );
    let mut chart = Vec::new();
    let mut missed = Vec::new();
    let mut summary = String::new();
    for row in ROWS {
        let Some(m) = measure(row, runs) else {
            let _ = writeln!(
                md,
                "| {} | {} | no figure | no figure | – | {} | **not measured**: the bench produced no result for `{}` or `{}` | 0 |",
                row.what,
                row.peer_name,
                row.target.map_or("–".to_owned(), |t| format!("≤ {t:.2}x")),
                row.ours,
                row.peer
            );
            let _ = writeln!(summary, "NOT MEASURED  {}", row.what);
            continue;
        };
        let (target, met) = match row.target {
            None => ("–".to_owned(), "no target".to_owned()),
            Some(t) if m.ratio <= t => (format!("≤ {t:.2}x"), "met".to_owned()),
            Some(t) => {
                missed.push((row.what, row.peer_name, row.why_missed));
                (format!("≤ {t:.2}x"), "**missed**".to_owned())
            }
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.2}x | {} | {} | {} |",
            row.what,
            row.peer_name,
            human(m.ours),
            human(m.peer),
            m.ratio,
            target,
            met,
            m.runs
        );
        let _ = writeln!(
            summary,
            "{:<10} {:.2}x  {} vs {}",
            met.trim_matches('*'),
            m.ratio,
            row.what,
            row.peer_name
        );
        chart.push((
            format!("{} vs {}", row.what, row.peer_name),
            m.ratio,
            row.target,
        ));
    }
    if !missed.is_empty() {
        let _ = writeln!(md, "\n## Missed targets, and why\n");
        for (what, peer, why) in missed {
            let _ = writeln!(md, "- **{what}** (vs {peer}): {why}.");
        }
    }
    let _ = writeln!(
        md,
        "\n## Where the figures come from\n\n\
         Each row names two criterion benchmarks in the same bench target, run in the same process \
         one after the other. The bench files (`crates/*/benches/`) say in their doc comments what \
         each contender does and what profiling found. Run one by hand with \
         `cargo bench -p <crate> --bench <bench> -- <filter>`."
    );
    Report {
        markdown: md,
        svg: svg(&chart),
        summary,
    }
}

/// A horizontal bar chart of the ratios on a log scale, 1x marked, each
/// bar's target drawn as a tick.
fn svg(rows: &[(String, f64, Option<f64>)]) -> String {
    const LABEL_W: f64 = 470.0;
    const PLOT_W: f64 = 380.0;
    const BAR_H: f64 = 18.0;
    const GAP: f64 = 6.0;
    const TOP: f64 = 40.0;
    // Log scale from 1/8x to 8x.
    let x = |ratio: f64| {
        let r = ratio.clamp(0.125, 8.0);
        LABEL_W + (r.log2() + 3.0) / 6.0 * PLOT_W
    };
    let height = TOP + rows.len() as f64 * (BAR_H + GAP) + 30.0;
    let width = LABEL_W + PLOT_W + 70.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="14" font-weight="bold">evenkeel time per operation / peer's (log scale; left of 1x is faster; | = target)</text>"#
    );
    for tick in [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0] {
        let tx = x(tick);
        let stroke = if (tick - 1.0_f64).abs() < f64::EPSILON {
            "#333"
        } else {
            "#ddd"
        };
        let _ = writeln!(
            s,
            r##"<line x1="{tx:.1}" y1="{TOP}" x2="{tx:.1}" y2="{:.1}" stroke="{stroke}"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{tick}x</text>"##,
            height - 25.0,
            height - 10.0
        );
    }
    for (i, (label, ratio, target)) in rows.iter().enumerate() {
        let y = TOP + i as f64 * (BAR_H + GAP);
        let met = target.is_none_or(|t| *ratio <= t);
        let color = if met { "#3a7d44" } else { "#c0392b" };
        let (x0, x1) = (x(1.0).min(x(*ratio)), x(1.0).max(x(*ratio)));
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{BAR_H}" fill="{color}"/><text x="{:.1}" y="{:.1}">{ratio:.2}x</text>"#,
            LABEL_W - 8.0,
            y + BAR_H - 5.0,
            xml_escape(label),
            (x1 - x0).max(1.0),
            x1 + 4.0,
            y + BAR_H - 5.0
        );
        if let Some(t) = target {
            let tx = x(*t);
            let _ = writeln!(
                s,
                r##"<line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#000" stroke-width="2"/>"##,
                y - 2.0,
                y + BAR_H + 2.0
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins that a ratio is taken within each run: a peer figure from a
    /// slow run is never divided into ours from a fast run.
    #[test]
    fn ratios_are_taken_within_a_run() {
        let row = &ROWS[0];
        let run = |ours: f64, peer: f64| {
            RunFigures::from([(row.ours.to_owned(), ours), (row.peer.to_owned(), peer)])
        };
        // Run 1 is twice as slow for both contenders as run 2 and 3.
        let runs = [run(20.0, 20.0), run(10.0, 10.0), run(10.0, 10.0)];
        let m = measure(row, &runs).expect("figures");
        assert!((m.ratio - 1.0).abs() < 1e-9);
        assert_eq!(m.runs, 3);
    }

    /// Pins that a row with no result is reported, not dropped.
    #[test]
    fn missing_figures_are_reported() {
        let runs = [RunFigures::new()];
        let report = render(&runs, Settings::parse(&["--quick".to_owned()]).unwrap());
        assert!(report.markdown.contains("**not measured**"));
        assert!(report.summary.contains("NOT MEASURED"));
    }

    /// Pins that a missed target is marked missed with its reason.
    #[test]
    fn missed_target_is_marked_with_why() {
        let row = ROWS.iter().find(|r| r.target.is_some()).unwrap();
        let runs = [RunFigures::from([
            (row.ours.to_owned(), 100.0),
            (row.peer.to_owned(), 10.0),
        ])];
        let report = render(&runs, Settings::parse(&[]).unwrap());
        assert!(report.markdown.contains("**missed**"));
        assert!(report.markdown.contains(row.why_missed));
        assert!(report.svg.contains("#c0392b"));
    }

    /// Pins that each connection count gets its own row, judged on its
    /// own within-run ratios, and that a miss is said with its reason.
    #[test]
    fn end_to_end_rows_per_connection_count() {
        let figures = |n: f64| {
            serde_json::json!({"accepted_per_sec": n, "p50_ms": 1.0, "p99_ms": 2.0,
                "max_ms": 30.0, "backlog_after": n * 10.0})
        };
        let run = |demo: f64, memory: f64, bare: f64| {
            serde_json::json!({"demo": figures(demo), "demo_memory": figures(memory),
                "bare_axum": figures(bare),
                "wrk": {"demo": figures(demo / 2.0), "demo_memory": figures(memory),
                    "bare_axum": figures(bare)}})
        };
        let by_connections = vec![
            vec![run(10.0, 18.0, 40.0), run(12.0, 22.0, 40.0)],
            vec![run(30.0, 40.0, 50.0), run(25.0, 40.0, 50.0)],
        ];
        let md = render_e2e(
            &by_connections,
            &serde_json::json!({}),
            Settings::parse(&[]).unwrap(),
        );
        let (own, wrk) = md.split_once("### Loaded by wrk").unwrap();
        let row = |table: &str, n: u32, server: Server| {
            table
                .lines()
                .find(|l| l.starts_with(&format!("| {n} | {} |", server.label())))
                .unwrap()
                .to_owned()
        };
        let durable = row(own, 32, Server::Durable);
        assert!(durable.contains("| 0.28x |") && durable.contains("**missed**"));
        assert!(durable.contains("| 1.00 / 2.00 / 30.0 ms |"), "{durable}");
        // Backlogs 100 and 120: their median.
        assert!(durable.ends_with("| 110 |"), "{durable}");
        let durable = row(own, 256, Server::Durable);
        assert!(durable.contains("| 0.55x |") && durable.contains("| met |"));
        // The reference row has no target, whatever its ratio.
        let memory = row(own, 32, Server::Memory);
        assert!(memory.contains("| 0.50x |") && memory.contains("| no target |"));
        // wrk's figures are judged on wrk's own ratios.
        assert!(row(wrk, 256, Server::Durable).contains("| 0.28x |"));
        assert!(md.contains(
            "Missed at 32 connections (own driver), 32 connections (wrk), 256 connections (wrk)."
        ));
        assert!(md.contains("reached 0.50x in this run (0.50x under wrk)"));
    }

    /// Pins that a run without wrk says why, once, instead of a table.
    #[test]
    fn end_to_end_without_wrk_says_why() {
        let run = serde_json::json!({
            "demo": {"accepted_per_sec": 30.0}, "demo_memory": {"accepted_per_sec": 40.0},
            "bare_axum": {"accepted_per_sec": 50.0},
            "wrk": {"skipped": "wrk is not installed"}});
        let md = render_e2e(
            &[vec![run.clone()], vec![run]],
            &serde_json::json!({}),
            Settings::parse(&[]).unwrap(),
        );
        let (_, wrk) = md.split_once("### Loaded by wrk").unwrap();
        assert!(wrk.contains("Not measured: wrk is not installed."));
        assert!(!wrk.contains("| connections |"));
    }

    /// Pins that the filter handed to criterion matches the ids literally.
    #[test]
    fn filter_escapes_ids() {
        assert_eq!(regex_escape("pool/work_0.3us/x"), "pool/work_0\\.3us/x");
        let all = invocations();
        assert!(
            all.iter()
                .all(|(_, _, f)| f.starts_with("^(") && f.ends_with(")$"))
        );
    }
}
