//! `evenkeel-demo load`: a load generator for the job server's HTTP API.
//!
//! It submits jobs as `POST /jobs` with a JSON body (see [`JobMix`]) either
//! at a fixed rate or with a fixed number in flight ([`Mode`]), for a
//! duration. It treats the server's pushback the way a well-behaved client
//! should: a `503` or `429` with `Retry-After` makes it wait at least that
//! long, plus jitter so that clients do not return in lockstep
//! ([`BackoffPolicy`], an `evenkeel_retry::Backoff` per job), and then
//! retry the same job a bounded number of times.
//!
//! While it runs it shows progress on stderr (a bar on a terminal, plain
//! lines otherwise); at the end it prints a [`Summary`]: attempts sent, jobs
//! accepted, rejections by status, latency p50/p99. `--json` prints the
//! summary as one JSON object instead, and `--ids-file` writes the id of
//! every accepted job, one per line, so that someone can later check that
//! each one was processed or handed back to the job store (the demo story
//! does exactly that).
//!
//! The HTTP client is hyper-util's pooled client: no extra HTTP library.

mod backoff;
pub(crate) mod client;
mod engine;
mod job;
mod parse;
mod progress;
mod stats;

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use backoff::BackoffPolicy;
pub use engine::{LoadConfig, LoadReport, Mode, run};
pub use job::JobMix;
pub use parse::{
    MAX_RETRY_AFTER, parse_duration, parse_range, parse_retry_after, parse_retry_after_at,
};
pub use progress::ProgressMode;
pub use stats::{Summary, percentile};

/// Command-line flags of `evenkeel-demo load` (each also settable by the
/// `EVENKEEL_*` environment variable named in `--help`).
///
/// # Example
///
/// ```
/// use clap::Parser;
/// use evenkeel_demo::load::{LoadArgs, Mode};
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     args: LoadArgs,
/// }
///
/// let cli = Cli::parse_from(["x", "--rate", "50", "--work-ms", "5..20"]);
/// let config = cli.args.config();
/// assert_eq!(config.mode, Mode::Rate(50.0));
/// assert_eq!(config.mix.work_ms, (5, 20));
/// ```
#[derive(Clone, Debug, clap::Args)]
pub struct LoadArgs {
    /// Base URL of the job server.
    #[arg(long, env = "EVENKEEL_TARGET", default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Start this many jobs per second (open loop).
    #[arg(long, env = "EVENKEEL_RATE", conflicts_with = "concurrency")]
    pub rate: Option<f64>,
    /// Keep this many jobs in flight (closed loop; the default, with 8).
    #[arg(long, env = "EVENKEEL_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// How long to keep starting jobs.
    #[arg(long, env = "EVENKEEL_DURATION", default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Stop after this many jobs.
    #[arg(long, env = "EVENKEEL_JOBS")]
    pub jobs: Option<u64>,
    /// Simulated work per attempt, in ms: `LOW..HIGH` or one number.
    #[arg(long, env = "EVENKEEL_WORK_MS", default_value = "10..100", value_parser = parse_range)]
    pub work_ms: (u64, u64),
    /// Chance (0..=1) that a job attempt fails transiently on the server.
    #[arg(long, env = "EVENKEEL_FAIL_RATE", default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Share (0..=1) of jobs that call the downstream.
    #[arg(long, env = "EVENKEEL_DOWNSTREAM_SHARE", default_value_t = 0.0)]
    pub downstream_share: f64,
    /// Retries of a job rejected with 503/429 or without an answer.
    #[arg(long, env = "EVENKEEL_MAX_RETRIES", default_value_t = 3)]
    pub max_retries: u32,
    /// Cap on any single backoff wait, Retry-After included.
    #[arg(long, env = "EVENKEEL_MAX_BACKOFF", default_value = "5s", value_parser = parse_duration)]
    pub max_backoff: Duration,
    /// Bound on one HTTP attempt.
    #[arg(long, env = "EVENKEEL_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Seed of every random draw (job mix, jitter).
    #[arg(long, env = "EVENKEEL_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Write the id of every accepted job here, one per line.
    #[arg(long, env = "EVENKEEL_IDS_FILE")]
    pub ids_file: Option<PathBuf>,
    /// Print the summary as one JSON object.
    #[arg(long, env = "EVENKEEL_JSON")]
    pub json: bool,
    /// Progress display on stderr.
    #[arg(long, env = "EVENKEEL_PROGRESS", value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

impl LoadArgs {
    /// The run these flags describe.
    ///
    /// # Example
    ///
    /// See [`LoadArgs`].
    pub fn config(&self) -> LoadConfig {
        let mut config = LoadConfig::new(self.target.clone());
        config.mode = match (self.rate, self.concurrency) {
            (Some(rate), _) => Mode::Rate(rate),
            (None, Some(n)) => Mode::Concurrency(n),
            (None, None) => Mode::Concurrency(8),
        };
        config.duration = self.duration;
        config.max_jobs = self.jobs;
        config.mix = JobMix {
            work_ms: self.work_ms,
            fail_rate: self.fail_rate,
            downstream_share: self.downstream_share,
        };
        config.max_retries = self.max_retries;
        config.backoff.max = self.max_backoff;
        config.timeout = self.timeout;
        config.seed = self.seed;
        config.progress = self.progress;
        config
    }
}

/// Runs `evenkeel-demo load`: the load, then the summary on stdout and the
/// ids file. Ctrl+C ends the run early (requests in flight are awaited).
///
/// # Errors
///
/// The ids file cannot be written, or not a single attempt got an answer
/// (the server is not there).
///
/// # Cancellation safety
///
/// Not cancel safe: see [`run`].
pub async fn run_cli(args: LoadArgs) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let on_ctrl_c = {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.cancel();
            }
        })
    };
    let report = run(args.config(), stop).await;
    on_ctrl_c.abort();
    if let Some(path) = &args.ids_file {
        let mut text = report.accepted_ids.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    let summary = &report.summary;
    if args.json {
        println!("{}", serde_json::to_string(summary)?);
    } else {
        println!("{summary}");
    }
    if summary.sent > 0 && summary.sent == summary.transport_errors {
        anyhow::bail!(
            "no answer from {} to any of {} attempts",
            args.target,
            summary.sent
        );
    }
    Ok(())
}
