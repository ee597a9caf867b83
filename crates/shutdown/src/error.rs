//! The crate's one error type.

#[cfg(feature = "signal")]
use crate::Signal;

/// What can go wrong when asking a [`Shutdown`](crate::Shutdown) for something.
///
/// # Examples
///
/// ```
/// use evenkeel_shutdown::{Shutdown, ShutdownError};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let shutdown = Shutdown::new();
/// shutdown.drain(std::time::Duration::from_secs(1)).await;
/// assert!(matches!(shutdown.guard(), Err(ShutdownError::Draining)));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The drain has begun (in this scope or an enclosing one): no new work is
    /// admitted. Finish, reject or spill the item instead.
    #[error("shutdown is draining: no new work is admitted")]
    Draining,
    /// [`Shutdown::spawn`](crate::Shutdown::spawn) or the signal listener was
    /// called outside a tokio runtime.
    #[error("no tokio runtime is running on this thread")]
    NoRuntime,
    /// The platform cannot listen for this signal (for example SIGBREAK on
    /// Unix, or SIGHUP on Windows).
    #[cfg(feature = "signal")]
    #[error("{signal} cannot be listened for on this platform")]
    UnsupportedSignal {
        /// The signal that was asked for.
        signal: Signal,
    },
    /// Installing the handler for a signal failed.
    #[cfg(feature = "signal")]
    #[error("failed to listen for {signal}")]
    SignalHandler {
        /// The signal whose handler could not be installed.
        signal: Signal,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}
