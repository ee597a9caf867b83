//! The knobs of `evenkeel-demo serve`, as clap arguments.
//!
//! Every flag can also be set through an `EVENKEEL_*` environment variable
//! (`--queue-capacity` is `EVENKEEL_QUEUE_CAPACITY`, and so on), which is how
//! a container platform usually configures a process. A flag on the command
//! line wins over the variable. Durations are written with a unit
//! (`250ms`, `25s`, `2m`); a bare number means seconds.
//!
//! The defaults describe a small server in a container behind a load
//! balancer, inside Kubernetes' 30 s termination grace period:
//!
//! - `--addr 0.0.0.0:8080`: all interfaces, because inside a container the
//!   loopback interface is the container's own, and the balancer (or the
//!   node's proxy) connects over the pod's network interface. For a run on
//!   a workstation, pass `--addr 127.0.0.1:8080`.
//! - `--pre-drain-delay 5s`: after SIGTERM, readiness goes false at once
//!   but intake stays open for five seconds, the time a balancer needs to
//!   see the change (Kubernetes removes the pod from its endpoints on
//!   deletion and the proxies follow within a few seconds; a balancer that
//!   polls `/readyz` needs a probe period or two). Stopping intake sooner
//!   would refuse requests the balancer is still sending here. It counts
//!   inside the drain deadline.
//! - `--drain-timeout 25s`: with the pre-drain delay included, it leaves
//!   five seconds of the 30 s grace period for releasing unfinished jobs
//!   back to the store and the exit.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Command-line arguments of `evenkeel-demo serve`.
///
/// Read the field docs (or `evenkeel-demo serve --help`) for each flag; every
/// one also reads an `EVENKEEL_*` environment variable.
#[derive(Args, Debug, Clone)]
#[allow(clippy::struct_excessive_bools)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the actual address
    /// is printed as `listening on <addr>` on stdout). The default listens
    /// on every interface, as a server in a container must (see the module
    /// docs).
    #[arg(long, env = "EVENKEEL_ADDR", default_value = "0.0.0.0:8080")]
    pub addr: SocketAddr,

    /// Longest wait for a complete request head, from the moment the
    /// connection waits for one (hyper's timer: this also bounds the idle
    /// wait before the next request on a keep-alive connection). A slow
    /// client is disconnected past it.
    #[arg(long, env = "EVENKEEL_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,

    /// A connection with no request in flight for this long is closed
    /// (idle keep-alive).
    #[arg(long, env = "EVENKEEL_KEEP_ALIVE_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub keep_alive_timeout: Duration,

    /// Longest time a request body may take to arrive (408 past it).
    #[arg(long, env = "EVENKEEL_BODY_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub body_read_timeout: Duration,

    /// Connections served at once; one more is answered 503
    /// (`too_many_connections`) and closed.
    #[arg(long, env = "EVENKEEL_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Serve `GET /debug/panic`, a route that panics, to see (or test) the
    /// catch-panic layer answer 500. Off by default.
    #[arg(long, env = "EVENKEEL_DEBUG_PANIC_ROUTE")]
    pub debug_panic_route: bool,

    /// Number of supervised workers that run jobs (at most this many jobs
    /// run at once).
    ///
    /// Each worker claims one job at a time, and with the embedded store a
    /// claim is answered only once its commit is on disk, so a worker runs
    /// at most one job per commit. The default of 16 lets the workers keep
    /// up with the intake of short jobs on two cores; with 4, jobs that
    /// take no time finished at about 9 000 a second under a 32-connection
    /// load, a third of what the door accepted.
    #[arg(long, env = "EVENKEEL_WORKERS", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: u16,

    /// Most jobs waiting in the store (ready or delayed); beyond it
    /// `POST /jobs` answers 503 with `Retry-After`.
    #[arg(long, env = "EVENKEEL_QUEUE_CAPACITY", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub queue_capacity: u32,

    /// What a full queue does with a new job.
    #[arg(long, env = "EVENKEEL_OVERFLOW", value_enum, default_value_t = OverflowPolicy::Reject)]
    pub overflow: OverflowPolicy,

    /// How long `--overflow wait` lets a request wait for room before 503.
    #[arg(long, env = "EVENKEEL_ADMIT_WAIT", default_value = "1s", value_parser = parse_duration)]
    pub admit_wait: Duration,

    /// Admitted `POST /jobs` requests per second (a token bucket shared by
    /// every connection); 0 turns the limit off. Excess requests get 429.
    #[arg(long, env = "EVENKEEL_RATE_LIMIT", default_value_t = 0)]
    pub rate_limit: u32,

    /// Burst size of the rate limiter (defaults to one second's worth).
    #[arg(long, env = "EVENKEEL_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<u32>,

    /// At most this many `POST /jobs` requests in flight at once (bulkhead);
    /// excess requests get 503.
    #[arg(long, env = "EVENKEEL_MAX_CONCURRENT_REQUESTS", default_value_t = 256)]
    pub max_concurrent_requests: u32,

    /// Total time a `POST /jobs` request may take before 504.
    #[arg(long, env = "EVENKEEL_REQUEST_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Largest accepted request body, in bytes (413 above).
    #[arg(long, env = "EVENKEEL_MAX_BODY", default_value_t = 64 * 1024)]
    pub max_body: usize,

    /// Time from the first signal until the workers stop and whatever is
    /// still running is released back to the store (measured from the signal, pre-drain delay included).
    #[arg(long, env = "EVENKEEL_DRAIN_TIMEOUT", default_value = "25s", value_parser = parse_duration)]
    pub drain_timeout: Duration,

    /// Time between readiness turning false and intake stopping, so that a
    /// load balancer stops routing here before requests are refused (see
    /// the module docs for the default).
    #[arg(long, env = "EVENKEEL_PRE_DRAIN_DELAY", default_value = "5s", value_parser = parse_duration)]
    pub pre_drain_delay: Duration,

    /// Where accepted jobs are kept: `redb` (the default: a file under
    /// `--data-dir`, durable, one server per directory) or `memory` (NOT
    /// durable: a crash or exit loses every job; for tests and demos).
    #[arg(long, env = "EVENKEEL_STORE", value_enum, default_value_t = StoreKind::Redb)]
    pub store: StoreKind,

    /// Directory of the embedded job store (created if missing). A second
    /// server on the same directory fails at start.
    #[arg(long, env = "EVENKEEL_DATA_DIR", default_value = "evenkeel-data")]
    pub data_dir: PathBuf,

    /// PostgreSQL URL (`postgres://…`) of a job store shared by several
    /// servers; when set it is used instead of `--store`.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// How long a claimed job stays leased to its worker without a
    /// heartbeat; after a crash it runs again once this has passed (the
    /// embedded store hands leases back at start at once). Workers extend
    /// it every third of this while a job runs.
    #[arg(long, env = "EVENKEEL_LEASE", default_value = "30s", value_parser = parse_duration)]
    pub lease: Duration,

    /// How long a finished job's outcome (not its payload) is kept for
    /// `GET /jobs/{id}` and idempotency keys; then it is pruned.
    #[arg(long, env = "EVENKEEL_RETENTION", default_value = "1h", value_parser = parse_duration)]
    pub retention: Duration,

    /// URL that jobs with `"downstream": true` call (`POST`, the job payload
    /// as body), e.g. `http://127.0.0.1:9000/work`. Without it such jobs
    /// are refused with 422.
    #[arg(long, env = "EVENKEEL_DOWNSTREAM")]
    pub downstream: Option<String>,

    /// Timeout of one call to the downstream (one client-side attempt).
    #[arg(long, env = "EVENKEEL_DOWNSTREAM_TIMEOUT", default_value = "1s", value_parser = parse_duration)]
    pub downstream_timeout: Duration,

    /// Attempts of one downstream call inside the client stack (its own
    /// quick retries, under a retry budget), before the job's attempt fails.
    #[arg(long, env = "EVENKEEL_DOWNSTREAM_ATTEMPTS", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub downstream_attempts: u32,

    /// Circuit breaker: how many recent downstream calls it judges by.
    #[arg(long, env = "EVENKEEL_BREAKER_WINDOW", default_value_t = 20)]
    pub breaker_window: u32,

    /// Circuit breaker: calls needed in the window before it may open.
    #[arg(long, env = "EVENKEEL_BREAKER_MIN_CALLS", default_value_t = 10)]
    pub breaker_min_calls: u32,

    /// Circuit breaker: failure rate (percent) at which it opens.
    #[arg(long, env = "EVENKEEL_BREAKER_FAILURE_RATE", default_value_t = 50.0)]
    pub breaker_failure_rate: f64,

    /// Circuit breaker: how long it stays open before trial calls.
    #[arg(long, env = "EVENKEEL_BREAKER_OPEN", default_value = "5s", value_parser = parse_duration)]
    pub breaker_open: Duration,

    /// Circuit breaker: trial calls allowed while half-open.
    #[arg(long, env = "EVENKEEL_BREAKER_HALF_OPEN_CALLS", default_value_t = 3)]
    pub breaker_half_open_calls: u32,

    /// Timeout of one attempt of a job.
    #[arg(long, env = "EVENKEEL_ATTEMPT_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub attempt_timeout: Duration,

    /// Deadline of a whole job, all attempts and backoff waits together.
    #[arg(long, env = "EVENKEEL_JOB_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub job_timeout: Duration,

    /// Attempts per job, the first included; a job may ask for fewer.
    #[arg(long, env = "EVENKEEL_MAX_ATTEMPTS", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,

    /// First wait between attempts (exponential, full jitter).
    #[arg(long, env = "EVENKEEL_RETRY_INITIAL", default_value = "50ms", value_parser = parse_duration)]
    pub retry_initial: Duration,

    /// Cap on the wait between attempts.
    #[arg(long, env = "EVENKEEL_RETRY_MAX", default_value = "2s", value_parser = parse_duration)]
    pub retry_max: Duration,

    /// Log format on stderr, and the shape of the final accounting record
    /// on stdout.
    #[arg(long, env = "EVENKEEL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// What a full queue does with a new job (`--overflow`).
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// Refuse the new job at once: 503 with `Retry-After`.
    Reject,
    /// Refuse the new job at once and count it as dropped: 503 as well.
    DropNewest,
    /// Let the request wait up to `--admit-wait` for room, then 503.
    Wait,
}

/// Which job store backend (`--store`).
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// A redb file under `--data-dir`: durable (the default).
    Redb,
    /// In memory: NOT durable; a crash or exit loses every job.
    Memory,
}

/// Log format (`--log-format`).
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The flag parser for durations is shared with the load generator and the
/// downstream: `250ms`, `25s`, `1.5s`, `2m`, `1h` or a bare number of seconds.
pub use crate::load::parse_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration(" 10ms "), Ok(Duration::from_millis(10)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }
}
