//! Why a shutdown happened, and the process exit code that says so.
//!
//! A [`Reason`] is recorded once, by the first [`trigger`](crate::Shutdown::trigger)
//! (later triggers are ignored). [`Reason::exit_code`] names the trigger
//! (`128 + N` for signal `N`); the process's exit code comes from how the
//! drain ended, see `exit.rs`.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// An operating-system signal the [`SignalListener`](crate::SignalListener)
/// can listen for.
///
/// The numbers are the POSIX ones on every platform, so [`Reason::exit_code`]
/// is the same everywhere; on Windows, [`Signal::Interrupt`] is Ctrl+C and
/// [`Signal::CtrlBreak`] is Ctrl+Break.
///
/// # Examples
///
/// ```
/// use evenkeel_shutdown::Signal;
///
/// assert_eq!(Signal::Terminate.number(), 15);
/// assert_eq!(Signal::Terminate.to_string(), "SIGTERM");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// SIGINT (2): Ctrl+C in a terminal (Ctrl+C on Windows too).
    Interrupt,
    /// SIGTERM (15): what `docker stop`, Kubernetes and systemd send first.
    Terminate,
    /// SIGHUP (1): the controlling terminal went away.
    Hangup,
    /// SIGQUIT (3): Ctrl+\ in a terminal.
    Quit,
    /// Ctrl+Break on Windows (SIGBREAK, 21, in the Windows C runtime).
    CtrlBreak,
}

impl Signal {
    /// The signal's number: 2, 15, 1, 3, and 21 for Ctrl+Break.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::Signal;
    ///
    /// assert_eq!(Signal::Interrupt.number(), 2);
    /// ```
    pub const fn number(self) -> i32 {
        match self {
            Self::Interrupt => 2,
            Self::Terminate => 15,
            Self::Hangup => 1,
            Self::Quit => 3,
            Self::CtrlBreak => 21,
        }
    }

    /// The conventional name, such as `"SIGTERM"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::Signal;
    ///
    /// assert_eq!(Signal::Hangup.name(), "SIGHUP");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
            Self::Hangup => "SIGHUP",
            Self::Quit => "SIGQUIT",
            Self::CtrlBreak => "SIGBREAK",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a [`Shutdown`](crate::Shutdown) was triggered.
///
/// The first trigger's reason is kept; see [`Shutdown::trigger`](crate::Shutdown::trigger).
///
/// # Examples
///
/// ```
/// use evenkeel_shutdown::{Reason, Signal};
///
/// assert_eq!(Reason::Requested.exit_code(), 0);
/// assert_eq!(Reason::Signal(Signal::Interrupt).exit_code(), 130);
/// assert_eq!(Reason::Signal(Signal::Terminate).exit_code(), 143);
/// assert_eq!(Reason::fatal("disk full").exit_code(), Reason::EXIT_FATAL);
/// ```
#[derive(Clone, Debug)]
pub enum Reason {
    /// An OS signal arrived (see [`SignalListener`](crate::SignalListener)).
    Signal(Signal),
    /// The program asked for a clean stop (also what [`drain`](crate::Shutdown::drain)
    /// records when nothing triggered before it).
    Requested,
    /// An error the program cannot continue after; the source is kept.
    Fatal(Arc<dyn Error + Send + Sync>),
    /// A time budget ran out (for example a maximum run time, or a drain that
    /// did not finish in time and is being reported upwards).
    DeadlineExceeded,
    /// A stop was escalated: a second signal arrived during the drain, or
    /// [`Shutdown::force`](crate::Shutdown::force) was called first.
    Forced,
}

impl Reason {
    /// The exit code for [`Reason::Fatal`]: `1`, the generic failure code.
    pub const EXIT_FATAL: i32 = 1;
    /// The exit code for [`Reason::DeadlineExceeded`]: `124`, the code GNU
    /// `timeout(1)` uses when the time ran out.
    pub const EXIT_DEADLINE_EXCEEDED: i32 = 124;
    /// The exit code for [`Reason::Forced`]: `137` (`128 + SIGKILL`). A forced
    /// exit abandons the drain, which is what a supervisor's SIGKILL would have
    /// done; reporting it the same way keeps dashboards honest.
    pub const EXIT_FORCED: i32 = 137;

    /// A [`Reason::Fatal`] from anything that converts into a boxed error,
    /// including `&str` and `String`.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::Reason;
    ///
    /// let reason = Reason::fatal(std::io::Error::other("disk full"));
    /// assert_eq!(reason.to_string(), "fatal error: disk full");
    /// ```
    pub fn fatal(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self::Fatal(Arc::from(error.into()))
    }

    /// The exit code that names this *trigger*: `128 + N` for signal `N`.
    ///
    /// This is what a process killed by the signal would exit with, so a
    /// clean, complete drain after SIGTERM reported this way looks like a
    /// crash (143). For the process's exit code use
    /// [`Shutdown::exit_code`](crate::Shutdown::exit_code), which reports the
    /// [`Outcome`](crate::Outcome) of the drain (`0` when it completed) and
    /// offers this convention as [`ExitCodes::SignalConvention`](crate::ExitCodes::SignalConvention).
    ///
    /// | reason | code |
    /// |---|---|
    /// | [`Requested`](Reason::Requested) | `0` |
    /// | [`Signal(s)`](Reason::Signal) | `128 + s.number()`: 130 SIGINT, 143 SIGTERM, 129 SIGHUP, 131 SIGQUIT |
    /// | [`Fatal`](Reason::Fatal) | [`EXIT_FATAL`](Reason::EXIT_FATAL) (`1`) |
    /// | [`DeadlineExceeded`](Reason::DeadlineExceeded) | [`EXIT_DEADLINE_EXCEEDED`](Reason::EXIT_DEADLINE_EXCEEDED) (`124`) |
    /// | [`Forced`](Reason::Forced) | [`EXIT_FORCED`](Reason::EXIT_FORCED) (`137`) |
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::{Reason, Signal};
    ///
    /// assert_eq!(Reason::Signal(Signal::Hangup).exit_code(), 129);
    /// assert_eq!(Reason::Forced.exit_code(), Reason::EXIT_FORCED);
    /// ```
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Signal(signal) => 128 + signal.number(),
            Self::Requested => 0,
            Self::Fatal(_) => Self::EXIT_FATAL,
            Self::DeadlineExceeded => Self::EXIT_DEADLINE_EXCEEDED,
            Self::Forced => Self::EXIT_FORCED,
        }
    }

    /// Whether this is the clean, requested stop (exit code `0`).
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::Reason;
    ///
    /// assert!(Reason::Requested.is_clean());
    /// assert!(!Reason::Forced.is_clean());
    /// ```
    pub fn is_clean(&self) -> bool {
        matches!(self, Self::Requested)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Signal(signal) => write!(f, "received {signal}"),
            Self::Requested => f.write_str("shutdown requested"),
            Self::Fatal(error) => write!(f, "fatal error: {error}"),
            Self::DeadlineExceeded => f.write_str("deadline exceeded"),
            Self::Forced => f.write_str("shutdown forced"),
        }
    }
}
