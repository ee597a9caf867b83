//! The crate's errors: why a retry loop ended ([`RetryError`]) and why a
//! timed operation failed ([`TimeoutError`]).
//!
//! Both keep the caller's own error `E` intact (as a field and as the
//! `source()`), rather than flattening it into a string, and both say *why*
//! things ended, so a caller can match on "it failed" versus "it took too
//! long" versus "we were told to stop".

use std::time::Duration;

/// Why [`retry`](fn@crate::retry) gave up, with the number of attempts made and
/// the last error where there is one.
///
/// `attempts` counts calls of the operation, the first included.
///
/// ```
/// use std::time::Duration;
/// use evenkeel_retry::{retry, Backoff, RetryError};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let err = retry(Backoff::constant(Duration::ZERO).max_attempts(3), || async {
///     Err::<(), _>("down")
/// })
/// .await
/// .unwrap_err();
/// assert!(matches!(err, RetryError::Exhausted { attempts: 3, last: "down" }));
/// assert_eq!(err.attempts(), 3);
/// assert_eq!(err.into_inner(), Some("down"));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RetryError<E> {
    /// The backoff schedule ran out (`max_attempts` or `max_elapsed`) and the
    /// last attempt failed with `last`.
    #[error("gave up after {}", Attempts(*.attempts))]
    Exhausted {
        /// Calls made.
        attempts: u32,
        /// The last attempt's error.
        #[source]
        last: E,
    },
    /// The classifier said [`Decision::Stop`](crate::Decision::Stop): `last`
    /// is permanent and was not retried.
    #[error("permanent error on attempt {attempts}")]
    Stopped {
        /// Calls made.
        attempts: u32,
        /// The permanent error.
        #[source]
        last: E,
    },
    /// The deadline passed, or would have passed during the next wait, or the
    /// last allowed attempt hit its attempt timeout. `last` is the most recent
    /// error the operation returned, if any did.
    #[error("timed out after {}", Attempts(*.attempts))]
    TimedOut {
        /// Calls made.
        attempts: u32,
        /// The most recent error returned by the operation.
        #[source]
        last: Option<E>,
    },
    /// The cancellation future completed, during an attempt or a wait.
    #[error("cancelled after {}", Attempts(*.attempts))]
    Cancelled {
        /// Calls made (an attempt interrupted by cancellation counts).
        attempts: u32,
        /// The most recent error returned by the operation.
        #[source]
        last: Option<E>,
    },
    /// The server asked for a wait longer than the backoff's
    /// [`max_retry_after`](crate::Backoff::max_retry_after) (a
    /// [`Decision::RetryAfter`](crate::Decision::RetryAfter) past it), so the
    /// loop stopped instead of parking the caller. `retry_after` is the hint,
    /// for a caller that wants to schedule the work for later.
    #[error("server asked to retry after {retry_after:?}, longer than allowed, after {}", Attempts(*.attempts))]
    RetryAfterTooLong {
        /// Calls made.
        attempts: u32,
        /// The hint the server gave.
        retry_after: Duration,
        /// The error that carried the hint.
        #[source]
        last: E,
    },
    /// The [`RetryBudget`](crate::RetryBudget) refused the next retry.
    #[error("retry budget exhausted after {}", Attempts(*.attempts))]
    BudgetExhausted {
        /// Calls made.
        attempts: u32,
        /// The last attempt's error.
        #[source]
        last: Option<E>,
    },
}

impl<E> RetryError<E> {
    /// The number of calls made, the first included.
    ///
    /// ```
    /// use evenkeel_retry::RetryError;
    ///
    /// let e = RetryError::<()>::Cancelled { attempts: 2, last: None };
    /// assert_eq!(e.attempts(), 2);
    /// ```
    pub fn attempts(&self) -> u32 {
        match self {
            RetryError::Exhausted { attempts, .. }
            | RetryError::Stopped { attempts, .. }
            | RetryError::TimedOut { attempts, .. }
            | RetryError::Cancelled { attempts, .. }
            | RetryError::RetryAfterTooLong { attempts, .. }
            | RetryError::BudgetExhausted { attempts, .. } => *attempts,
        }
    }

    /// The last error the operation returned, if there is one.
    ///
    /// ```
    /// use evenkeel_retry::RetryError;
    ///
    /// let e = RetryError::Stopped { attempts: 1, last: "bad request" };
    /// assert_eq!(e.last(), Some(&"bad request"));
    /// ```
    pub fn last(&self) -> Option<&E> {
        match self {
            RetryError::Exhausted { last, .. }
            | RetryError::Stopped { last, .. }
            | RetryError::RetryAfterTooLong { last, .. } => Some(last),
            RetryError::TimedOut { last, .. }
            | RetryError::Cancelled { last, .. }
            | RetryError::BudgetExhausted { last, .. } => last.as_ref(),
        }
    }

    /// Consumes the error, giving the last error the operation returned, if
    /// there is one.
    ///
    /// ```
    /// use evenkeel_retry::RetryError;
    ///
    /// let e = RetryError::<&str>::TimedOut { attempts: 0, last: None };
    /// assert_eq!(e.into_inner(), None);
    /// ```
    pub fn into_inner(self) -> Option<E> {
        match self {
            RetryError::Exhausted { last, .. }
            | RetryError::Stopped { last, .. }
            | RetryError::RetryAfterTooLong { last, .. } => Some(last),
            RetryError::TimedOut { last, .. }
            | RetryError::Cancelled { last, .. }
            | RetryError::BudgetExhausted { last, .. } => last,
        }
    }
}

/// The error of [`timeout`](fn@crate::timeout): the operation either failed on
/// its own (`Inner`) or took longer than allowed (`Elapsed`).
///
/// This *wraps* the operation's error instead of replacing it: `?` on a
/// timed-out call cannot mistake a slow request for a failed one, and the
/// operation's error stays available (as the field and as `source()`).
///
/// ```
/// use std::time::Duration;
/// use evenkeel_retry::{timeout, TimeoutError};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let failed = timeout(Duration::from_secs(1), async { Err::<(), _>("refused") }).await;
/// assert!(matches!(failed, Err(TimeoutError::Inner("refused"))));
/// let slow = timeout(Duration::from_secs(1), std::future::pending::<Result<(), ()>>()).await;
/// assert!(matches!(slow, Err(TimeoutError::Elapsed(d)) if d == Duration::from_secs(1)));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeoutError<E> {
    /// The operation did not finish within the given duration (carried here).
    #[error("operation timed out after {0:?}")]
    Elapsed(Duration),
    /// The operation finished in time, with this error.
    #[error("operation failed")]
    Inner(#[source] E),
}

impl<E> TimeoutError<E> {
    /// True if the operation ran out of time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::TimeoutError;
    ///
    /// assert!(TimeoutError::<()>::Elapsed(Duration::ZERO).is_elapsed());
    /// assert!(!TimeoutError::Inner(()).is_elapsed());
    /// ```
    pub fn is_elapsed(&self) -> bool {
        matches!(self, TimeoutError::Elapsed(_))
    }

    /// The operation's own error, if it failed rather than timed out.
    ///
    /// ```
    /// use evenkeel_retry::TimeoutError;
    ///
    /// assert_eq!(TimeoutError::Inner(5).into_inner(), Some(5));
    /// ```
    pub fn into_inner(self) -> Option<E> {
        match self {
            TimeoutError::Elapsed(_) => None,
            TimeoutError::Inner(e) => Some(e),
        }
    }
}

/// An attempt count that reads as English in error messages: "1 attempt",
/// "3 attempts".
struct Attempts(u32);

impl std::fmt::Display for Attempts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            1 => f.write_str("1 attempt"),
            n => write!(f, "{n} attempts"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RetryError;

    /// Messages say "1 attempt" and "2 attempts", never "1 attempts".
    #[test]
    fn messages_pluralise_attempts() {
        let one: RetryError<&str> = RetryError::Exhausted {
            attempts: 1,
            last: "x",
        };
        assert_eq!(one.to_string(), "gave up after 1 attempt");
        let two: RetryError<&str> = RetryError::TimedOut {
            attempts: 2,
            last: None,
        };
        assert_eq!(two.to_string(), "timed out after 2 attempts");
    }
}
