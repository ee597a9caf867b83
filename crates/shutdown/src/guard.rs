//! Drain guards: the admission side of the drain, as types.
//!
//! The protocol (one atomic word per scope: the draining bit, the drained
//! bit and the guard count, and why no guard slips past the start of the
//! drain) lives in `word.rs`. Here a [`DrainGuard`] holds the scope it was
//! taken in and releases it (and its ancestors) on drop; [`Tracked`] is a
//! future that holds one until it completes.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::task::JoinHandle;

use crate::shutdown::Inner;
use crate::word::{acquire, release};
use crate::{Shutdown, ShutdownError};

/// Keeps the drain open while it lives: in-flight work holds one.
///
/// Obtained from [`Shutdown::guard`], which refuses once draining has begun.
/// Dropping the guard releases it; the last release of a draining scope wakes
/// the drain. `Send + Sync`, so it can move into a spawned task.
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
/// tokio::spawn(async move {
///     tokio::time::sleep(Duration::from_secs(1)).await; // the in-flight work
///     drop(guard);
/// });
/// let report = shutdown.drain(Duration::from_secs(10)).await;
/// assert_eq!(report, DrainReport::Complete { elapsed: Duration::from_secs(1) });
/// # }
/// ```
#[must_use = "the guard releases the drain as soon as it is dropped"]
pub struct DrainGuard {
    scope: Arc<Inner>,
}

impl Drop for DrainGuard {
    #[inline]
    fn drop(&mut self) {
        release(&*self.scope, None);
    }
}

impl fmt::Debug for DrainGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DrainGuard")
            .field("outstanding", &self.scope.word.outstanding())
            .finish()
    }
}

pin_project! {
    /// A future that holds a [`DrainGuard`] until it completes or is dropped.
    ///
    /// Returned by [`Shutdown::track`]; its output is the inner future's.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::Shutdown;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let shutdown = Shutdown::new();
    /// let work = shutdown.track(async { 42 }).unwrap();
    /// assert_eq!(shutdown.outstanding(), 1);
    /// assert_eq!(work.await, 42);
    /// assert_eq!(shutdown.outstanding(), 0);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Tracked<F> {
        #[pin]
        future: F,
        guard: Option<DrainGuard>,
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = std::task::ready!(this.future.poll(cx));
        // Release as soon as the work is done, not when the future is dropped.
        this.guard.take();
        Poll::Ready(output)
    }
}

impl<F> fmt::Debug for Tracked<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracked")
            .field("finished", &self.guard.is_none())
            .finish_non_exhaustive()
    }
}

impl Shutdown {
    /// A [`DrainGuard`] that keeps the drain open while it lives, or
    /// [`ShutdownError::Draining`] once draining has begun in this scope or an
    /// enclosing one.
    ///
    /// Guards are still granted after the trigger, during the pre-drain delay
    /// ([`Phase::PreDrain`](crate::Phase::PreDrain)); they are refused from [`Phase::Draining`](crate::Phase::Draining) on. The
    /// decision is atomic with the start of the drain: every granted guard is
    /// waited for, and none is granted after the drain began.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::Draining`] once draining has begun here or in an
    /// enclosing scope.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_shutdown::{Reason, Shutdown, ShutdownError};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let shutdown = Shutdown::new();
    /// shutdown.trigger(Reason::Requested);
    /// // Triggered but not draining yet: intake still open.
    /// assert!(shutdown.guard().is_ok());
    /// shutdown.drain(Duration::from_secs(1)).await;
    /// assert!(matches!(shutdown.guard(), Err(ShutdownError::Draining)));
    /// # }
    /// ```
    #[inline]
    pub fn guard(&self) -> Result<DrainGuard, ShutdownError> {
        if !acquire(&*self.inner) {
            return Err(ShutdownError::Draining);
        }
        Ok(DrainGuard {
            scope: Arc::clone(&self.inner),
        })
    }

    /// Wraps `future` so it holds a [`DrainGuard`] until it completes or is
    /// dropped. Refused with [`ShutdownError::Draining`] like
    /// [`guard`](Shutdown::guard); the future is then dropped unpolled.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::Draining`], as for [`guard`](Shutdown::guard).
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::Shutdown;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let shutdown = Shutdown::new();
    /// let answer = shutdown.track(async { 6 * 7 }).unwrap().await;
    /// assert_eq!(answer, 42);
    /// # }
    /// ```
    pub fn track<F: Future>(&self, future: F) -> Result<Tracked<F>, ShutdownError> {
        Ok(Tracked {
            future,
            guard: Some(self.guard()?),
        })
    }

    /// Spawns `future` on the current tokio runtime as a tracked task: the
    /// drain waits for it. Refused with [`ShutdownError::Draining`] once
    /// draining has begun, and with [`ShutdownError::NoRuntime`] outside a
    /// runtime.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::NoRuntime`] outside a tokio runtime (checked first);
    /// [`ShutdownError::Draining`] once draining has begun.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::Shutdown;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let shutdown = Shutdown::new();
    /// let handle = shutdown.spawn(async { "done" }).unwrap();
    /// assert_eq!(handle.await.unwrap(), "done");
    /// # }
    /// ```
    pub fn spawn<F>(&self, future: F) -> Result<JoinHandle<F::Output>, ShutdownError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| ShutdownError::NoRuntime)?;
        Ok(runtime.spawn(self.track(future)?))
    }

    /// How many guards and tracked tasks of this scope (its children's
    /// included) are live right now.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::Shutdown;
    ///
    /// let parent = Shutdown::new();
    /// let _guard = parent.child().guard().unwrap();
    /// assert_eq!(parent.outstanding(), 1);
    /// ```
    pub fn outstanding(&self) -> usize {
        self.inner.word.outstanding()
    }
}
