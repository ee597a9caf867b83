//! The OS signal listener, for binaries.
//!
//! Library code never touches signals: it takes a [`Shutdown`] and observes
//! it. A binary installs one [`SignalListener`] at start-up. The listener
//! registers every handler before it returns (so a signal that arrives right
//! after `install` is caught, not fatal), then runs as a task:
//!
//! - the first signal triggers the shutdown with [`Reason::Signal`] (or, if
//!   the program already triggered it itself, leaves it draining with its
//!   earlier reason: a Kubernetes pod that started draining on its own and
//!   then gets its SIGTERM keeps draining);
//! - the second signal (the operator pressing Ctrl+C again, or the
//!   orchestrator repeating SIGTERM) escalates with [`Shutdown::force`], and the
//!   listener ends. The binary, waiting on [`Shutdown::forced`], spills what it
//!   can and exits with [`Reason::Forced`]'s exit code.
//!
//! tokio keeps a signal's handler installed for the life of the process, so
//! after the listener ends further signals are swallowed; the binary is
//! expected to exit once forced.

use std::future::poll_fn;
use std::task::{Context, Poll};

use tokio::task::JoinHandle;

use crate::{Reason, Shutdown, ShutdownError, Signal};

/// Triggers a [`Shutdown`] on OS signals and forces it on the next one.
///
/// [`install`](SignalListener::install) registers every handler before it
/// returns, then spawns a task: the first signal triggers the shutdown with
/// [`Reason::Signal`] (a shutdown the program already triggered itself keeps
/// its reason and keeps draining); the second signal (Ctrl+C pressed again,
/// SIGTERM repeated) escalates with [`Shutdown::force`] and the task ends.
/// What counts is the number of *signals*, never whether the shutdown was
/// already triggered. tokio keeps the handlers installed for the life of the process,
/// so later signals are swallowed: the binary should exit once
/// [`forced`](Shutdown::forced) resolves.
///
/// # Defaults
///
/// - Unix: [`Signal::Interrupt`] (SIGINT) and [`Signal::Terminate`] (SIGTERM):
///   Ctrl+C in a terminal and what Docker, Kubernetes and systemd send.
/// - Windows: [`Signal::Interrupt`] (Ctrl+C) and [`Signal::CtrlBreak`].
///
/// Add [`Signal::Hangup`] or [`Signal::Quit`] with [`signal`](SignalListener::signal).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use evenkeel_shutdown::{Outcome, Shutdown, SignalListener, Signal};
///
/// #[tokio::main]
/// async fn main() {
///     let shutdown = Shutdown::new();
///     SignalListener::new()
///         .signal(Signal::Hangup)
///         .install(&shutdown)
///         .expect("listen for signals");
///
///     // ... run the service with `shutdown` ...
///
///     shutdown.triggered().await;
///     let outcome = tokio::select! {
///         report = shutdown.drain(Duration::from_secs(25)) => Outcome::from(&report),
///         _ = shutdown.forced() => Outcome::Forced, // the second signal
///     };
///     // 0 when everything drained in time, 124 timed out, 137 forced.
///     std::process::exit(shutdown.exit_code(outcome));
/// }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a listener does nothing until `install` is called"]
pub struct SignalListener {
    signals: Vec<Signal>,
}

impl Default for SignalListener {
    fn default() -> Self {
        Self::new()
    }
}

impl SignalListener {
    /// A listener for the platform's default signals (see `# Defaults`).
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::{Signal, SignalListener};
    ///
    /// let listener = SignalListener::new();
    /// assert!(listener.signals().contains(&Signal::Interrupt));
    /// ```
    pub fn new() -> Self {
        #[cfg(windows)]
        let signals = vec![Signal::Interrupt, Signal::CtrlBreak];
        #[cfg(not(windows))]
        let signals = vec![Signal::Interrupt, Signal::Terminate];
        Self { signals }
    }

    /// Also listens for `signal` (adding one twice has no further effect).
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::{Signal, SignalListener};
    ///
    /// let listener = SignalListener::new().signal(Signal::Hangup).signal(Signal::Quit);
    /// assert!(listener.signals().contains(&Signal::Quit));
    /// ```
    pub fn signal(mut self, signal: Signal) -> Self {
        if !self.signals.contains(&signal) {
            self.signals.push(signal);
        }
        self
    }

    /// The signals this listener will listen for.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::SignalListener;
    ///
    /// assert_eq!(SignalListener::new().signals().len(), 2);
    /// ```
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }

    /// Installs the handlers for every signal, then spawns the listening task
    /// on the current runtime and returns its handle.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::NoRuntime`] outside a tokio runtime;
    /// [`ShutdownError::UnsupportedSignal`] for a signal the platform lacks;
    /// [`ShutdownError::SignalHandler`] if the OS refuses a handler.
    ///
    /// # Panics
    ///
    /// Like `tokio::signal`, if the runtime was built without its I/O driver
    /// (`Builder::enable_io` or `enable_all`).
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::{Shutdown, SignalListener};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let shutdown = Shutdown::new();
    /// let listener = SignalListener::new().install(&shutdown).unwrap();
    /// # listener.abort();
    /// # }
    /// ```
    pub fn install(self, shutdown: &Shutdown) -> Result<JoinHandle<()>, ShutdownError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| ShutdownError::NoRuntime)?;
        let _entered = runtime.enter();
        let mut streams = Vec::with_capacity(self.signals.len());
        for signal in self.signals {
            streams.push((signal, Stream::new(signal)?));
        }
        let shutdown = shutdown.clone();
        Ok(runtime.spawn(async move {
            // Counting signals, not asking whether the shutdown is triggered:
            // a program that triggered itself (an admin endpoint, a parent
            // scope, an idle timeout) and then gets its first SIGTERM must
            // keep draining. Only a second *signal* escalates.
            let mut first = true;
            while let Some(signal) = poll_fn(|cx| poll_any(&mut streams, cx)).await {
                if first {
                    first = false;
                    // Keeps the earlier reason if the program triggered first.
                    shutdown.trigger(Reason::Signal(signal));
                } else {
                    shutdown.force();
                    return;
                }
            }
        }))
    }
}

impl Shutdown {
    /// Installs a [`SignalListener`] with the default signals for this
    /// shutdown: shorthand for `SignalListener::new().install(self)`.
    ///
    /// # Errors
    ///
    /// As [`SignalListener::install`].
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::Shutdown;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let shutdown = Shutdown::new();
    /// let listener = shutdown.listen_for_signals().unwrap();
    /// # listener.abort();
    /// # }
    /// ```
    pub fn listen_for_signals(&self) -> Result<JoinHandle<()>, ShutdownError> {
        SignalListener::new().install(self)
    }
}

/// The first signal ready among `streams`, or `None` once all have closed.
fn poll_any(streams: &mut [(Signal, Stream)], cx: &mut Context<'_>) -> Poll<Option<Signal>> {
    let mut open = false;
    for (signal, stream) in streams.iter_mut() {
        match stream.poll_recv(cx) {
            Poll::Ready(Some(())) => return Poll::Ready(Some(*signal)),
            Poll::Ready(None) => {}
            Poll::Pending => open = true,
        }
    }
    if open {
        Poll::Pending
    } else {
        Poll::Ready(None)
    }
}

/// One platform signal stream.
enum Stream {
    #[cfg(unix)]
    Unix(tokio::signal::unix::Signal),
    #[cfg(windows)]
    CtrlC(tokio::signal::windows::CtrlC),
    #[cfg(windows)]
    CtrlBreak(tokio::signal::windows::CtrlBreak),
}

impl Stream {
    #[cfg(unix)]
    fn new(signal: Signal) -> Result<Self, ShutdownError> {
        use tokio::signal::unix::{SignalKind, signal as listen};
        let kind = match signal {
            Signal::Interrupt => SignalKind::interrupt(),
            Signal::Terminate => SignalKind::terminate(),
            Signal::Hangup => SignalKind::hangup(),
            Signal::Quit => SignalKind::quit(),
            Signal::CtrlBreak => return Err(ShutdownError::UnsupportedSignal { signal }),
        };
        listen(kind)
            .map(Self::Unix)
            .map_err(|source| ShutdownError::SignalHandler { signal, source })
    }

    #[cfg(windows)]
    fn new(signal: Signal) -> Result<Self, ShutdownError> {
        use tokio::signal::windows::{ctrl_break, ctrl_c};
        let stream = match signal {
            Signal::Interrupt => ctrl_c().map(Self::CtrlC),
            Signal::CtrlBreak => ctrl_break().map(Self::CtrlBreak),
            _ => return Err(ShutdownError::UnsupportedSignal { signal }),
        };
        stream.map_err(|source| ShutdownError::SignalHandler { signal, source })
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        match self {
            #[cfg(unix)]
            Self::Unix(stream) => stream.poll_recv(cx),
            #[cfg(windows)]
            Self::CtrlC(stream) => stream.poll_recv(cx),
            #[cfg(windows)]
            Self::CtrlBreak(stream) => stream.poll_recv(cx),
        }
    }
}
