//! Lesson `middleware`: say "not now" at once, instead of making callers
//! wait for an answer that comes too late.
//!
//! # The problem
//!
//! A server that receives more requests than it can serve, or a client
//! whose dependency is down, must decide fast: a quick, typed refusal
//! ("overloaded, retry after 100 ms"; "circuit open, retry after 1 s")
//! lets the caller go elsewhere or come back later. A slow answer holds a
//! connection, a task and the caller's patience, and usually arrives after
//! the caller has given up.
//!
//! # The naive version
//!
//! [`naive`] uses tower's own pieces the usual way:
//!
//! 1. **`ConcurrencyLimit` queues.** Excess callers wait in `poll_ready`
//!    for a permit, for as long as it takes (tower#793). Under a steady 10x
//!    overload, the queue of waiting requests grows the whole time and
//!    every request is served eventually, seconds late, with no signal to
//!    the caller that it should back off. (Rejecting needs a `LoadShed` on
//!    top, whose error is an opaque `BoxError`.)
//! 2. **No circuit breaker.** tower has none, so a client keeps sending
//!    every call to a dependency that is down, and every caller waits for
//!    its failure.
//!
//! # The evenkeel version
//!
//! [`with_evenkeel`] uses [`evenkeel_middleware`] layers:
//!
//! 1. [`RateLimitLayer`] then [`BulkheadLayer`]: the rate limiter refuses
//!    what exceeds the rate with [`Error::RateLimited`] and the exact time
//!    until the next free slot; the bulkhead bounds concurrency and refuses
//!    the excess with [`Error::Overloaded`] and its retry-after hint. Both
//!    decide in `poll_ready` and answer in `call` at once: no queue, and
//!    every admitted request starts at once.
//! 2. [`CircuitBreakerLayer`]: once half the calls in its window fail, the
//!    breaker opens and fails calls fast with [`Error::CircuitOpen`] (and
//!    when to try again); after its open duration it lets one trial call
//!    through, and closes again once the dependency answers.
//!
//! Every refusal is one variant of one typed [`Error`], with
//! [`retry_after`](Error::retry_after) and [`status`](Error::status) (429
//! or 503): no downcasting.

mod client;
mod server;

use std::convert::Infallible;
use std::time::Duration;

use evenkeel_middleware::circuit_breaker::{Breaker, SlidingWindow};
use evenkeel_middleware::{BulkheadLayer, CircuitBreakerLayer, Error, RateLimitLayer};
use tower::ServiceBuilder;

use client::{Downstream, dependency};
use server::{Answer, Ledger, handler, overload};

/// The two situations both versions face.
///
/// # Example
///
/// ```
/// use evenkeel_examples::middleware::Scenario;
///
/// let s = Scenario::default();
/// assert_eq!(s.capacity_per_sec(), 100); // 10 at once, 100 ms each
/// assert_eq!(s.arrivals_per_sec(), 1_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Requests arriving at the server (part 1), one every `interarrival`.
    pub requests: u32,
    /// Time between two arrivals (parts 1 and 2).
    pub interarrival: Duration,
    /// Time the server's handler takes.
    pub handler_time: Duration,
    /// Requests the server may handle at once.
    pub max_concurrency: usize,
    /// The rate limit of the evenkeel server, per second.
    pub rate_per_sec: u32,
    /// Calls the client makes to its dependency (part 2).
    pub calls: u32,
    /// How long the dependency is down.
    pub outage: Duration,
    /// How long a call to the down dependency takes to fail.
    pub failure_time: Duration,
    /// How long an open breaker fails calls fast before a trial call.
    pub open_duration: Duration,
}

impl Default for Scenario {
    /// Part 1: 1,000 requests/s for 1 s at a server that can take 10 at
    /// once for 100 ms each (100/s); the evenkeel server also limits the
    /// rate to 100/s. Part 2: a call every 10 ms for 5 s to a dependency
    /// that is down for the first 3 s, failing each call after 500 ms; the
    /// breaker stays open 1 s at a time.
    fn default() -> Self {
        Self {
            requests: 1_000,
            interarrival: Duration::from_millis(1),
            handler_time: Duration::from_millis(100),
            max_concurrency: 10,
            rate_per_sec: 100,
            calls: 500,
            outage: Duration::from_secs(3),
            failure_time: Duration::from_millis(500),
            open_duration: Duration::from_secs(1),
        }
    }
}

impl Scenario {
    /// Requests per second the server's handler can finish.
    pub fn capacity_per_sec(&self) -> u64 {
        per_sec(self.max_concurrency as u64, self.handler_time)
    }

    /// Requests per second arriving at the server.
    pub fn arrivals_per_sec(&self) -> u64 {
        per_sec(1, self.interarrival)
    }
}

fn per_sec(count: u64, every: Duration) -> u64 {
    let nanos = every.as_nanos().max(1);
    u64::try_from(u128::from(count) * 1_000_000_000 / nanos).unwrap_or(u64::MAX)
}

/// What part 1 (the overloaded server) measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overload {
    /// Requests that arrived.
    pub requests: usize,
    /// Requests the handler served.
    pub served: usize,
    /// Requests refused by the rate limiter (429).
    pub rate_limited: usize,
    /// Requests refused by the concurrency limit (503).
    pub overloaded: usize,
    /// The longest retry-after hint a refusal carried.
    pub max_retry_after: Option<Duration>,
    /// The longest a request waited before its handler started.
    pub max_wait_before_handler: Duration,
    /// The most requests waiting at once for the handler (not yet started,
    /// not yet refused): connections held open with nothing happening.
    pub max_waiting: usize,
    /// The slowest answer (served or refused), from arrival.
    pub slowest_answer: Duration,
    /// Answers (served or refused) slower than one second.
    pub answered_after_1s: usize,
}

/// What part 2 (the client of a failing dependency) measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dependency {
    /// Calls the client made.
    pub calls: usize,
    /// Calls that reached the dependency.
    pub reached_dependency: usize,
    /// Calls that succeeded.
    pub succeeded: usize,
    /// Calls that failed after waiting for the dependency's failure.
    pub failed_slowly: usize,
    /// Calls failed fast by an open circuit.
    pub failed_fast: usize,
    /// Time callers spent waiting for failures, summed.
    pub time_waiting_for_failures: Duration,
}

/// What one version measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Part 1: the overloaded server.
    pub overload: Overload,
    /// Part 2: the client of a failing dependency.
    pub dependency: Dependency,
}

/// Both parts with tower alone: `ConcurrencyLimit` in front of the
/// handler, and the dependency called with no breaker.
///
/// Needs a tokio runtime with time enabled; on the paused clock the run is
/// exact and instant.
///
/// # Example
///
/// ```
/// use evenkeel_examples::middleware::{Scenario, naive};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let outcome = naive(&Scenario::default()).await;
/// assert_eq!(outcome.overload.served, 1_000); // every request, eventually
/// assert!(outcome.overload.max_wait_before_handler > std::time::Duration::from_secs(8));
/// assert_eq!(outcome.dependency.reached_dependency, 500); // no breaker
/// # }
/// ```
pub async fn naive(scenario: &Scenario) -> Outcome {
    let s = *scenario;
    let ledger = Ledger::default();
    let server = ServiceBuilder::new()
        .concurrency_limit(s.max_concurrency)
        .service_fn(handler(ledger.clone(), s.handler_time));
    let overload = overload(s, &ledger, server, |_: Result<(), Infallible>| {
        Answer::Served
    })
    .await;

    let downstream = Downstream::new(&s);
    let down = downstream.clone();
    let client = tower::service_fn(move |()| down.clone().call());
    let dependency = dependency(s, &downstream, client, |_: &std::io::Error| false).await;
    Outcome {
        overload,
        dependency,
    }
}

/// Both parts with `evenkeel-middleware`: `RateLimit` then `Bulkhead` in
/// front of the handler, a `CircuitBreaker` in front of the dependency.
///
/// Needs a tokio runtime with time enabled.
///
/// # Example
///
/// ```
/// use evenkeel_examples::middleware::{Scenario, with_evenkeel};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let outcome = with_evenkeel(&Scenario::default()).await;
/// assert_eq!(outcome.overload.max_wait_before_handler, std::time::Duration::ZERO);
/// assert!(outcome.dependency.failed_fast > 0);
/// # }
/// ```
///
/// # Panics
///
/// If `scenario` asks for a breaker threshold outside (0, 100]; the
/// default scenario's are constants within range.
pub async fn with_evenkeel(scenario: &Scenario) -> Outcome {
    let s = *scenario;
    let ledger = Ledger::default();
    let server = ServiceBuilder::new()
        .layer(RateLimitLayer::per_second(s.rate_per_sec))
        .layer(
            BulkheadLayer::builder(s.max_concurrency)
                .retry_after(s.handler_time)
                .build(),
        )
        .service_fn(handler(ledger.clone(), s.handler_time));
    let overload = overload(
        s,
        &ledger,
        server,
        |result: Result<(), Error<Infallible>>| match result {
            Err(Error::RateLimited { retry_after }) => Answer::RateLimited(retry_after),
            Err(e) => Answer::Overloaded(e.retry_after().unwrap_or_default()),
            Ok(()) => Answer::Served,
        },
    )
    .await;

    let downstream = Downstream::new(&s);
    let down = downstream.clone();
    let breaker = Breaker::builder()
        .sliding_window(SlidingWindow::Count(10))
        .minimum_calls(10)
        .failure_rate_threshold(50.0)
        .open_duration(s.open_duration)
        .half_open_calls(1)
        .build()
        // The scenario's thresholds are constants within range.
        .expect("a valid breaker configuration");
    let client = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker))
        .service_fn(move |()| down.clone().call());
    let dependency = dependency(s, &downstream, client, |e: &Error<std::io::Error>| {
        matches!(e, Error::CircuitOpen { .. })
    })
    .await;
    Outcome {
        overload,
        dependency,
    }
}
