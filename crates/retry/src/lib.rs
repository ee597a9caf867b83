//! Retries and timeouts that never panic, never exceed their caps, and never
//! stampede.
//!
//! # The pattern
//!
//! A transient failure is worth another try, after a pause that grows with
//! each failure and is randomised so that many clients do not retry in
//! lockstep. Every limit (attempts, delay, total time, share of traffic spent
//! on retries) must hold, and the caller must be able to stop it.
//!
//! # The naive version and how it fails
//!
//! ```text
//! async fn retry_with_backoff<T, E>(mut op: impl AsyncFnMut() -> Result<T, E>,
//!                                   max_attempts: u32) -> Result<T, E> {
//!     let mut delay = Duration::from_millis(100);
//!     for attempt in 0..max_attempts {
//!         match op().await {
//!             Ok(v) => return Ok(v),
//!             Err(e) if attempt + 1 == max_attempts => return Err(e),
//!             Err(_) => {}
//!         }
//!         sleep(delay).await;
//!         delay *= 2; // TODO: add jitter
//!     }
//!     unreachable!()
//! }
//! ```
//!
//! - `max_attempts == 0` skips the loop and hits `unreachable!()`: a panic.
//! - `delay *= 2` has no cap; after enough attempts `Duration` multiplication
//!   overflows and panics, long after the delays stopped making sense.
//! - No jitter: every client that failed together retries together, in waves
//!   that keep the overloaded server overloaded.
//! - Every error is retried, including permanent ones (a bad request fails
//!   identically every time).
//! - Nothing bounds the total time, and nothing can stop it: shutdown waits
//!   for the whole schedule.
//!
//! The usual crates each miss something: a cap applied *before* jitter lets a
//! delay reach twice the cap, and a clamp *after* it piles the delays onto
//! the cap, in lockstep again; a server's retry-after hint that bypasses the
//! attempt and time limits, or parks the caller for a day; no total-time
//! bound at all; defaults that retry forever.
//!
//! # Features
//!
//! - `tracing` (off by default): a `debug` event (target `evenkeel_retry`)
//!   for every retry [`retry`](fn@crate::retry) makes, with the attempt number and the delay.
//!
//! # How this crate fixes it
//!
//! - [`Backoff`] is an `Iterator<Item = Duration>` computed with saturating,
//!   clamped arithmetic: [`Jitter`] is drawn *within* the cap (so no delay
//!   exceeds it, and the delays at the cap stay spread out instead of piling
//!   onto it), `max_attempts` counts the first call (0 means one call, not a
//!   panic), and 10,000 delays at factor 10 just sit at the cap. Every limit
//!   has a bounded default (4 attempts; a server hint past 60 s stops), so a
//!   loop built with defaults ends. These invariants are property-tested.
//! - [`retry`](fn@crate::retry) runs an operation on that schedule with a classifier
//!   ([`Decision`]: retry, retry after a hint, stop), a per-attempt timeout,
//!   an overall deadline that no wait is allowed to cross, cancellation by
//!   any future, and a shared [`RetryBudget`] that keeps retries to a share
//!   of traffic. The result, [`RetryError`], says why it ended.
//! - [`retry_blocking`] runs the same schedule and classification in
//!   synchronous code.
//! - [`parse_retry_after`] reads a server's `Retry-After` in both of its
//!   forms (seconds or an HTTP-date), for classifiers and tower layers alike.
//! - [`timeout`](fn@crate::timeout) bounds one call and keeps "it failed" ([`TimeoutError::Inner`])
//!   apart from "it took too long" ([`TimeoutError::Elapsed`]).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use evenkeel_retry::{retry, Backoff, Decision, Jitter, RetryError};
//!
//! #[derive(Debug)]
//! enum ApiError { Unavailable, TooManyRequests(Duration), BadRequest }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let backoff = Backoff::exponential(Duration::from_millis(100))
//!     .jitter(Jitter::Full)
//!     .max_delay(Duration::from_secs(2))
//!     .max_attempts(5);
//! let mut calls = 0;
//! let result = retry(backoff, || {
//!     calls += 1;
//!     let call = calls;
//!     async move {
//!         match call {
//!             1 => Err(ApiError::Unavailable),
//!             2 => Err(ApiError::TooManyRequests(Duration::from_millis(500))),
//!             _ => Ok("done"),
//!         }
//!     }
//! })
//! .classify(|e| match e {
//!     ApiError::Unavailable => Decision::Retry,
//!     ApiError::TooManyRequests(after) => Decision::RetryAfter(*after),
//!     ApiError::BadRequest => Decision::Stop,
//! })
//! .attempt_timeout(Duration::from_secs(1))
//! .deadline(Duration::from_secs(10))
//! .await;
//! assert_eq!(result.ok(), Some("done"));
//!
//! let permanent = retry(Backoff::constant(Duration::ZERO), || async {
//!     Err::<(), _>(ApiError::BadRequest)
//! })
//! .when(|e| !matches!(e, ApiError::BadRequest))
//! .await;
//! assert!(matches!(permanent, Err(RetryError::Stopped { attempts: 1, .. })));
//! # }
//! ```

mod backoff;
mod blocking;
mod budget;
mod deadline;
mod decision;
mod error;
mod jitter;
mod presets;
mod retry;
mod retry_after;
mod run;
mod timeout;

pub use backoff::Backoff;
pub use blocking::retry_blocking;
pub use budget::RetryBudget;
pub use deadline::{FAR_FUTURE, deadline_after, saturating_deadline};
pub use decision::Decision;
pub use error::{RetryError, TimeoutError};
pub use jitter::Jitter;
pub use retry::{Retry, retry};
pub use retry_after::parse_retry_after;
pub use timeout::{Timeout, timeout};
