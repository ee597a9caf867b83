//! The limits of a [`Backoff`]: how many attempts, how much waiting, and how
//! long a server may ask us to wait; and the hint-taking step that runners
//! use so that a server's retry-after never bypasses them.
//!
//! Every limit has a bounded default. A retry loop built with defaults must
//! end: an unbounded default is how a client ends up hammering a dead
//! dependency for hours, or parked for a day because a server answered
//! `Retry-After: 86400`.

use std::time::Duration;

use super::{Backoff, to_nanos};

impl Backoff {
    /// The default of [`max_attempts`](Backoff::max_attempts): 4 attempts,
    /// the first call and 3 retries.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::Backoff;
    ///
    /// assert_eq!(Backoff::DEFAULT_MAX_ATTEMPTS, 4);
    /// assert_eq!(Backoff::constant(Duration::ZERO).count(), 3); // 3 retries
    /// ```
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;

    /// The default of [`max_retry_after`](Backoff::max_retry_after): 60 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::Backoff;
    ///
    /// assert_eq!(Backoff::DEFAULT_MAX_RETRY_AFTER, Duration::from_secs(60));
    /// ```
    pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

    /// Limits the number of attempts, counting the first call: the schedule
    /// yields at most `n - 1` delays. `0` and `1` both mean a single call (no
    /// delay at all).
    ///
    /// Default: [`DEFAULT_MAX_ATTEMPTS`](Backoff::DEFAULT_MAX_ATTEMPTS) = 4,
    /// the first call plus 3 retries. That is the retry count backon
    /// (`max_times: 3`) and Polly (`MaxRetryAttempts = 3`) default to, so a
    /// loop moved from either keeps its behaviour; it gives a transient
    /// fault (a restart, a failover) three chances on a growing delay while
    /// bounding the extra load on a dependency that is really down to 3×.
    /// Use [`without_max_attempts`](Backoff::without_max_attempts) for a
    /// schedule that never ends on its own (a reconnect loop bounded by
    /// something else).
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::Backoff;
    ///
    /// let b = || Backoff::constant(Duration::from_millis(1));
    /// assert_eq!(b().max_attempts(3).count(), 2);
    /// assert_eq!(b().max_attempts(1).count(), 0);
    /// assert_eq!(b().max_attempts(0).count(), 0);
    /// assert_eq!(b().count(), 3); // the default: 4 attempts
    /// ```
    #[must_use]
    #[inline]
    pub fn max_attempts(mut self, n: u32) -> Self {
        // 0 and 1 both mean one call: store 1, which is never zero.
        self.c.max_attempts = n.max(1);
        self
    }

    /// Removes the attempt limit: the schedule never ends on its own (only
    /// [`max_elapsed`](Backoff::max_elapsed), if set, ends it). Meant for
    /// loops bounded elsewhere, such as a supervisor's restart intensity or
    /// a runner's deadline; a plain retry loop wants a limit.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::Backoff;
    ///
    /// let endless = Backoff::constant(Duration::from_millis(1)).without_max_attempts();
    /// assert_eq!(endless.take(1_000).count(), 1_000);
    /// ```
    #[must_use]
    #[inline]
    pub fn without_max_attempts(mut self) -> Self {
        self.c.max_attempts = 0;
        self
    }

    /// Limits the *sum of the delays*: the schedule ends rather than yield a
    /// delay that would take the total past `d`. Time spent inside attempts is
    /// not counted here; use [`Retry::deadline`](crate::Retry::deadline) for a
    /// wall-clock bound. Default: unlimited (the attempt limit ends the
    /// schedule).
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::Backoff;
    ///
    /// let s = Duration::from_secs;
    /// let delays: Vec<_> = Backoff::exponential(s(1)).max_attempts(10).max_elapsed(s(10)).collect();
    /// assert_eq!(delays, [s(1), s(2), s(4)]); // 1 + 2 + 4 + 8 would be 15 > 10
    /// ```
    #[must_use]
    #[inline]
    pub fn max_elapsed(mut self, d: Duration) -> Self {
        self.c.max_elapsed = to_nanos(d);
        self
    }

    /// The longest server retry-after hint that is honoured. A longer hint
    /// (`Retry-After: 86400`, a day) *stops* the retries: the runner returns
    /// the last error, carrying the hint, instead of parking the caller, and
    /// the caller decides what a day's wait means. A shorter one is slept on
    /// (capped at `max_delay`, as every delay is).
    ///
    /// Default: [`DEFAULT_MAX_RETRY_AFTER`](Backoff::DEFAULT_MAX_RETRY_AFTER)
    /// = 60 s, long enough for a rate limiter's window or a rolling restart,
    /// short enough that a request is still worth finishing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::Backoff;
    ///
    /// let s = Duration::from_secs;
    /// let mut b = Backoff::constant(s(1)).max_retry_after(s(30));
    /// assert!(b.accepts_retry_after(s(30)));
    /// assert!(!b.accepts_retry_after(s(31)));
    /// assert_eq!(b.next_retry_after(s(86_400)), None); // stop, do not sleep a day
    /// ```
    #[must_use]
    #[inline]
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.c.max_retry_after = to_nanos(d);
        self
    }

    /// Whether a server's retry-after `hint` is within
    /// [`max_retry_after`](Backoff::max_retry_after), so that a runner should
    /// honour it rather than stop. Runners check it to report *why* they
    /// stopped (this crate's [`retry`](fn@crate::retry) ends with
    /// [`RetryError::RetryAfterTooLong`](crate::RetryError::RetryAfterTooLong)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::Backoff;
    ///
    /// let b = Backoff::constant(Duration::from_secs(1));
    /// assert!(b.accepts_retry_after(Duration::from_secs(60)));
    /// assert!(!b.accepts_retry_after(Duration::from_secs(86_400)));
    /// ```
    #[inline]
    pub fn accepts_retry_after(&self, hint: Duration) -> bool {
        to_nanos(hint) <= self.c.max_retry_after
    }

    /// Takes the next step of the schedule for a server's retry-after hint:
    /// returns `hint` capped at `max_delay` instead of the schedule's own
    /// delay, or `None` if the schedule is over or the hint is longer than
    /// [`max_retry_after`](Backoff::max_retry_after) (then the schedule does
    /// not advance: the caller is expected to stop). An honoured step counts
    /// against `max_attempts` and `max_elapsed`, exactly as
    /// [`next`](Iterator::next) would, so a hint can never bypass them. This
    /// is what [`Decision::RetryAfter`](crate::Decision::RetryAfter) does in
    /// [`retry`](fn@crate::retry); custom runners (a tower layer, say) should
    /// use it rather than sleep on the raw hint.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::Backoff;
    ///
    /// let s = Duration::from_secs;
    /// let mut b = Backoff::exponential(s(1)).max_delay(s(30)).max_attempts(3);
    /// assert_eq!(b.next_retry_after(s(45)), Some(s(30))); // honoured, capped
    /// assert_eq!(b.next(), Some(s(2)));                   // the schedule moved on
    /// assert_eq!(b.next_retry_after(s(1)), None);         // 3 attempts used up
    /// ```
    pub fn next_retry_after(&mut self, hint: Duration) -> Option<Duration> {
        if !self.accepts_retry_after(hint) {
            return None;
        }
        self.next_delay(Some(hint))
    }
}
