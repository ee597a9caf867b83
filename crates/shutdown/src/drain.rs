//! The drain: stop intake, wait for the guards, report.
//!
//! `drain` triggers, waits out what is left of the pre-drain delay (counted
//! from the trigger and cut at the deadline), sets the draining bit (from
//! then on `guard()` refuses; see `word.rs` for why that is race-free), and
//! waits for the drain to complete (the drained bit, set exactly once when
//! the count reaches zero) or the deadline to pass.

use std::time::Duration;

use tokio::time::Instant;

use crate::{Phase, Reason, Shutdown, trace};

/// What [`Shutdown::drain`] found.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use evenkeel_shutdown::{DrainReport, Shutdown};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let shutdown = Shutdown::new();
/// let _stuck = shutdown.guard().unwrap();
/// let report = shutdown.drain(Duration::from_secs(2)).await;
/// assert_eq!(
///     report,
///     DrainReport::TimedOut { elapsed: Duration::from_secs(2), outstanding: 1 }
/// );
/// assert!(!report.is_complete());
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DrainReport {
    /// Every guard and tracked task finished in time.
    Complete {
        /// Time from the `drain` call until the last one finished.
        elapsed: Duration,
    },
    /// The deadline passed with work still running.
    TimedOut {
        /// Time from the `drain` call until the deadline.
        elapsed: Duration,
        /// How many guards and tracked tasks were still running.
        outstanding: usize,
    },
}

impl DrainReport {
    /// Whether everything finished in time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_shutdown::DrainReport;
    ///
    /// assert!(DrainReport::Complete { elapsed: Duration::ZERO }.is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        matches!(self, Self::Complete { .. })
    }

    /// How long the drain took.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_shutdown::DrainReport;
    ///
    /// let report = DrainReport::TimedOut { elapsed: Duration::from_secs(3), outstanding: 2 };
    /// assert_eq!(report.elapsed(), Duration::from_secs(3));
    /// ```
    pub fn elapsed(&self) -> Duration {
        match self {
            Self::Complete { elapsed } | Self::TimedOut { elapsed, .. } => *elapsed,
        }
    }

    /// How many guards and tasks were still running (0 when complete).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_shutdown::DrainReport;
    ///
    /// let report = DrainReport::TimedOut { elapsed: Duration::from_secs(3), outstanding: 2 };
    /// assert_eq!(report.outstanding(), 2);
    /// ```
    pub fn outstanding(&self) -> usize {
        match self {
            Self::Complete { .. } => 0,
            Self::TimedOut { outstanding, .. } => *outstanding,
        }
    }
}

impl Shutdown {
    /// Triggers (with [`Reason::Requested`]) if nothing triggered yet, waits
    /// out the rest of the pre-drain delay, stops intake (new guards are
    /// refused from here on), and waits for every guard and tracked task of
    /// this scope and its children to finish.
    ///
    /// `deadline` bounds the whole call, pre-drain delay included: the call
    /// returns after at most `deadline`, with [`DrainReport::Complete`] or with
    /// [`DrainReport::TimedOut`] and the number still running. The pre-drain
    /// delay counts from the trigger, so time spent between the trigger and
    /// this call is not waited twice. If the delay is longer than the
    /// deadline, intake stops at the deadline.
    ///
    /// Outstanding work is not cancelled: pass it [`triggered`](Shutdown::triggered)
    /// or [`token`](Shutdown::token) to make it wind down, and decide what to do
    /// with what is left (spill it) when the report says `TimedOut`.
    ///
    /// # Cancellation safety
    ///
    /// Dropping the future does not reopen intake: once the drain has begun it
    /// stays begun. Calling `drain` again waits again (without a second
    /// pre-drain delay). Several concurrent drains all see the same end.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_shutdown::{DrainReport, Shutdown};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let shutdown = Shutdown::new();
    /// let guard = shutdown.guard().unwrap();
    /// let worker = shutdown.triggered();
    /// tokio::spawn(async move {
    ///     worker.await; // told to stop
    ///     tokio::time::sleep(Duration::from_millis(300)).await; // finishes its item
    ///     drop(guard);
    /// });
    /// let report = shutdown.drain(Duration::from_secs(5)).await;
    /// assert_eq!(report, DrainReport::Complete { elapsed: Duration::from_millis(300) });
    /// # }
    /// ```
    pub async fn drain(&self, deadline: Duration) -> DrainReport {
        let start = Instant::now();
        let end = saturating_add(start, deadline);
        self.trigger(Reason::Requested);
        let word = &self.inner.word;

        if !word.is_draining() {
            let intake_stops = self
                .inner
                .triggered_at()
                .map_or(start, |at| saturating_add(at, self.inner.pre_drain_delay))
                .min(end);
            if intake_stops > Instant::now() {
                tokio::time::sleep_until(intake_stops).await;
            }
        }
        self.stop_intake();

        let finished = tokio::time::timeout_at(end, self.drained()).await.is_ok();
        let elapsed = start.elapsed();
        let outstanding = word.outstanding();
        let report = if finished || word.is_drained() {
            DrainReport::Complete { elapsed }
        } else {
            trace::timed_out(outstanding, elapsed);
            DrainReport::TimedOut {
                elapsed,
                outstanding,
            }
        };
        self.mark_done();
        report
    }
}

impl Shutdown {
    /// Stops intake now, from synchronous code, without waiting: triggers
    /// (with [`Reason::Requested`] if nothing triggered yet), cuts short what
    /// is left of the pre-drain delay, and sets the draining bit, so the
    /// phase is [`Phase::Draining`] and new guards are refused from here on.
    /// Returns whether this call began the drain.
    ///
    /// Whatever waits for [`Phase::Draining`] (an `evenkeel-tasks`
    /// supervisor stopping its children, a `wait_for_phase`) proceeds; a
    /// later [`drain`](Shutdown::drain) waits for the guards without a
    /// pre-drain delay.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_shutdown::{Phase, Shutdown};
    ///
    /// let shutdown = Shutdown::builder().pre_drain_delay(Duration::from_secs(5)).build();
    /// assert!(shutdown.stop_intake());
    /// assert_eq!(shutdown.phase(), Phase::Draining);
    /// assert!(shutdown.guard().is_err());
    /// assert!(!shutdown.stop_intake(), "the drain began once");
    /// ```
    pub fn stop_intake(&self) -> bool {
        self.trigger(Reason::Requested);
        let (first, _completed) = self.inner.word.begin_drain();
        if first {
            self.announce(Phase::Draining);
        }
        first
    }

    /// Waits until this scope's drain has completed. Registers for the
    /// wake-up before reading the word, so a completion in between is not
    /// missed.
    async fn drained(&self) {
        loop {
            let notified = self.inner.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.inner.word.is_drained() {
                return;
            }
            notified.await;
        }
    }
}

/// `at + duration`, or a point some thirty years out when that overflows (as
/// with `Duration::MAX`, "no deadline"): later than any real deadline.
fn saturating_add(at: Instant, duration: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);
    at.checked_add(duration)
        .or_else(|| at.checked_add(FAR))
        .unwrap_or(at)
}
