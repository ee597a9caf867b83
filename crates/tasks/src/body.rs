//! What runs inside each task of a [`TaskGroup`](crate::TaskGroup): the
//! task's own future, wrapped so that the group learns whether it ran, and,
//! with a limit, holding a slot while it runs.
//!
//! These wrappers sit on the hot path of every spawn and join, so they are
//! kept lean: both are plain futures (an `async fn` would store the task's
//! future twice); the unlimited one has no shared state at all; the limited
//! one takes a free slot without touching the token or allocating, and
//! watches the token only while it has to wait.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// State shared between the group and every one of its tasks.
pub(crate) struct Shared {
    /// Cancelled by `TaskGroup::cancel`, on drop, or by anyone holding a clone.
    pub(crate) token: CancellationToken,
    /// `Some` when the group has a limit: one permit per running task body.
    pub(crate) limit: Option<Arc<Semaphore>>,
}

/// What a task's wrapper returns to the group.
pub(crate) enum Output<T, E> {
    /// The body ran to completion.
    Done(Result<T, E>),
    /// The group was cancelled before the body could start.
    NotStarted,
}

pin_project_lite::pin_project! {
    /// The body of a task in a group without a limit: the task's own future,
    /// its output wrapped for the group. A plain future rather than an
    /// `async fn`, which would store the task's future twice (as argument
    /// and as awaited value) and showed in the benchmark.
    pub(crate) struct Unlimited<F> {
        #[pin]
        pub(crate) task: F,
    }
}

impl<T, E, F> Future for Unlimited<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Output<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().task.poll(cx).map(Output::Done)
    }
}

/// The future a waiting task polls until it gets a slot (`Some`) or the
/// group is cancelled (`None`). Boxed: only tasks that must wait build one.
type WaitForSlot = Pin<Box<dyn Future<Output = Option<OwnedSemaphorePermit>> + Send>>;

pin_project_lite::pin_project! {
    /// The body of a task in a limited group: take a slot, run, give the slot
    /// back as soon as the task's future completes. A task that must wait for
    /// a slot gives up waiting when the group is cancelled.
    ///
    /// A plain future, like [`Unlimited`], with a fast path: a free slot is
    /// taken without touching the token (watching it takes the token's lock)
    /// and without allocating.
    pub(crate) struct Limited<F> {
        shared: Arc<Shared>,
        permit: Option<OwnedSemaphorePermit>,
        wait: Option<WaitForSlot>,
        started: bool,
        #[pin]
        task: F,
    }
}

impl<F> Limited<F> {
    pub(crate) fn new(shared: Arc<Shared>, task: F) -> Self {
        Self {
            shared,
            permit: None,
            wait: None,
            started: false,
            task,
        }
    }
}

impl<T, E, F> Future for Limited<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Output<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if !*this.started {
            if this.wait.is_none() {
                match &this.shared.limit {
                    // Not limited after all: nothing to take.
                    None => *this.started = true,
                    Some(semaphore) => {
                        if let Ok(permit) = Arc::clone(semaphore).try_acquire_owned() {
                            *this.permit = Some(permit);
                            *this.started = true;
                        } else {
                            let semaphore = Arc::clone(semaphore);
                            let token = this.shared.token.clone();
                            *this.wait = Some(Box::pin(async move {
                                tokio::select! {
                                    biased;
                                    () = token.cancelled() => None,
                                    // Err only if the semaphore were closed, which
                                    // it never is; not starting is the safe answer.
                                    permit = semaphore.acquire_owned() => permit.ok(),
                                }
                            }));
                        }
                    }
                }
            }
            if let Some(wait) = this.wait.as_mut() {
                let Poll::Ready(permit) = wait.as_mut().poll(cx) else {
                    return Poll::Pending;
                };
                *this.wait = None;
                let Some(permit) = permit else {
                    return Poll::Ready(Output::NotStarted);
                };
                *this.permit = Some(permit);
                *this.started = true;
            }
        }
        let result = std::task::ready!(this.task.poll(cx));
        // Free the slot now rather than when tokio drops the future.
        this.permit.take();
        Poll::Ready(Output::Done(result))
    }
}
