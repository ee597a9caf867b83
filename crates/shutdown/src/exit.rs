//! The process exit code: what the shutdown *achieved*, not what started it.
//!
//! A service that receives SIGTERM, drains every accepted job in time and
//! exits is a success: an orchestrator, a CI job or a dashboard that sees 143
//! ("killed by SIGTERM") counts a clean stop as a crash. So the code comes
//! from the [`Outcome`] of the drain (drained in time, timed out, forced),
//! with the trigger's [`Reason`] consulted only for the program's own
//! failures. The shell's `128 + N` convention ("stopped by signal N") is
//! still there, as an explicit choice: [`ExitCodes::SignalConvention`].

use crate::{DrainReport, Reason, Shutdown};

/// How a shutdown ended, as far as the exit code is concerned.
///
/// Build it from a [`DrainReport`] (`Outcome::from(&report)`), or use
/// [`Outcome::Forced`] when [`Shutdown::forced`] won the race against the
/// drain.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use evenkeel_shutdown::{DrainReport, Outcome};
///
/// let report = DrainReport::TimedOut { elapsed: Duration::from_secs(20), outstanding: 3 };
/// assert_eq!(Outcome::from(&report), Outcome::TimedOut);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// Every guard and tracked task finished before the deadline.
    Drained,
    /// The drain's deadline passed with work still running.
    TimedOut,
    /// The drain was abandoned: a second signal, or [`Shutdown::force`].
    Forced,
}

impl Outcome {
    /// The exit code of a drain that timed out: `124`, the code GNU
    /// `timeout(1)` uses when the time ran out (the same value as
    /// [`Reason::EXIT_DEADLINE_EXCEEDED`]).
    pub const EXIT_TIMED_OUT: i32 = Reason::EXIT_DEADLINE_EXCEEDED;
    /// The exit code of a forced shutdown: `137` (`128 + SIGKILL`), because
    /// abandoning the drain is what the orchestrator's SIGKILL would have
    /// done (the same value as [`Reason::EXIT_FORCED`]).
    pub const EXIT_FORCED: i32 = Reason::EXIT_FORCED;
}

impl From<&DrainReport> for Outcome {
    fn from(report: &DrainReport) -> Self {
        match report {
            DrainReport::Complete { .. } => Self::Drained,
            DrainReport::TimedOut { .. } => Self::TimedOut,
        }
    }
}

impl From<DrainReport> for Outcome {
    fn from(report: DrainReport) -> Self {
        Self::from(&report)
    }
}

/// Which table turns a shutdown into a process exit code.
///
/// | trigger's reason | drained in time | timed out | forced |
/// |---|---|---|---|
/// | [`Requested`](Reason::Requested), a [`Signal`](Reason::Signal), [`Forced`](Reason::Forced) | `0` | `124` | `137` |
/// | the same, with [`SignalConvention`](ExitCodes::SignalConvention) and a signal | `128 + N` (130 SIGINT, 143 SIGTERM) | `124` | `137` |
/// | [`DeadlineExceeded`](Reason::DeadlineExceeded) (a run-time budget ran out) | `124` | `124` | `137` |
/// | [`Fatal`](Reason::Fatal) (the program failed) | `1` | `1` | `1` |
///
/// The constants are [`Outcome::EXIT_TIMED_OUT`] (124),
/// [`Outcome::EXIT_FORCED`] (137) and [`Reason::EXIT_FATAL`] (1). A fatal
/// error wins over everything (the run failed, however well it stopped);
/// then a forced or timed-out drain (work was abandoned); then the reason.
///
/// # Defaults
///
/// [`ExitCodes::Outcome`]: a clean drain after SIGTERM exits `0`.
///
/// # Examples
///
/// ```
/// use evenkeel_shutdown::{ExitCodes, Outcome, Reason, Signal};
///
/// let sigterm = Reason::Signal(Signal::Terminate);
/// assert_eq!(ExitCodes::Outcome.exit_code(Some(&sigterm), Outcome::Drained), 0);
/// assert_eq!(ExitCodes::SignalConvention.exit_code(Some(&sigterm), Outcome::Drained), 143);
/// assert_eq!(ExitCodes::Outcome.exit_code(Some(&sigterm), Outcome::TimedOut), 124);
/// assert_eq!(ExitCodes::default().exit_code(None, Outcome::Forced), 137);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExitCodes {
    /// The outcome decides: `0` for a complete drain, whatever triggered it.
    #[default]
    Outcome,
    /// As `Outcome`, except that a shutdown triggered by signal `N` that
    /// drained in time exits `128 + N`, the shell's convention for "stopped
    /// by a signal" (what the process would have exited with had it not
    /// caught the signal).
    SignalConvention,
}

impl ExitCodes {
    /// The exit code for a shutdown triggered with `reason` (`None` if it
    /// never was) that ended with `outcome`; see the table above.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::{ExitCodes, Outcome, Reason};
    ///
    /// let fatal = Reason::fatal("database gone");
    /// assert_eq!(ExitCodes::Outcome.exit_code(Some(&fatal), Outcome::Drained), 1);
    /// assert_eq!(ExitCodes::Outcome.exit_code(Some(&Reason::Requested), Outcome::Drained), 0);
    /// ```
    pub fn exit_code(self, reason: Option<&Reason>, outcome: Outcome) -> i32 {
        match (reason, outcome) {
            (Some(Reason::Fatal(_)), _) => Reason::EXIT_FATAL,
            (_, Outcome::Forced) => Outcome::EXIT_FORCED,
            (_, Outcome::TimedOut) | (Some(Reason::DeadlineExceeded), _) => Outcome::EXIT_TIMED_OUT,
            (Some(Reason::Signal(signal)), Outcome::Drained) if self == Self::SignalConvention => {
                128 + signal.number()
            }
            (_, Outcome::Drained) => 0,
        }
    }
}

impl Shutdown {
    /// The process exit code for this shutdown, which ended with `outcome`:
    /// [`ExitCodes::Outcome`]'s table (a complete drain exits `0`, even after
    /// SIGTERM). Use [`exit_code_with`](Shutdown::exit_code_with) for the
    /// `128 + N` signal convention.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_shutdown::{Outcome, Reason, Shutdown, Signal};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let shutdown = Shutdown::new();
    /// shutdown.trigger(Reason::Signal(Signal::Terminate));
    /// let outcome = tokio::select! {
    ///     report = shutdown.drain(Duration::from_secs(20)) => Outcome::from(&report),
    ///     _ = shutdown.forced() => Outcome::Forced, // a second signal
    /// };
    /// assert_eq!(shutdown.exit_code(outcome), 0); // drained in time: success
    /// # }
    /// ```
    pub fn exit_code(&self, outcome: Outcome) -> i32 {
        self.exit_code_with(outcome, ExitCodes::Outcome)
    }

    /// The process exit code for this shutdown, which ended with `outcome`,
    /// from the table `codes` chooses.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::{ExitCodes, Outcome, Reason, Shutdown, Signal};
    ///
    /// let shutdown = Shutdown::new();
    /// shutdown.trigger(Reason::Signal(Signal::Interrupt));
    /// assert_eq!(shutdown.exit_code_with(Outcome::Drained, ExitCodes::SignalConvention), 130);
    /// assert_eq!(shutdown.exit_code_with(Outcome::Drained, ExitCodes::Outcome), 0);
    /// ```
    pub fn exit_code_with(&self, outcome: Outcome, codes: ExitCodes) -> i32 {
        codes.exit_code(self.reason().as_ref(), outcome)
    }
}
