//! The named futures: [`Triggered`], [`Forced`] and [`WaitForPhase`].
//!
//! [`Triggered`] wraps tokio-util's owned cancellation future, which
//! registers its waker before it re-checks the flag, so a trigger that lands
//! between creation and the first poll is not missed; a future created after
//! the trigger sees the flag set on its first poll. [`Forced`] and
//! [`WaitForPhase`] wait on the tree's `Notify` the same way: register,
//! then read, then sleep.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::shutdown::Inner;
use crate::{Phase, Reason, Shutdown};

pin_project! {
    /// Resolves with the [`Reason`] once the shutdown is triggered; returned by
    /// [`Shutdown::triggered`].
    ///
    /// `Send + 'static`; cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::{Reason, Shutdown, Signal};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let shutdown = Shutdown::new();
    /// let triggered = shutdown.triggered(); // subscribed before the trigger
    /// shutdown.trigger(Reason::Signal(Signal::Terminate));
    /// assert_eq!(triggered.await.exit_code(), 143);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Triggered {
        #[pin]
        cancelled: WaitForCancellationFutureOwned,
        shutdown: Shutdown,
    }
}

impl Triggered {
    pub(crate) fn new(shutdown: Shutdown) -> Self {
        Self {
            cancelled: shutdown.inner.token.clone().cancelled_owned(),
            shutdown,
        }
    }
}

impl Future for Triggered {
    type Output = Reason;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reason> {
        let this = self.project();
        ready!(this.cancelled.poll(cx));
        // The internal token is only cancelled by `trigger`, which stores the
        // reason first (see `shutdown.rs`), so the reason is always there; the
        // fallback only keeps this free of a panic path.
        Poll::Ready(this.shutdown.reason().unwrap_or(Reason::Requested))
    }
}

impl fmt::Debug for Triggered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Triggered")
            .field("shutdown", &self.shutdown)
            .finish_non_exhaustive()
    }
}

/// Resolves with [`Reason::Forced`] once the shutdown is forced; returned
/// by [`Shutdown::forced`].
///
/// `Send + 'static`; cancel safe.
///
/// # Examples
///
/// ```
/// use evenkeel_shutdown::Shutdown;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let shutdown = Shutdown::new();
/// let forced = shutdown.forced();
/// shutdown.force();
/// assert_eq!(forced.await.exit_code(), 137);
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Forced {
    future: Pin<Box<dyn Future<Output = Reason> + Send>>,
}

impl Forced {
    pub(crate) fn new(shutdown: Shutdown) -> Self {
        let future = async move {
            let events = shutdown.inner.events();
            loop {
                // Register before reading, so a force in between wakes us.
                let notified = events.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                Inner::fence();
                if shutdown.is_forced() {
                    return Reason::Forced;
                }
                notified.await;
            }
        };
        Self {
            future: Box::pin(future),
        }
    }
}

impl Future for Forced {
    type Output = Reason;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reason> {
        self.future.as_mut().poll(cx)
    }
}

impl fmt::Debug for Forced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forced").finish_non_exhaustive()
    }
}

/// Resolves with the current phase once a scope has reached a given phase or
/// a later one; returned by [`Shutdown::wait_for_phase`].
///
/// `Send + 'static`; cancel safe.
///
/// # Examples
///
/// ```
/// use evenkeel_shutdown::{Phase, Reason, Shutdown};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let shutdown = Shutdown::new();
/// let not_ready = shutdown.wait_for_phase(Phase::PreDrain);
/// shutdown.trigger(Reason::Requested);
/// assert_eq!(not_ready.await, Phase::PreDrain);
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct WaitForPhase {
    target: Phase,
    future: Pin<Box<dyn Future<Output = Phase> + Send>>,
}

impl WaitForPhase {
    pub(crate) fn new(shutdown: Shutdown, target: Phase) -> Self {
        let future = async move {
            let events = shutdown.inner.events();
            loop {
                // Register before reading the phase, so a change in between
                // wakes this future.
                let notified = events.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                Inner::fence();
                let phase = shutdown.phase();
                if phase >= target {
                    return phase;
                }
                notified.await;
            }
        };
        Self {
            target,
            future: Box::pin(future),
        }
    }
}

impl Future for WaitForPhase {
    type Output = Phase;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Phase> {
        self.future.as_mut().poll(cx)
    }
}

impl fmt::Debug for WaitForPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForPhase")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}
