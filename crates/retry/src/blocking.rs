//! [`retry_blocking`]: the same schedule and classification for synchronous
//! code, sleeping the current thread between attempts.
//!
//! No runtime, no timers: the loop asks the [`Backoff`] for the next delay
//! and calls `std::thread::sleep`. There is no deadline or cancellation here
//! (a blocked thread cannot be interrupted); bound the total wait with
//! [`Backoff::max_elapsed`] and the attempts with [`Backoff::max_attempts`].

use std::time::Duration;

use crate::{Backoff, Decision, RetryError};

/// Calls `operation` until it succeeds, `classify` says
/// [`Decision::Stop`], or `backoff` runs out, sleeping the current thread
/// for each delay. A [`Decision::RetryAfter`] hint replaces the delay and is
/// counted and capped exactly as in [`retry`](fn@crate::retry).
///
/// Do not call this on an async runtime's worker thread: it blocks it.
///
/// # Errors
///
/// [`RetryError::Stopped`] when `classify` says stop, [`RetryError::Exhausted`]
/// when the schedule runs out, [`RetryError::RetryAfterTooLong`] when a hint
/// is past [`Backoff::max_retry_after`]; never the time-, cancellation- or
/// budget-related variants.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use evenkeel_retry::{retry_blocking, Backoff, Decision, RetryError};
///
/// let mut calls = 0;
/// let r = retry_blocking(
///     Backoff::constant(Duration::from_millis(1)).max_attempts(5),
///     || {
///         calls += 1;
///         if calls < 3 { Err("locked") } else { Ok(calls) }
///     },
///     |e| if *e == "locked" { Decision::Retry } else { Decision::Stop },
/// );
/// assert_eq!(r, Ok(3));
///
/// let r = retry_blocking(Backoff::constant(Duration::ZERO), || Err::<(), _>("denied"), |_| Decision::Stop);
/// assert_eq!(r, Err(RetryError::Stopped { attempts: 1, last: "denied" }));
/// ```
pub fn retry_blocking<T, E>(
    mut backoff: Backoff,
    mut operation: impl FnMut() -> Result<T, E>,
    mut classify: impl FnMut(&E) -> Decision,
) -> Result<T, RetryError<E>> {
    let mut attempts: u32 = 0;
    loop {
        attempts = attempts.saturating_add(1);
        let last = match operation() {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        let hint = match classify(&last) {
            Decision::Retry => None,
            Decision::RetryAfter(after) if !backoff.accepts_retry_after(after) => {
                return Err(RetryError::RetryAfterTooLong {
                    attempts,
                    retry_after: after,
                    last,
                });
            }
            Decision::RetryAfter(after) => Some(after),
            Decision::Stop => return Err(RetryError::Stopped { attempts, last }),
        };
        let Some(delay) = backoff.next_delay(hint) else {
            return Err(RetryError::Exhausted { attempts, last });
        };
        if delay > Duration::ZERO {
            std::thread::sleep(delay);
        }
    }
}
