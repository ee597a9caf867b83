//! Drain guards: the admission side of the drain.
//!
//! Each scope keeps one `AtomicUsize`: the top bit says "draining has begun",
//! the other bits count the live guards (a tracked task holds a guard). Both
//! decisions are read-modify-write operations on that one word, and such
//! operations on one atomic are totally ordered, so there is no
//! check-then-act window:
//!
//! - taking a guard is `fetch_add(1)`; if the *previous* value has the
//!   draining bit, the guard is refused and the increment undone;
//! - beginning the drain is `fetch_or(DRAINING)`.
//!
//! Either the increment comes first (the guard is granted and the drain sees
//! it in the count) or the `fetch_or` comes first (the increment sees the bit
//! and the guard is refused). No guard is granted that the drain does not wait
//! for.
//!
//! A guard taken in a child scope increments the child and every ancestor,
//! innermost first, and is refused if any of them is draining; dropping it
//! decrements the same scopes. Whoever brings a draining scope's count to zero
//! wakes that scope's drain.
//!
//! The count cannot overflow into the draining bit: every guard holds a clone
//! of the scope's `Arc`, and `Arc` aborts the process before its count passes
//! `isize::MAX`, which is below the top bit.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::shutdown::Inner;
use crate::{Shutdown, ShutdownError};

/// The "draining has begun" bit.
const DRAINING: usize = 1 << (usize::BITS - 1);
/// The bits that count guards.
const COUNT: usize = !DRAINING;

/// One scope's drain state: the draining bit, the guard count, and the
/// `Notify` that wakes its drains when the count reaches zero.
pub(crate) struct State {
    word: AtomicUsize,
    drained: Notify,
}

impl State {
    pub(crate) fn new() -> Self {
        Self {
            word: AtomicUsize::new(0),
            drained: Notify::new(),
        }
    }

    pub(crate) fn load(&self) -> usize {
        self.word.load(Ordering::Acquire)
    }

    pub(crate) fn outstanding(&self) -> usize {
        self.load() & COUNT
    }

    /// Adds one guard; returns whether the scope was already draining.
    fn increment(&self) -> bool {
        self.word.fetch_add(1, Ordering::AcqRel) & DRAINING != 0
    }

    /// Removes one guard, waking the drain if it was the last one.
    fn decrement(&self) {
        let previous = self.word.fetch_sub(1, Ordering::AcqRel);
        if previous == DRAINING | 1 {
            self.drained.notify_waiters();
        }
    }

    /// Sets the draining bit; returns whether this call set it.
    pub(crate) fn begin_drain(&self) -> bool {
        self.word.fetch_or(DRAINING, Ordering::AcqRel) & DRAINING == 0
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.load() & DRAINING != 0
    }

    /// Waits until the count is zero. Registers for the wake-up before
    /// reading the count, so a release in between is not missed.
    pub(crate) async fn zero(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.outstanding() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Decrements `from` and its ancestors, up to and including `last`
/// (or to the root when `last` is `None`).
fn release(from: &Inner, last: Option<&Inner>) {
    let mut scope = Some(from);
    while let Some(current) = scope {
        current.state.decrement();
        if last.is_some_and(|last| std::ptr::eq(last, current)) {
            return;
        }
        scope = current.parent.as_deref();
    }
}

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
    fn drop(&mut self) {
        release(&self.scope, None);
    }
}

impl fmt::Debug for DrainGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DrainGuard")
            .field("outstanding", &self.scope.state.outstanding())
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
    pub fn guard(&self) -> Result<DrainGuard, ShutdownError> {
        let mut scope = Some(&*self.inner);
        while let Some(current) = scope {
            if current.state.increment() {
                release(&self.inner, Some(current));
                return Err(ShutdownError::Draining);
            }
            scope = current.parent.as_deref();
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
        self.inner.state.outstanding()
    }
}
