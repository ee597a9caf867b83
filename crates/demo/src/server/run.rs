//! The life of one server process, from opening the job store to the
//! accounting record it prints last.
//!
//! # Start
//!
//! 1. Install the signal listener first (SIGINT and SIGTERM trigger the
//!    shutdown; a second one forces it), so that a signal that arrives
//!    during start-up is not the default "die now".
//! 2. Open the job store: by default the redb file under `--data-dir`
//!    (a second server on the same directory stops here with an error),
//!    `--store memory`, or PostgreSQL with `--database-url`. Hand back the
//!    leases a previous process held when it died ([`JobStore::recover`]):
//!    the jobs a `kill -9` interrupted run again, their attempts charged.
//! 3. Start the supervised workers, bind, print `listening on <addr>` on
//!    stdout (with the actual port when `--addr` asked for port 0), serve
//!    (`serve`: the accept loop with its connection limits).
//!
//! # Stop
//!
//! | phase (`evenkeel_drain_phase`) | what happens |
//! |---|---|
//! | 1 pre-drain | first signal: `/readyz` answers 503; intake stays open for `--pre-drain-delay` |
//! | 2 draining | intake stops: `POST /jobs` answers 503; workers finish every job in the store (retries included) |
//! | 3 releasing | at `--drain-timeout` after the signal (or at once on a second signal) workers stop and hand their running jobs back to the store, not charged an attempt |
//! | 4 stopped | the final accounting record is printed; the process exits |
//!
//! Nothing is written at shutdown that was not already in the store: every
//! 202 was durable when it was sent. The drain only decides how much of
//! the work this process finishes before it goes.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | the drain completed: nothing left in the store |
//! | 124 | the drain deadline cut the drain short; the rest waits in the store ([`Reason::EXIT_DEADLINE_EXCEEDED`]) |
//! | 137 | a second signal cut the drain short; the rest waits in the store ([`Reason::EXIT_FORCED`]) |
//! | 1 | start-up failed (the store is in use by another server or unreadable, address in use), or the worker supervisor gave up (restart intensity exceeded), which triggers the shutdown itself |
//! | 2 | a flag value clap refused (usage error) |
//!
//! # The final accounting record
//!
//! One line on stdout, just before exit (see `report`). With
//! `--log-format json`:
//!
//! ```json
//! {"message":"final accounting","accepted":120,"restored":0,"succeeded":97,"dead":3,"released":4,"retries":41,"remaining":20,"lost":0,"drain":"timed_out","drain_ms":2001,"exit_code":124}
//! ```

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use evenkeel_shutdown::{DrainReport, Phase as ShutdownPhase, Reason, Shutdown};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::api::{self, AppShared, AppState};
use super::books::Books;
use super::config::StoreKind;
use super::config::{LogFormat, ServeArgs};
use super::downstream_client::DownstreamClient;
use super::execute::{self, JobContext, RetryPolicy};
use super::intake::Intake;
use super::job::Limits;
use super::metrics::{Metrics, Phase, QueueSnapshot};
use super::readiness::Readiness;
use super::report::{self, Closing};
use super::retry_hint::RetryHint;
use super::serve::{self, ConnLimits};
use super::stack;
use super::store::postgres::{PostgresOptions, PostgresStore};
use super::store::{JobStore, MemoryStore, RedbStore, StoreHealth, StoreOptions, Watched};
use super::supervise;

/// How long the stop waits for the answers already on their way to the
/// store (each one commit) before it reads the books.
const SETTLE_PATIENCE: Duration = Duration::from_secs(5);

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
    store: Arc<dyn JobStore>,
    /// The workers' answers on their way to the store (see `execute`).
    settling: TaskTracker,
    books: Arc<Books>,
    metrics: Arc<Metrics>,
    workers: supervise::Workers,
    app: axum::Router,
}

/// Runs `evenkeel-demo serve` until it has drained (or released what it
/// could not finish) and returns the process exit code (see the module
/// docs for the table).
///
/// # Errors
///
/// Start-up failures: an unusable flag value, a job store that cannot be
/// opened (in use by another server, unreadable), an address that cannot be
/// bound.
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
        settling,
        books,
        metrics,
        workers,
        app,
    } = build(&args, &shutdown).await?;

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
    tokio::spawn(follow_phases(shutdown.clone(), Arc::clone(&metrics)));

    // Serve until the first signal, then drain.
    let reason = shutdown.triggered().await;
    let started = Instant::now();
    tracing::info!(%reason, "shutdown: readiness is false; draining");
    let outcome = drain(&shutdown, args.drain_timeout).await;
    let drain_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);

    // Stop the workers: each hands its running job back to the store.
    workers.stop();
    metrics.phase(Phase::Releasing);
    let _ = tokio::time::timeout(Duration::from_secs(2), workers.join()).await;
    // An answer a worker handed to the store is committed and counted in
    // one step that a stop does not cut (see `execute`): wait for those
    // steps, so the books and the store's count below agree.
    settling.close();
    if tokio::time::timeout(SETTLE_PATIENCE, settling.wait())
        .await
        .is_err()
    {
        tracing::error!(
            answers = settling.len(),
            "answers still on their way to the store; the final record may miscount them"
        );
    }
    let remaining = match store.stats().await {
        Ok(stats) => stats.live(),
        Err(e) => {
            tracing::error!(error = %e, "could not count the jobs left in the store");
            0
        }
    };
    let mut exit_code = match outcome {
        DrainOutcome::Complete if remaining == 0 || store.is_shared() => 0,
        DrainOutcome::Complete | DrainOutcome::TimedOut => Reason::EXIT_DEADLINE_EXCEEDED,
        DrainOutcome::Forced => Reason::EXIT_FORCED,
    };
    if matches!(reason, Reason::Fatal(_)) && exit_code == 0 {
        exit_code = Reason::EXIT_FATAL;
    }
    if remaining > 0 {
        tracing::info!(
            jobs = remaining,
            "jobs left in the store for the next start"
        );
    }
    metrics.phase(Phase::Stopped);

    http_stop.cancel();
    if outcome != DrainOutcome::Forced {
        // Let open connections finish their current response, briefly.
        let _ = tokio::time::timeout(Duration::from_secs(1), http).await;
    }
    report::final_record(
        args.log_format,
        Closing {
            accounting: books.accounting(),
            remaining,
            shared: store.is_shared(),
            drain: outcome,
            drain_ms,
            exit_code,
        },
    );
    Ok(exit_code)
}

/// Opens the job store the flags ask for.
///
/// This is the one place that knows the backends: the PostgreSQL one is
/// chosen here when `--database-url` is set.
///
/// # Errors
///
/// The store could not be opened.
pub(crate) async fn open_store(args: &ServeArgs) -> anyhow::Result<Arc<dyn JobStore>> {
    let options = StoreOptions {
        capacity: args.queue_capacity as usize,
        retention: args.retention,
        ..StoreOptions::default()
    };
    if let Some(url) = &args.database_url {
        let pg = PostgresOptions {
            pool_size: usize::from(args.workers) + 8,
            ..PostgresOptions::default()
        };
        let config = url
            .parse()
            .context("--database-url is not a PostgreSQL URL")?;
        let store = PostgresStore::connect_with(config, options, pg)
            .await
            .context("opening the PostgreSQL job store")?;
        tracing::info!("job store: PostgreSQL (shared)");
        return Ok(Arc::new(store));
    }
    Ok(match args.store {
        StoreKind::Memory => {
            tracing::warn!("--store memory: jobs are NOT durable; a crash or exit loses them");
            Arc::new(MemoryStore::new(options))
        }
        StoreKind::Redb => {
            let dir = args.data_dir.clone();
            let store = tokio::task::spawn_blocking(move || RedbStore::open(&dir, options))
                .await
                .context("opening the job store")?
                .with_context(|| format!("opening the job store in {}", args.data_dir.display()))?;
            tracing::info!(file = %store.path().display(), "job store open");
            Arc::new(store)
        }
    })
}

/// Makes the metrics and wraps `store` so that every call is watched:
/// failures are counted, logged once per episode, and take readiness down
/// until a write succeeds.
fn watch_store(
    store: Arc<dyn JobStore>,
    books: &Arc<Books>,
) -> (Arc<dyn JobStore>, Arc<StoreHealth>, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new(Arc::clone(books)));
    let health = Arc::new(StoreHealth::counting({
        let metrics = Arc::clone(&metrics);
        move |op| metrics.store_error(op)
    }));
    let store = Arc::new(Watched::new(store, Arc::clone(&health)));
    (store, health, metrics)
}

/// Builds the store (handing back orphaned leases), the metrics, the
/// downstream client, the supervised workers and the router.
async fn build(args: &ServeArgs, shutdown: &Shutdown) -> anyhow::Result<Parts> {
    let store = open_store(args).await?;
    let recovered = store
        .recover()
        .await
        .context("recovering the store's leases")?;
    let live = store.stats().await.context("reading the store")?.live();
    let books = Arc::new(Books::default());
    let (store, health, metrics) = watch_store(store, &books);
    if !store.is_shared() {
        books.restored(live);
    }
    if live > 0 {
        tracing::info!(
            jobs = live,
            recovered,
            "resuming the jobs left in the store"
        );
    }

    let intake = Intake::new(
        Arc::clone(&store),
        Arc::clone(&books),
        args.overflow,
        args.admit_wait,
        shutdown.clone(),
    );
    let capacity = u64::from(args.queue_capacity);
    let queue = {
        let books = Arc::clone(&books);
        move || {
            let stats = books.store();
            QueueSnapshot {
                depth: stats.ready + stats.delayed,
                capacity,
                high_water: books.high_water(),
            }
        }
    };
    let retry_hint = retry_hint(&books);
    tokio::spawn(retry_hint.clone().run_sampler({
        let store = Arc::clone(&store);
        let books = Arc::clone(&books);
        move || refresh_store_stats(Arc::clone(&store), Arc::clone(&books))
    }));
    metrics.probe_queue(queue);

    let downstream = args
        .downstream
        .as_deref()
        .map(|url| DownstreamClient::new(url, args, Arc::clone(&metrics)))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let has_downstream = downstream.is_some();
    let ctx = job_context(args, &store, &books, &metrics, downstream);
    let readiness = Readiness::watching(health);
    let workers = supervise::start(
        usize::from(args.workers),
        &ctx,
        Arc::clone(&metrics),
        shutdown.clone(),
        &readiness,
    );

    let state = AppState::new(AppShared {
        store: Arc::clone(&store),
        books: Arc::clone(&books),
        metrics: Arc::clone(&metrics),
        intake,
        shutdown: shutdown.clone(),
        limits: Limits {
            max_attempts: args.max_attempts,
            has_downstream,
        },
        body_limit: args.max_body,
        readiness,
        retry_hint,
    });
    let app = stack::edge(
        api::router(state, stack::server(args, shutdown)),
        args,
        Arc::clone(&metrics),
    );
    Ok(Parts {
        settling: ctx.settling.clone(),
        store,
        books,
        metrics,
        workers,
        app,
    })
}

/// What every worker needs, from the flags and the parts built so far.
fn job_context(
    args: &ServeArgs,
    store: &Arc<dyn JobStore>,
    books: &Arc<Books>,
    metrics: &Arc<Metrics>,
    downstream: Option<DownstreamClient>,
) -> JobContext {
    JobContext {
        store: Arc::clone(store),
        books: Arc::clone(books),
        metrics: Arc::clone(metrics),
        downstream,
        policy: RetryPolicy {
            initial: args.retry_initial,
            max: args.retry_max,
            attempt_timeout: args.attempt_timeout,
            job_timeout: args.job_timeout,
            lease: args.lease,
        },
        settling: TaskTracker::new(),
    }
}

/// The measured `Retry-After` for a full queue: jobs waiting in the store
/// (ready or delayed) against jobs finished (succeeded or dead), both from
/// the store's last counts (`refresh_store_stats` keeps them fresh).
fn retry_hint(books: &Arc<Books>) -> RetryHint {
    let waiting = Arc::clone(books);
    let finished = Arc::clone(books);
    RetryHint::new(
        move || {
            let stats = waiting.store();
            stats.ready + stats.delayed
        },
        move || {
            let stats = finished.store();
            stats.succeeded + stats.dead
        },
    )
}

/// Reads the store's counts into the books (for the retry hint and the
/// queue gauges); a failure keeps the last counts.
///
/// # Cancellation safety
///
/// Cancel-safe: a dropped read changes nothing.
async fn refresh_store_stats(store: Arc<dyn JobStore>, books: Arc<Books>) {
    match store.stats().await {
        Ok(stats) => books.set_store(stats),
        Err(e) => tracing::debug!(error = %e, "could not read the job store's counts"),
    }
}

/// Waits for the drain to complete, its deadline, or a second signal.
async fn drain(shutdown: &Shutdown, deadline: Duration) -> DrainOutcome {
    let outcome = tokio::select! {
        biased;
        _ = shutdown.forced() => DrainOutcome::Forced,
        report = shutdown.drain(deadline) => match report {
            DrainReport::Complete { .. } => DrainOutcome::Complete,
            DrainReport::TimedOut { outstanding, .. } => {
                tracing::warn!(outstanding, "drain deadline reached; releasing what is left");
                DrainOutcome::TimedOut
            }
        },
    };
    if outcome == DrainOutcome::Forced {
        tracing::warn!("second signal: releasing now");
    }
    outcome
}

/// One line on stdout, flushed at once (a parent process may be waiting
/// for it).
pub(crate) fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
/// Mirrors the shutdown phases into the metrics.
async fn follow_phases(shutdown: Shutdown, metrics: Arc<Metrics>) {
    metrics.phase(Phase::Serving);
    shutdown.wait_for_phase(ShutdownPhase::PreDrain).await;
    metrics.phase(Phase::PreDrain);
    shutdown.wait_for_phase(ShutdownPhase::Draining).await;
    metrics.phase(Phase::Draining);
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Another subscriber may already be installed (by a caller embedding
    // the server): keep it.
    let _ = match format {
        LogFormat::Json => json_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init(),
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .try_init(),
    };
}
