//! Lesson `timeouts`: what a timeout must keep, and what it must cover.
//!
//! # The problem
//!
//! Every call that crosses a network needs a time limit, or one stuck
//! dependency holds its caller, and its caller's caller, forever. But a
//! timeout written in a hurry answers "how long" and forgets three other
//! questions: what was the call doing when it failed, is the limit for one
//! attempt or for all of them, and does the clock run while the caller is
//! still waiting for a slot?
//!
//! # The naive versions, and how they fail
//!
//! 1. **A timeout that replaces the error.** The quick way to handle
//!    `tokio::time::timeout`'s nested result is to flatten it:
//!    `timeout(d, call).await.ok().and_then(Result::ok)`, or
//!    `.map_err(|_| "timed out")`. Both throw the call's own error away: a
//!    refused request (which retrying will not fix) and a slow one (which it
//!    may) come out the same, and the log line says nothing of which
//!    dependency, or which step of the call, was the problem.
//! 2. **One timeout around all the attempts.** Wrapping a retry loop in one
//!    `timeout` bounds the total, but the first attempt that hangs spends the
//!    whole budget: the loop never gets to the second attempt, which would
//!    have succeeded.
//! 3. **A timeout that starts in `call`.** A tower service is first asked
//!    whether it is ready (`poll_ready`), then called. A timeout wrapped
//!    around the call future alone (which is also where tower's own
//!    `Timeout` starts its clock) does not cover the wait for readiness: a
//!    concurrency limit whose slots are all held keeps the request waiting
//!    for as long as the slots are held, and the "timeout" never fires.
//!
//! # The evenkeel versions
//!
//! 1. [`evenkeel_retry::timeout`] keeps the two failures apart:
//!    `TimeoutError::Inner(e)` is the call's own error, intact, and
//!    `TimeoutError::Elapsed(d)` says how long it was given. Adding the
//!    context ("while calling inventory: ...") is then one `map_err`.
//! 2. [`evenkeel_retry::retry`] takes both limits: `attempt_timeout` for
//!    each attempt, so a hung attempt is abandoned and retried, and
//!    `deadline` for the whole loop, which no wait is allowed to cross.
//! 3. [`evenkeel_middleware::TimeoutLayer`] starts its clock when the
//!    service has to wait for readiness, so the time spent waiting for a
//!    slot counts against the same deadline as the call.

use std::fmt;
use std::time::Duration;

use evenkeel_middleware::TimeoutLayer;
use evenkeel_retry::{Backoff, TimeoutError, retry, timeout};
use tokio::time::{Instant, sleep};
use tower::limit::ConcurrencyLimitLayer;
use tower::{Layer, Service, ServiceExt, service_fn};

/// The numbers of the lesson.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use evenkeel_examples::timeouts::Scenario;
///
/// let s = Scenario::default();
/// assert_eq!(s.limit, Duration::from_secs(1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The time limit each version gives one call.
    pub limit: Duration,
    /// The total budget of a retried call (part 2).
    pub total: Duration,
    /// How long the dependency's first attempt hangs in part 2.
    pub hang: Duration,
    /// How long the slot of part 3 stays held by another request.
    pub slot_held: Duration,
}

impl Default for Scenario {
    /// A 1 s limit per call; a 3 s total budget for a retried call whose
    /// first attempt hangs for an hour; a concurrency slot held for a minute.
    fn default() -> Self {
        Scenario {
            limit: Duration::from_secs(1),
            total: Duration::from_secs(3),
            hang: Duration::from_secs(3600),
            slot_held: Duration::from_secs(60),
        }
    }
}

/// The dependency's own error: which step of the call failed, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallError {
    /// The step the call was in.
    pub step: &'static str,
    /// What the dependency said.
    pub message: &'static str,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.step, self.message)
    }
}

impl std::error::Error for CallError {}

/// A call to the inventory service that is refused at once (a permanent
/// error, worth no retry).
async fn refused_call() -> Result<u32, CallError> {
    sleep(Duration::from_millis(20)).await;
    Err(CallError {
        step: "reserve item 42",
        message: "403 forbidden",
    })
}

/// A call that hangs past any limit.
async fn hung_call() -> Result<u32, CallError> {
    sleep(Duration::from_secs(3600)).await;
    Ok(1)
}

/// What one version reported for part 1: the line it would log for each
/// of the two failing calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The line logged for the refused call.
    pub refused: String,
    /// The line logged for the hung call.
    pub hung: String,
    /// Whether the caller could tell "refused" from "too slow" in code.
    pub can_tell_apart: bool,
}

/// Part 1, naive: the nested result flattened into an `Option`.
pub async fn replaced(s: &Scenario) -> Report {
    let refused = tokio::time::timeout(s.limit, refused_call())
        .await
        .ok()
        .and_then(Result::ok);
    let hung = tokio::time::timeout(s.limit, hung_call())
        .await
        .ok()
        .and_then(Result::ok);
    let line = |r: Option<u32>| match r {
        Some(n) => format!("got {n}"),
        None => "inventory call failed or timed out".to_owned(),
    };
    Report {
        can_tell_apart: false,
        refused: line(refused),
        hung: line(hung),
    }
}

/// Part 1, evenkeel: the call's error kept, the elapsed case told apart,
/// context added at the boundary.
pub async fn wrapped(s: &Scenario) -> Report {
    let line = |r: Result<u32, TimeoutError<CallError>>| match r {
        Ok(n) => format!("got {n}"),
        Err(TimeoutError::Inner(e)) => format!("inventory: {e} (permanent, not retried)"),
        Err(e @ TimeoutError::Elapsed(_)) => format!("inventory: {e} (worth a retry)"),
    };
    let refused = timeout(s.limit, refused_call()).await;
    let hung = timeout(s.limit, hung_call()).await;
    Report {
        can_tell_apart: refused.as_ref().is_err_and(|e| !e.is_elapsed())
            && hung.as_ref().is_err_and(TimeoutError::is_elapsed),
        refused: line(refused),
        hung: line(hung),
    }
}

/// What a retried call ended with (part 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retried {
    /// The value, if the call succeeded.
    pub value: Option<u32>,
    /// Attempts started.
    pub attempts: u32,
    /// Virtual time until the caller had an answer.
    pub took: Duration,
}

/// A dependency whose first attempt hangs for `hang`, and whose later
/// attempts answer in 10 ms. Returns the attempt counter and the call.
fn flaky(
    hang: Duration,
) -> impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = Result<u32, CallError>> + Send>> {
    let mut attempt = 0_u32;
    move || {
        attempt += 1;
        let n = attempt;
        Box::pin(async move {
            if n == 1 {
                sleep(hang).await;
            } else {
                sleep(Duration::from_millis(10)).await;
            }
            Ok(n)
        })
    }
}

/// Part 2, naive: a hand-written retry loop inside one overall timeout.
pub async fn one_timeout_around_all(s: &Scenario) -> Retried {
    let start = Instant::now();
    let mut call = flaky(s.hang);
    let mut attempts = 0;
    let value = tokio::time::timeout(s.total, async {
        loop {
            attempts += 1;
            if let Ok(v) = call().await {
                return v;
            }
            sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .ok();
    Retried {
        value,
        attempts,
        took: start.elapsed(),
    }
}

/// Part 2, evenkeel: a per-attempt timeout inside the retry, and a deadline
/// over all of it.
pub async fn per_attempt_and_deadline(s: &Scenario) -> Retried {
    let start = Instant::now();
    let mut attempts = 0;
    let mut call = flaky(s.hang);
    let backoff = Backoff::exponential(Duration::from_millis(100)).max_attempts(5);
    let value = retry(backoff, || {
        attempts += 1;
        call()
    })
    .attempt_timeout(s.limit)
    .deadline(s.total)
    .await
    .ok();
    Retried {
        value,
        attempts,
        took: start.elapsed(),
    }
}

/// What a request through a service whose only slot is held got (part 3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waited {
    /// Whether the request's own timeout fired.
    pub timed_out: bool,
    /// Virtual time until the caller had an answer.
    pub took: Duration,
}

/// A service with one concurrency slot, held by another request for
/// `slot_held`. Returns the service for our request.
async fn busy_service(
    slot_held: Duration,
) -> impl Service<u32, Response = u32, Error = tower::BoxError, Future: Send> + Clone + Send {
    let svc = ConcurrencyLimitLayer::new(1).layer(service_fn(|n: u32| async move {
        sleep(Duration::from_millis(10)).await;
        Ok::<_, tower::BoxError>(n)
    }));
    // Another request takes the only slot (a ready `ConcurrencyLimit` holds
    // its permit until it is called or dropped) and keeps it for
    // `slot_held`: a slow client upload, a long query.
    let mut other = svc.clone();
    if other.ready().await.is_ok() {
        tokio::spawn(async move {
            sleep(slot_held).await;
            drop(other);
        });
    }
    svc
}

/// Part 3, naive: wait for readiness, then put the timeout around the call.
pub async fn timeout_around_call_only(s: &Scenario) -> Waited {
    let start = Instant::now();
    let mut svc = busy_service(s.slot_held).await;
    let timed_out = match svc.ready().await {
        Ok(ready) => tokio::time::timeout(s.limit, ready.call(1)).await.is_err(),
        Err(_) => false,
    };
    Waited {
        timed_out,
        took: start.elapsed(),
    }
}

/// Part 3, evenkeel: `TimeoutLayer` above the limit covers `poll_ready`.
pub async fn timeout_covering_readiness(s: &Scenario) -> Waited {
    let start = Instant::now();
    let svc = TimeoutLayer::new(s.limit).layer(busy_service(s.slot_held).await);
    let result = svc.oneshot(1).await;
    Waited {
        timed_out: result.is_err(),
        took: start.elapsed(),
    }
}
