//! How the load generator waits after a rejection: an
//! [`evenkeel_retry::Backoff`] per job, with the server's `Retry-After` as
//! a floor.
//!
//! A polite client that gets `503` or `429` with `Retry-After: N` does not
//! come back before N seconds. If every client came back at exactly N,
//! though, they would all arrive together and be rejected together again (a
//! thundering herd), so the wait is N *plus* the schedule's next jittered
//! delay: the hint is a floor, the jitter only spreads clients out after
//! it. Without a hint (a transport error, a 503 from an outage) the wait is
//! the schedule's delay alone, exponential from `initial` with full jitter.
//! Every wait is capped by `max`, which also protects the demo from an
//! absurd hint such as `Retry-After: 86400`, and the schedule ends after
//! the job's allowed retries, hint or not: the project's own retry crate
//! does the counting, the capping and the jitter.

use std::time::Duration;

use evenkeel_retry::{Backoff, Jitter};

/// The shape of the waits between a rejected request and its next attempt.
///
/// # Defaults
///
/// `initial` 100 ms, `jitter` [`Jitter::Full`], `max` 5 s.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use evenkeel_demo::load::BackoffPolicy;
///
/// let policy = BackoffPolicy::default();
/// assert_eq!(policy.max, Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackoffPolicy {
    /// The first wait when the server gave no hint; doubles per attempt.
    pub initial: Duration,
    /// How each delay of the schedule is randomised.
    pub jitter: Jitter,
    /// Upper bound of every wait, hint or not.
    pub max: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            jitter: Jitter::Full,
            max: Duration::from_secs(5),
        }
    }
}

impl BackoffPolicy {
    /// One job's schedule: at most `retries` waits, exponential from
    /// `initial`, jittered, capped at `max`, its randomness from `seed`.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_demo::load::BackoffPolicy;
    /// use evenkeel_retry::Jitter;
    ///
    /// let policy = BackoffPolicy { jitter: Jitter::None, ..BackoffPolicy::default() };
    /// let waits: Vec<Duration> = policy.schedule(3, 1).collect();
    /// assert_eq!(waits, [100, 200, 400].map(Duration::from_millis));
    /// ```
    pub fn schedule(&self, retries: u32, seed: u64) -> Backoff {
        Backoff::exponential(self.initial)
            .max_delay(self.max)
            .jitter(self.jitter)
            .max_attempts(retries.saturating_add(1))
            .seed(seed)
    }

    /// The wait before the next retry, given the server's `Retry-After`
    /// hint if it sent one; `None` when the schedule has no retry left.
    ///
    /// The result is `min(max, hint + d)` with `d` the schedule's next
    /// delay, or `d` alone without a hint.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_demo::load::BackoffPolicy;
    ///
    /// let policy = BackoffPolicy::default();
    /// let mut schedule = policy.schedule(1, 7);
    /// let wait = policy.wait(&mut schedule, Some(Duration::from_secs(2))).unwrap();
    /// assert!(wait >= Duration::from_secs(2) && wait <= Duration::from_millis(2_100));
    /// assert_eq!(policy.wait(&mut schedule, None), None, "one retry only");
    /// ```
    pub fn wait(&self, schedule: &mut Backoff, hint: Option<Duration>) -> Option<Duration> {
        let delay = schedule.next()?;
        let wait = hint.map_or(delay, |hint| hint.saturating_add(delay));
        Some(wait.min(self.max))
    }
}
