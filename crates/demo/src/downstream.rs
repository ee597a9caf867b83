//! `evenkeel-demo downstream`: a deliberately flaky HTTP service for the
//! workers to call, so that retries, timeouts and the circuit breaker face
//! something real instead of a mock.
//!
//! # How it misbehaves
//!
//! Every `POST /work` (and, so that a client configured with a bare base URL
//! works too, any request on a path that is not one of the routes below)
//! goes through three steps:
//!
//! 1. **Outage?** While an outage window is open the service answers
//!    `503 Service Unavailable` at once, *without* `Retry-After`: a dead
//!    dependency does not tell you when it will be back. Outages come from a
//!    schedule (`--outage-after 20s --outage-for 10s`) or on cue from
//!    `POST /admin/outage?secs=N` (`secs=0` ends one early); the demo story
//!    uses the admin route so the outage starts exactly when it wants.
//! 2. **Latency.** The handler sleeps `--latency` plus a uniform random
//!    `0..=--jitter`, like a real service that is sometimes slow.
//! 3. **Dice.** With probability `--error-rate` it answers `500`; with
//!    probability `--busy-rate` it answers `503` *with* `Retry-After:
//!    --busy-retry-after` (an overloaded but polite service); otherwise
//!    `200 {"ok": true}`.
//!
//! `GET /stats` returns the counters as JSON and `GET /healthz` answers 200.
//! The dice come from one seeded RNG (`--seed`), so a run is repeatable
//! request-for-request when requests arrive in the same order.
//!
//! The state machine lives in [`Downstream`] and takes its clock from
//! tokio, so tests drive outages with paused time and no sleeping.

mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::net::TcpListener;

pub use state::{Downstream, DownstreamConfig, Outcome, Stats};

use crate::load::parse_duration;

/// Command-line flags of `evenkeel-demo downstream` (each also settable by
/// the `EVENKEEL_*` environment variable named in `--help`).
///
/// # Example
///
/// ```
/// use clap::Parser;
/// use evenkeel_demo::downstream::DownstreamArgs;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     args: DownstreamArgs,
/// }
///
/// let cli = Cli::parse_from(["x", "--error-rate", "0.2", "--outage-after", "20s"]);
/// let config = cli.args.config();
/// assert_eq!(config.error_rate, 0.2);
/// assert_eq!(config.outage_after, Some(std::time::Duration::from_secs(20)));
/// ```
#[derive(Clone, Debug, clap::Args)]
pub struct DownstreamArgs {
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(
        long,
        env = "EVENKEEL_DOWNSTREAM_ADDR",
        default_value = "127.0.0.1:8081"
    )]
    pub addr: SocketAddr,
    /// Base latency of every answer (e.g. `20ms`, `1s`).
    #[arg(long, env = "EVENKEEL_LATENCY", default_value = "20ms", value_parser = parse_duration)]
    pub latency: Duration,
    /// Extra latency, uniform in `0..=jitter`.
    #[arg(long, env = "EVENKEEL_JITTER", default_value = "30ms", value_parser = parse_duration)]
    pub jitter: Duration,
    /// Probability (0..=1) that an answer is a 500.
    #[arg(long, env = "EVENKEEL_ERROR_RATE", default_value_t = 0.05)]
    pub error_rate: f64,
    /// Probability (0..=1) that an answer is a 503 with `Retry-After`.
    #[arg(long, env = "EVENKEEL_BUSY_RATE", default_value_t = 0.02)]
    pub busy_rate: f64,
    /// The `Retry-After` sent with a busy 503, in whole seconds.
    #[arg(long, env = "EVENKEEL_BUSY_RETRY_AFTER", default_value_t = 1)]
    pub busy_retry_after: u64,
    /// Start a scheduled outage this long after startup.
    #[arg(long, env = "EVENKEEL_OUTAGE_AFTER", value_parser = parse_duration)]
    pub outage_after: Option<Duration>,
    /// Length of the scheduled outage.
    #[arg(long, env = "EVENKEEL_OUTAGE_FOR", default_value = "10s", value_parser = parse_duration)]
    pub outage_for: Duration,
    /// Seed of the dice; the same seed replays the same answers.
    #[arg(long, env = "EVENKEEL_SEED", default_value_t = 8)]
    pub seed: u64,
}

impl DownstreamArgs {
    /// The behaviour these flags describe.
    ///
    /// # Example
    ///
    /// See [`DownstreamArgs`].
    pub fn config(&self) -> DownstreamConfig {
        DownstreamConfig {
            latency: self.latency,
            jitter: self.jitter,
            error_rate: self.error_rate,
            busy_rate: self.busy_rate,
            busy_retry_after: Duration::from_secs(self.busy_retry_after),
            outage_after: self.outage_after,
            outage_for: self.outage_for,
            seed: self.seed,
        }
    }
}

/// Runs `evenkeel-demo downstream`: binds, prints `listening on ADDR` on
/// stdout (the line a parent process waits for), and serves until Ctrl+C or
/// SIGTERM.
///
/// # Errors
///
/// Binding the address or serving fails.
///
/// # Cancellation safety
///
/// Dropping the future stops the server; nothing is left half-written.
pub async fn run(args: DownstreamArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.addr).await?;
    println!("listening on {}", listener.local_addr()?);
    let service = Downstream::new(args.config());
    service.serve(listener, terminate_signal()).await?;
    Ok(())
}

/// Completes on Ctrl+C or SIGTERM (or at once if neither can be listened
/// for, so that a broken signal setup stops the service instead of leaving
/// it unkillable but by SIGKILL).
async fn terminate_signal() {
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

impl Downstream {
    /// The HTTP routes of the service (see the module docs).
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_demo::downstream::{Downstream, DownstreamConfig};
    ///
    /// let app: axum::Router = Downstream::new(DownstreamConfig::default()).router();
    /// # drop(app);
    /// ```
    pub fn router(&self) -> Router {
        Router::new()
            .route("/work", post(work))
            .route("/stats", get(stats))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/admin/outage", post(outage))
            .fallback(work)
            .with_state(self.clone())
    }

    /// Serves [`router`](Self::router) on `listener` until `shutdown`
    /// completes, then finishes the requests in flight and returns.
    ///
    /// # Errors
    ///
    /// An I/O error from the listener.
    ///
    /// # Cancellation safety
    ///
    /// Dropping the future closes the listener and every connection.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_demo::downstream::{Downstream, DownstreamConfig};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let service = Downstream::new(DownstreamConfig::default());
    /// // A shutdown signal that has already fired: serve returns at once.
    /// service.serve(listener, async {}).await.unwrap();
    /// # });
    /// ```
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// `POST /work`: outage check, latency, then the dice.
async fn work(State(service): State<Downstream>) -> Response {
    if service.begin_request() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "outage", None);
    }
    tokio::time::sleep(service.next_latency()).await;
    match service.roll() {
        Outcome::Ok => (StatusCode::OK, Json(serde_json::json!({"ok": true}))).into_response(),
        Outcome::Error => error(StatusCode::INTERNAL_SERVER_ERROR, "injected failure", None),
        Outcome::Busy(after) => error(StatusCode::SERVICE_UNAVAILABLE, "busy", Some(after)),
        // The dice never produce an outage; answer it the same way if they did.
        Outcome::Outage => error(StatusCode::SERVICE_UNAVAILABLE, "outage", None),
    }
}

/// A JSON error body, with `Retry-After` in whole seconds when given.
fn error(status: StatusCode, message: &str, retry_after: Option<Duration>) -> Response {
    let mut response = (status, Json(serde_json::json!({"error": message}))).into_response();
    if let Some(after) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(after.as_secs()));
    }
    response
}

/// `GET /stats`.
async fn stats(State(service): State<Downstream>) -> Json<Stats> {
    Json(service.stats())
}

/// Query of `POST /admin/outage`.
#[derive(Debug, Deserialize)]
struct OutageQuery {
    /// Seconds of outage from now; 0 ends the current one.
    secs: f64,
}

/// `POST /admin/outage?secs=N`: open (or, with 0, close) an outage window.
async fn outage(State(service): State<Downstream>, Query(q): Query<OutageQuery>) -> Response {
    if !q.secs.is_finite() || q.secs < 0.0 || q.secs > 86_400.0 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "secs must be in 0..=86400",
            None,
        );
    }
    if q.secs == 0.0 {
        service.end_outage();
    } else {
        service.start_outage(Duration::from_secs_f64(q.secs));
    }
    Json(service.stats()).into_response()
}
