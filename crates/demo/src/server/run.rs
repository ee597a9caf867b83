//! The life of one server process, from the spill file it loads to the
//! accounting record it prints last.
//!
//! # Start
//!
//! 1. Install the signal listener first (SIGINT and SIGTERM trigger the
//!    shutdown; a second one forces it), so that a signal that arrives
//!    during start-up is not the default "die now".
//! 2. Load the spill file and put its jobs in the priority backlog, each
//!    under its old id and holding a drain guard like any accepted job.
//! 3. Start the supervised workers, bind, print `listening on <addr>` on
//!    stdout (with the actual port when `--addr` asked for port 0), serve
//!    (`serve`: the accept loop with its connection limits).
//!
//! # Stop
//!
//! | phase (`evenkeel_drain_phase`) | what happens |
//! |---|---|
//! | 1 pre-drain | first signal: `/readyz` answers 503; intake stays open for `--pre-drain-delay` |
//! | 2 draining | drain guards are refused and the queue is closed: `POST /jobs` answers 503; workers finish what is queued and running |
//! | 3 spilling | at `--drain-timeout` after the signal (or at once on a second signal) workers are stopped and every job still live is written to the spill file |
//! | 4 stopped | the final accounting record is printed; the process exits |
//!
//! The drain itself is [`evenkeel_shutdown::Shutdown::drain`]: every
//! accepted job holds a drain guard until it is finished, so "the drain is
//! complete" means "every accepted job is finished".
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | the drain completed: every accepted job succeeded or died, nothing spilled |
//! | 124 | the drain deadline cut the drain short; the rest is in the spill file ([`Reason::EXIT_DEADLINE_EXCEEDED`]) |
//! | 137 | a second signal cut the drain short; the rest is in the spill file ([`Reason::EXIT_FORCED`]) |
//! | 1 | start-up failed (unreadable spill file, address in use); the worker supervisor gave up (restart intensity exceeded), which triggers the shutdown itself; or the spill file could not be written (the jobs are then printed on stderr as JSON lines, the last place left to put them) |
//! | 2 | a flag value clap refused (usage error) |
//!
//! # The final accounting record
//!
//! One line on stdout, just before exit. With `--log-format json`:
//!
//! ```json
//! {"message":"final accounting","accepted":120,"restored":0,"succeeded":97,"dead":3,"spilled":20,"lost":0,"retries":41,"drain":"timed_out","drain_ms":2001,"exit_code":124}
//! ```
//!
//! `accepted` counts every job this process was responsible for (202
//! answers plus `restored` jobs loaded from the spill file), and
//! `accepted == succeeded + dead + spilled`, i.e. `lost == 0`, always.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use evenkeel_shutdown::{DrainReport, Phase as ShutdownPhase, Reason, Shutdown};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::api::{self, AppState};
use super::config::{LogFormat, ServeArgs};
use super::downstream_client::DownstreamClient;
use super::execute::{self, Backlog, JobContext, RetryPolicy};
use super::intake::{self, Intake, Ticket};
use super::job::Limits;
use super::metrics::{Metrics, Phase, QueueSnapshot};
use super::readiness::Readiness;
use super::report;
use super::retry_hint::RetryHint;
use super::serve::{self, ConnLimits};
use super::spill;
use super::stack;
use super::store::JobStore;
use super::supervise;

/// How the drain ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DrainOutcome {
    /// Every accepted job finished before the deadline.
    Complete,
    /// The deadline passed first.
    TimedOut,
    /// A second signal arrived first.
    Forced,
}

/// Everything built at start-up that the shutdown sequence needs.
struct Parts {
    store: JobStore,
    intake: Intake,
    metrics: Arc<Metrics>,
    workers: supervise::Workers,
    app: axum::Router,
}

/// Runs `evenkeel-demo serve` until it has drained (or spilled) and returns
/// the process exit code (see the module docs for the table).
///
/// # Errors
///
/// Start-up failures: an unusable flag value, an unreadable spill file, an
/// address that cannot be bound.
pub async fn serve(args: ServeArgs) -> anyhow::Result<i32> {
    init_tracing(args.log_format);
    execute::install_panic_hook();

    let shutdown = Shutdown::builder()
        .pre_drain_delay(args.pre_drain_delay)
        .build();
    let _signals = shutdown
        .listen_for_signals()
        .context("installing the signal handlers")?;
    let Parts {
        store,
        intake,
        metrics,
        workers,
        app,
    } = build(&args, &shutdown)?;

    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("binding {}", args.addr))?;
    let local = listener.local_addr().context("reading the bound address")?;
    say(&format!("listening on {local}"));
    tracing::info!(addr = %local, workers = args.workers, capacity = args.queue_capacity, "serving");

    let http_stop = CancellationToken::new();
    let http = tokio::spawn(serve::run(
        listener,
        app,
        ConnLimits {
            header_read_timeout: args.header_read_timeout,
            keep_alive_timeout: args.keep_alive_timeout,
            max_connections: args.max_connections as usize,
        },
        http_stop.clone(),
        Arc::clone(&metrics),
    ));
    tokio::spawn(follow_phases(
        shutdown.clone(),
        Arc::clone(&metrics),
        intake.clone(),
    ));

    // Serve until the first signal, then drain.
    let reason = shutdown.triggered().await;
    let started = Instant::now();
    tracing::info!(%reason, "shutdown: readiness is false; draining");
    let outcome = drain(&shutdown, args.drain_timeout).await;
    let drain_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);

    // Stop everything that could still change a job, then spill.
    intake.close();
    workers.stop();
    metrics.phase(Phase::Spilling);
    let mut exit_code = spill_live(&store, &args, outcome);
    if matches!(reason, Reason::Fatal(_)) && exit_code == 0 {
        exit_code = Reason::EXIT_FATAL;
    }
    metrics.phase(Phase::Stopped);

    http_stop.cancel();
    if outcome != DrainOutcome::Forced {
        // Let open connections finish their current response, briefly.
        let _ = tokio::time::timeout(Duration::from_secs(1), http).await;
        let _ = tokio::time::timeout(Duration::from_millis(500), workers.join()).await;
    }
    report::final_record(
        args.log_format,
        store.accounting(),
        outcome,
        drain_ms,
        exit_code,
    );
    Ok(exit_code)
}

/// Builds the store (with the restored jobs), the queue, the metrics, the
/// downstream client, the supervised workers and the router.
fn build(args: &ServeArgs, shutdown: &Shutdown) -> anyhow::Result<Parts> {
    let store = JobStore::new(args.retain_finished);
    let backlog = Arc::new(Backlog::default());
    let restored = spill::load(&args.spill_file)
        .with_context(|| format!("loading the spill file {}", args.spill_file.display()))?;
    if !restored.is_empty() {
        tracing::info!(jobs = restored.len(), file = %args.spill_file.display(), "restoring spilled jobs");
    }
    for job in restored {
        let id = job.id;
        store.restore(job);
        backlog.push(Ticket {
            id,
            enqueued: tokio::time::Instant::now(),
            guard: shutdown.guard().ok(),
        });
    }

    let (tx, rx) = intake::queue(args.queue_capacity as usize, args.overflow)
        .context("building the job queue")?;
    let metrics = Arc::new(Metrics::new(store.clone()));
    let intake = Intake::new(
        tx,
        args.overflow,
        args.admit_wait,
        shutdown.clone(),
        store.clone(),
        Arc::clone(&metrics),
    );
    let queue = {
        let intake = intake.clone();
        let backlog = Arc::clone(&backlog);
        move || QueueSnapshot {
            backlog: backlog.len() as u64,
            ..intake.snapshot()
        }
    };
    let retry_hint = retry_hint(queue.clone(), store.clone());
    tokio::spawn(retry_hint.clone().run_sampler());
    metrics.probe_queue(queue);

    let downstream = args
        .downstream
        .as_deref()
        .map(|url| DownstreamClient::new(url, args, Arc::clone(&metrics)))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let has_downstream = downstream.is_some();
    let ctx = JobContext {
        store: store.clone(),
        metrics: Arc::clone(&metrics),
        backlog,
        downstream,
        policy: RetryPolicy {
            initial: args.retry_initial,
            max: args.retry_max,
            attempt_timeout: args.attempt_timeout,
            job_timeout: args.job_timeout,
        },
    };
    let readiness = Readiness::default();
    let workers = supervise::start(
        usize::from(args.workers),
        &ctx,
        &rx,
        Arc::clone(&metrics),
        shutdown.clone(),
        &readiness,
    );

    let state = AppState {
        store: store.clone(),
        metrics: Arc::clone(&metrics),
        intake: intake.clone(),
        shutdown: shutdown.clone(),
        limits: Limits {
            max_attempts: args.max_attempts,
            has_downstream,
        },
        body_limit: args.max_body,
        readiness,
        retry_hint,
    };
    let app = stack::edge(
        api::router(state, stack::server(args, shutdown)),
        args,
        Arc::clone(&metrics),
    );
    Ok(Parts {
        store,
        intake,
        metrics,
        workers,
        app,
    })
}

/// The measured `Retry-After` of a full queue: jobs waiting (queue and
/// backlog) over jobs finished (succeeded or dead).
fn retry_hint(
    queue: impl Fn() -> QueueSnapshot + Send + Sync + 'static,
    store: JobStore,
) -> RetryHint {
    RetryHint::new(
        move || {
            let q = queue();
            q.depth + q.backlog
        },
        move || {
            let a = store.accounting();
            a.succeeded + a.dead
        },
    )
}

/// Waits for the drain to complete, its deadline, or a second signal.
async fn drain(shutdown: &Shutdown, deadline: Duration) -> DrainOutcome {
    let outcome = tokio::select! {
        biased;
        _ = shutdown.forced() => DrainOutcome::Forced,
        report = shutdown.drain(deadline) => match report {
            DrainReport::Complete { .. } => DrainOutcome::Complete,
            DrainReport::TimedOut { outstanding, .. } => {
                tracing::warn!(outstanding, "drain deadline reached; spilling what is left");
                DrainOutcome::TimedOut
            }
        },
    };
    if outcome == DrainOutcome::Forced {
        tracing::warn!("second signal: spilling now");
    }
    outcome
}

/// Spills every live job and returns the exit code.
fn spill_live(store: &JobStore, args: &ServeArgs, outcome: DrainOutcome) -> i32 {
    let spilled = store.spill_live();
    let exit_code = match outcome {
        DrainOutcome::Complete if spilled.is_empty() => 0,
        DrainOutcome::Complete | DrainOutcome::TimedOut => Reason::EXIT_DEADLINE_EXCEEDED,
        DrainOutcome::Forced => Reason::EXIT_FORCED,
    };
    match spill::write(&args.spill_file, &spilled) {
        Ok(()) => {
            if !spilled.is_empty() {
                tracing::info!(jobs = spilled.len(), file = %args.spill_file.display(), "spilled unfinished jobs");
            }
            exit_code
        }
        Err(e) => {
            tracing::error!(error = %e, file = %args.spill_file.display(), "could not write the spill file; the jobs follow on stderr");
            let mut stderr = std::io::stderr().lock();
            for job in &spilled {
                let _ = serde_json::to_writer(&mut stderr, job);
                let _ = stderr.write_all(b"\n");
            }
            Reason::EXIT_FATAL
        }
    }
}

/// One line on stdout, flushed at once (a parent process may be waiting
/// for it).
pub(crate) fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
/// Mirrors the shutdown phases into the metrics, and closes the queue when
/// the drain begins (intake stops).
async fn follow_phases(shutdown: Shutdown, metrics: Arc<Metrics>, intake: Intake) {
    metrics.phase(Phase::Serving);
    shutdown.wait_for_phase(ShutdownPhase::PreDrain).await;
    metrics.phase(Phase::PreDrain);
    shutdown.wait_for_phase(ShutdownPhase::Draining).await;
    intake.close();
    metrics.phase(Phase::Draining);
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // Another subscriber may already be installed (by a caller embedding
    // the server): keep it.
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
