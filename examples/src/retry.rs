//! Lesson `retry`: retrying a failing dependency without panicking, waiting
//! for ever, or stampeding it when it comes back.
//!
//! # The problem
//!
//! A dependency fails for a while. Clients should try again after a pause
//! that grows with each failure, within limits (attempts, longest pause,
//! total time), and must not all come back at the same instant: a server
//! that just recovered falls over again if every client retries together.
//!
//! # The naive version
//!
//! [`retry_with_backoff`] is the textbook loop: double a delay after each
//! failure, `unreachable!()` after the loop. [`naive`] runs it three ways:
//!
//! 1. **`max_attempts = 0` panics.** The loop body never runs and control
//!    reaches `unreachable!()`.
//! 2. **A long outage ends in a panic, after decades.** `delay *= 2` has no
//!    cap: the waits run to hours, then years (tokio caps one sleep at 30
//!    years; the schedule asked for far more), and after 68 waits the
//!    `Duration` multiplication overflows and panics. Nothing bounds the
//!    total time either.
//! 3. **No jitter means synchronized waves.** A hundred clients that failed
//!    together retry together: at 100 ms, 300 ms, 700 ms, 1.5 s, ... every
//!    client hits the server in the same instant. When the server comes
//!    back (it can take 20 calls per 10 ms), the first wave is 100 calls
//!    at once: 80 are refused as overload, and retry together again, twice
//!    as late. The herd needs wave after wave, for 25 seconds.
//!
//! # The evenkeel version
//!
//! [`with_evenkeel`] uses [`evenkeel_retry::retry`] with a
//! [`Backoff`] that has full jitter, a cap on each delay and a seed:
//!
//! - `max_attempts(0)` means one call (documented), never a panic;
//! - every delay is at most `max_delay` (after jitter too), and
//!   `.deadline(..)` bounds the whole retry: the long outage ends with
//!   `RetryError::TimedOut`, a value, within a minute;
//! - full jitter spreads each client's wait uniformly over `[0, delay]`,
//!   so the herd arrives as a trickle: the peak load in any 10 ms window
//!   stays a small fraction of the naive wave, the recovered server refuses
//!   almost nothing, and every client is done within a few seconds.
//!
//! Every client's jitter is seeded with its id, so the run is the same
//! every time.

mod server;

use std::sync::Arc;
use std::time::Duration;

use evenkeel_retry::{Backoff, Jitter, retry};
use tokio::task::JoinSet;
use tokio::time::sleep;

use server::Server;

/// The textbook retry loop, kept as it is usually written. **Do not use.**
///
/// Calls `op` up to `max_attempts` times, sleeping 100 ms after the first
/// failure and twice as long after each further one.
///
/// # Errors
///
/// The last attempt's error.
///
/// # Panics
///
/// When `max_attempts` is 0 (`unreachable!()`), and when the doubled delay
/// overflows `Duration` (after 68 waits). That is the lesson.
///
/// # Example
///
/// ```
/// use evenkeel_examples::retry::retry_with_backoff;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let zero = tokio::spawn(retry_with_backoff(|| async { Ok::<_, ()>(1) }, 0));
/// assert!(zero.await.unwrap_err().is_panic());
/// # }
/// ```
pub async fn retry_with_backoff<T, E, Op, Fut>(mut op: Op, max_attempts: u32) -> Result<T, E>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delay = Duration::from_millis(100);
    for attempt in 0..max_attempts {
        match op().await {
            Ok(value) => return Ok(value),
            Err(error) if attempt + 1 == max_attempts => return Err(error),
            Err(_) => {}
        }
        sleep(delay).await;
        delay *= 2; // no cap; "TODO: add jitter"
    }
    unreachable!("the loop always returns")
}

/// The dependency both versions call, and the herd that calls it.
///
/// # Example
///
/// ```
/// use evenkeel_examples::retry::Scenario;
///
/// let s = Scenario::default();
/// assert_eq!((s.clients, s.capacity_per_window), (100, 20));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Clients that failed together at the start of the outage.
    pub clients: usize,
    /// How long the dependency is down for the herd.
    pub outage: Duration,
    /// Calls the recovered dependency serves per window; the rest are
    /// refused as overload.
    pub capacity_per_window: usize,
    /// The window the capacity and the peak load are counted in.
    pub window: Duration,
    /// Attempts each herd client makes at most (the first call included).
    pub max_attempts: u32,
    /// The first delay (the naive loop's is fixed at 100 ms).
    pub initial: Duration,
    /// The cap on each delay (the evenkeel version only).
    pub max_delay: Duration,
    /// Attempts the lone client of the long outage is allowed.
    pub long_outage_attempts: u32,
    /// The total time the evenkeel version allows the long-outage retry.
    pub long_outage_deadline: Duration,
}

impl Default for Scenario {
    /// 100 clients, a 1 s outage, then 20 calls per 10 ms; up to 10
    /// attempts from 100 ms (evenkeel: full jitter, 2 s cap); a lone client
    /// allowed 100 attempts against a dependency that stays down (evenkeel:
    /// within 60 s).
    fn default() -> Self {
        Self {
            clients: 100,
            outage: Duration::from_secs(1),
            capacity_per_window: 20,
            window: Duration::from_millis(10),
            max_attempts: 10,
            initial: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            long_outage_attempts: 100,
            long_outage_deadline: Duration::from_secs(60),
        }
    }
}

/// How a retry ended when asked for zero attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZeroAttempts {
    /// Calls made to the dependency.
    pub calls: usize,
    /// How it ended: the panic message, or the returned error.
    pub ended: String,
    /// Whether it panicked.
    pub panicked: bool,
}

/// How a lone client fared against a dependency that never comes back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LongOutage {
    /// Calls made to the dependency.
    pub calls: usize,
    /// The longest wait between two calls.
    pub longest_wait: Duration,
    /// Time from the first call until the retry ended.
    pub gave_up_after: Duration,
    /// How it ended: the panic message, or the returned error.
    pub ended: String,
    /// Whether it panicked.
    pub panicked: bool,
}

/// How the herd fared against the dependency's outage and recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Herd {
    /// Clients in the herd.
    pub clients: usize,
    /// Clients whose retry ended in success.
    pub succeeded: usize,
    /// Calls made by all clients together.
    pub calls: usize,
    /// Calls the recovered dependency refused as overload.
    pub refused_overloaded: usize,
    /// The most calls that arrived within one window once the dependency
    /// was back up: the load the recovered server met.
    pub peak_calls_per_window: usize,
    /// The longest wait any client made between two calls.
    pub longest_wait: Duration,
    /// Time until the last client was done.
    pub all_done_after: Duration,
}

/// What one version measured in the three runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `max_attempts = 0`.
    pub zero_attempts: ZeroAttempts,
    /// A dependency that stays down.
    pub long_outage: LongOutage,
    /// A herd of clients through an outage and the recovery.
    pub herd: Herd,
}

/// Runs `fut` as its own task and says how it ended: its `Ok` flag and
/// message, or the panic message.
async fn run_to_end<T, E>(
    fut: impl Future<Output = Result<T, E>> + Send + 'static,
) -> (bool, String)
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    match tokio::spawn(fut).await {
        Ok(Ok(_)) => (false, "succeeded".into()),
        Ok(Err(error)) => (false, format!("returned an error: {error}")),
        Err(join) if join.is_panic() => {
            let payload = join.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(ToString::to_string)
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string panic".into());
            (true, format!("panicked: {message}"))
        }
        Err(_) => (false, "was cancelled".into()),
    }
}

/// Which retry loop a run uses.
#[derive(Clone, Copy, Debug)]
enum Version {
    Naive,
    Evenkeel,
}

fn backoff(scenario: &Scenario, attempts: u32, seed: u64) -> Backoff {
    Backoff::exponential(scenario.initial)
        .jitter(Jitter::Full)
        .max_delay(scenario.max_delay)
        .max_attempts(attempts)
        .seed(seed)
}

/// One client's retry against `server`, in the chosen version, to the end.
async fn client(
    version: Version,
    scenario: Scenario,
    server: Arc<Server>,
    id: usize,
    attempts: u32,
    deadline: Option<Duration>,
) -> (bool, String) {
    let op = move || {
        let server = Arc::clone(&server);
        async move { server.call(id) }
    };
    match version {
        Version::Naive => run_to_end(retry_with_backoff(op, attempts)).await,
        Version::Evenkeel => {
            let backoff = backoff(&scenario, attempts, id as u64);
            match deadline {
                Some(deadline) => run_to_end(retry(backoff, op).deadline(deadline)).await,
                None => run_to_end(retry(backoff, op)).await,
            }
        }
    }
}

async fn run(version: Version, scenario: &Scenario) -> Outcome {
    let never_up = || Server::new(None, scenario.capacity_per_window, scenario.window);

    let server = never_up();
    let (panicked, ended) = client(version, *scenario, Arc::clone(&server), 0, 0, None).await;
    let calls = server.log().calls.len();
    let zero_attempts = ZeroAttempts {
        calls,
        ended,
        panicked,
    };

    let server = never_up();
    let deadline = match version {
        Version::Naive => None,
        Version::Evenkeel => Some(scenario.long_outage_deadline),
    };
    let attempts = scenario.long_outage_attempts;
    let (panicked, ended) = client(
        version,
        *scenario,
        Arc::clone(&server),
        0,
        attempts,
        deadline,
    )
    .await;
    let calls = server.log().calls.len();
    let long_outage = LongOutage {
        calls,
        longest_wait: server.longest_wait(),
        gave_up_after: server.start.elapsed(),
        ended,
        panicked,
    };

    let server = Server::new(
        Some(scenario.outage),
        scenario.capacity_per_window,
        scenario.window,
    );
    let mut clients = JoinSet::new();
    for id in 0..scenario.clients {
        let run = client(
            version,
            *scenario,
            Arc::clone(&server),
            id,
            scenario.max_attempts,
            None,
        );
        clients.spawn(run);
    }
    let mut succeeded = 0;
    while let Some(joined) = clients.join_next().await {
        if matches!(joined, Ok((false, ref ended)) if ended == "succeeded") {
            succeeded += 1;
        }
    }
    let all_done_after = server.start.elapsed();
    let longest_wait = server.longest_wait();
    let log = server.log();
    let herd = Herd {
        clients: scenario.clients,
        succeeded,
        calls: log.calls.len(),
        refused_overloaded: log.overloaded,
        peak_calls_per_window: log.per_window.values().copied().max().unwrap_or(0),
        longest_wait,
        all_done_after,
    };
    drop(log);
    Outcome {
        zero_attempts,
        long_outage,
        herd,
    }
}

/// The three runs with the textbook [`retry_with_backoff`].
///
/// Needs a tokio runtime with time enabled; on the paused clock the runs
/// are exact and instant (the long outage lasts about a thousand virtual
/// years). Two of the runs panic inside their own task; the panics are
/// caught and reported, but the panic hook still prints them.
///
/// # Example
///
/// ```
/// use evenkeel_examples::retry::{Scenario, naive};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let outcome = naive(&Scenario::default()).await;
/// assert!(outcome.zero_attempts.panicked && outcome.long_outage.panicked);
/// assert_eq!(outcome.herd.peak_calls_per_window, 100); // the whole herd at once
/// # }
/// ```
pub async fn naive(scenario: &Scenario) -> Outcome {
    run(Version::Naive, scenario).await
}

/// The three runs with [`evenkeel_retry::retry`]: full jitter (seeded per
/// client), a cap on each delay, and a deadline for the long outage.
///
/// Needs a tokio runtime with time enabled.
///
/// # Example
///
/// ```
/// use evenkeel_examples::retry::{Scenario, with_evenkeel};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let s = Scenario::default();
/// let outcome = with_evenkeel(&s).await;
/// assert!(!outcome.zero_attempts.panicked && !outcome.long_outage.panicked);
/// assert!(outcome.herd.longest_wait <= s.max_delay);
/// assert_eq!(outcome.herd.succeeded, 100);
/// # }
/// ```
pub async fn with_evenkeel(scenario: &Scenario) -> Outcome {
    run(Version::Evenkeel, scenario).await
}
