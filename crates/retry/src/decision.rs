//! [`Decision`]: what a classifier says about a failed attempt.
//!
//! Retrying every error is the textbook mistake: a `400 Bad Request` or a
//! "permission denied" fails identically on every attempt, and retrying it
//! only adds load. A classifier looks at the error and decides.

use std::time::Duration;

/// The verdict on one failed attempt, returned by the classifier given to
/// [`Retry::classify`](crate::Retry::classify) (and used by other runners,
/// such as a tower retry layer).
///
/// ```
/// use std::time::Duration;
/// use evenkeel_retry::Decision;
///
/// enum HttpError { Status(u16, Option<Duration>) }
///
/// fn classify(e: &HttpError) -> Decision {
///     match e {
///         HttpError::Status(429 | 503, Some(after)) => Decision::RetryAfter(*after),
///         HttpError::Status(500..=599 | 429, _) => Decision::Retry,
///         HttpError::Status(..) => Decision::Stop,
///     }
/// }
/// assert_eq!(classify(&HttpError::Status(404, None)), Decision::Stop);
/// assert_eq!(classify(&HttpError::Status(502, None)), Decision::Retry);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Transient: retry after the backoff's next delay.
    Retry,
    /// Transient, and the server said when: retry after this delay instead of
    /// the backoff's. The hint still uses up one of the backoff's delays (so
    /// it counts against `max_attempts` and `max_elapsed`) and is capped at
    /// `max_delay`. A hint longer than the backoff's `max_retry_after`
    /// (default 60 s) stops the loop with `RetryError::RetryAfterTooLong`
    /// instead of parking the caller. A hint that would end past the deadline ends the loop
    /// with `RetryError::TimedOut` at once: retrying earlier than the server
    /// asked is pointless, and waiting until the deadline would leave no time
    /// for the attempt.
    RetryAfter(Duration),
    /// Permanent: do not retry.
    Stop,
}
