//! `evenkeel-demo story`: the whole demo, end to end, on loopback; what
//! `cargo xtask demo` runs.
//!
//! The story plays one scene per pattern, against a real server process,
//! over real HTTP, with a real signal:
//!
//! 1. **Warm-up.** A steady trickle of jobs: everything is accepted.
//! 2. **Overflow.** 48 clients submit slow jobs at once; the bounded queue
//!    fills and the server answers `503` + `Retry-After` (backpressure)
//!    instead of buffering without bound.
//! 3. **Rate limit.** 16 clients submit tiny jobs as fast as they can; the
//!    token bucket answers `429` + `Retry-After`.
//! 4. **Outage.** The downstream goes dark for a few seconds on cue; the
//!    story watches the circuit breaker open on `/metrics`, and close again
//!    after the downstream recovers.
//! 5. **SIGTERM under load.** Readiness flips, intake stops, the drain runs
//!    to its deadline, and the jobs still running are released to the job
//!    store. The story reads the server's final accounting record, opens
//!    the store file the server left, and checks **every accepted id**:
//!    finished, or waiting in the store, or lost (must be none).
//! 6. **Restart.** A fresh server on the same data directory finishes the
//!    jobs left in the store, under their ids.
//! 7. **SIGKILL under load.** No drain at all: the server is killed with
//!    `kill -9` mid-load and restarted; every job that got a 202 finishes,
//!    because a 202 is only sent once the job is on disk. The jobs whose
//!    attempt the kill cut short run again (at-least-once); the story
//!    counts them.
//!
//! A PostgreSQL chapter runs only when `--database-url` (or
//! `DATABASE_URL`) is given; without it the story needs nothing but the
//! embedded store.
//!
//! The downstream and the load generator run inside the story's own process
//! (they are this crate's library code); the server runs as a child,
//! `evenkeel-demo serve` from this same executable, with scaled-down
//! settings ([`server_args`]) so that every effect shows within seconds.
//! The story fails (non-zero exit) if a job is lost, a step fails, or an
//! effect it set out to show did not show. It leaves no process behind:
//! the child dies with the story on any exit path, Ctrl+C included.
//!
//! # What the story expects from the server
//!
//! It runs `<current exe> serve` with exactly the flags of [`server_args`]
//! and relies on:
//!
//! - a line containing `listening on <ip:port>` on stdout (or stderr)
//!   within 20 s of the start;
//! - `POST /jobs` answering `202 {"id": "..."}` once the job is durable,
//!   `503` + `Retry-After` when the store is full or the server is
//!   draining, `429` + `Retry-After` when rate limited;
//! - `GET /jobs/{id}` answering `{"state": "..."}` with `succeeded` and
//!   `dead` as the finished states, also while the drain runs;
//! - `GET /readyz` answering 503 soon after SIGTERM;
//! - on `GET /metrics`: the gauge `evenkeel_circuit_state` (0 closed,
//!   1 half-open, 2 open), the counter `evenkeel_circuit_transitions` with
//!   label `to`, and the gauge `evenkeel_queue_high_water`;
//! - after SIGTERM, an exit within 20 s, with code 0 only when nothing was
//!   left in the store, and as its last word a JSON line with the integer
//!   fields `accepted`, `succeeded`, `dead`, `remaining` (and `restored`,
//!   `retries`);
//! - its jobs in the redb job store under `--data-dir` (which the story
//!   opens after the server exits), resumed by the next start on the same
//!   directory.

mod accounting;
mod child;
mod metrics;
mod observe;
mod phases;
mod report;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

pub use accounting::{Reconciliation, Seen, ServerAccounting, outcomes_in_log, reconcile};
pub use child::listening_addr;
pub use metrics::Scrape;

use crate::downstream::{Downstream, DownstreamConfig};

/// Flags of `evenkeel-demo story`; none is needed.
///
/// # Example
///
/// ```
/// use clap::Parser;
/// use evenkeel_demo::story::StoryArgs;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     args: StoryArgs,
/// }
///
/// assert_eq!(Cli::parse_from(["x"]).args.seed, 8);
/// ```
#[derive(Clone, Debug, clap::Args)]
pub struct StoryArgs {
    /// Seed of the downstream's dice and of the load generator.
    #[arg(long, env = "EVENKEEL_SEED", default_value_t = 8)]
    pub seed: u64,
    /// Keep the scratch directory (the server's data directory) instead of
    /// removing it.
    #[arg(long, env = "EVENKEEL_KEEP_DIR")]
    pub keep_dir: bool,
    /// PostgreSQL URL: also play the PostgreSQL chapter (several servers
    /// sharing one queue). Without it the story uses only the embedded
    /// store.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

/// Server workers.
const WORKERS: u32 = 4;
/// Server queue capacity.
const QUEUE_CAPACITY: u32 = 40;
/// Server rate limit, `POST /jobs` per second.
const RATE_LIMIT: u32 = 60;
/// Server drain deadline, from the signal.
const DRAIN_TIMEOUT: &str = "3s";
/// Server pre-drain delay (readiness false, intake still open).
const PRE_DRAIN_DELAY: &str = "500ms";
/// How long the story waits for a signalled server to exit before killing it.
const DRAIN_LIMIT: Duration = Duration::from_secs(20);
/// The whole story must end within this, or it fails.
const STORY_LIMIT: Duration = Duration::from_secs(180);

/// The arguments the story gives `evenkeel-demo serve`.
///
/// # Example
///
/// ```
/// use std::path::Path;
/// use evenkeel_demo::story::server_args;
///
/// let args = server_args(Path::new("/tmp/story-data"), "http://127.0.0.1:9/work");
/// assert_eq!(args[..2], ["--addr".to_owned(), "127.0.0.1:0".to_owned()]);
/// assert!(args.contains(&"--log-format".to_owned()));
/// ```
pub fn server_args(data_dir: &Path, downstream: &str) -> Vec<String> {
    [
        ("--addr", "127.0.0.1:0".to_owned()),
        ("--workers", WORKERS.to_string()),
        ("--queue-capacity", QUEUE_CAPACITY.to_string()),
        ("--rate-limit", RATE_LIMIT.to_string()),
        ("--drain-timeout", DRAIN_TIMEOUT.to_owned()),
        ("--pre-drain-delay", PRE_DRAIN_DELAY.to_owned()),
        ("--data-dir", data_dir.display().to_string()),
        ("--downstream", downstream.to_owned()),
        ("--log-format", "json".to_owned()),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_owned(), value])
    .collect()
}

/// The scratch directory of one story, removed on drop unless kept.
#[derive(Debug)]
struct Scratch {
    path: PathBuf,
    keep: bool,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.keep {
            println!("scratch directory kept: {}", self.path.display());
        } else {
            // Best effort: a leftover directory under the temp dir is harmless.
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Runs the story (see the module docs).
///
/// # Errors
///
/// A step failed (the server could not start, did not exit, …), an effect
/// did not show, or an accepted job was lost.
///
/// # Cancellation safety
///
/// Dropping the future (what Ctrl+C does in `main`) kills the server child
/// and stops the in-process downstream and load; nothing outlives it.
pub async fn run(args: StoryArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find the evenkeel-demo executable")?;
    let path = std::env::temp_dir().join(format!("evenkeel-demo-story-{}", std::process::id()));
    std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
    let scratch = Scratch {
        path,
        keep: args.keep_dir,
    };

    // The downstream: a little slow and a little flaky even on a good day.
    let downstream = Downstream::new(DownstreamConfig {
        latency: Duration::from_millis(5),
        jitter: Duration::from_millis(15),
        error_rate: 0.03,
        busy_rate: 0.02,
        seed: args.seed,
        ..DownstreamConfig::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let downstream_url = format!("http://{}/work", listener.local_addr()?);
    let serving = tokio::spawn(
        downstream
            .clone()
            .serve(listener, std::future::pending::<()>()),
    );

    let mut story = phases::Story::new(exe, &scratch.path, downstream, downstream_url, args.seed);
    story.database_url = args.database_url;
    let outcome = tokio::time::timeout(STORY_LIMIT, story.play()).await;
    serving.abort();
    match outcome {
        Err(_) => anyhow::bail!("the story did not finish within {STORY_LIMIT:?}"),
        Ok(result) => result,
    }
}
