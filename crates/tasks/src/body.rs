//! What runs inside each task of a [`TaskGroup`](crate::TaskGroup): the
//! task's own future, wrapped so that the group learns whether it ran, and,
//! with a limit, holding a slot while it runs.
//!
//! These wrappers sit on the hot path of every spawn and join, so they are
//! kept lean: the unlimited wrapper is a plain future (no shared state at
//! all); the limited one takes a free slot without touching the token, and
//! watches the token only while it has to wait.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// State shared between the group and every one of its tasks.
pub(crate) struct Shared {
    /// Cancelled by `TaskGroup::cancel`, on drop, or by anyone holding a clone.
    pub(crate) token: CancellationToken,
    /// `Some` when the group has a limit: one permit per running task body.
    pub(crate) limit: Option<Semaphore>,
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

/// The body of a task in a limited group: take a slot, run, give it back
/// (the permit drops with the future, however it ends). A task that must
/// wait for a slot gives up waiting when the group is cancelled.
pub(crate) async fn run_limited<T, E, F>(shared: Arc<Shared>, task: F) -> Output<T, E>
where
    F: Future<Output = Result<T, E>>,
{
    let Some(semaphore) = &shared.limit else {
        return Output::Done(task.await);
    };
    // Fast path: a free slot, no need to watch the token (waiting on it
    // takes the token's lock).
    let _permit = if let Ok(permit) = semaphore.try_acquire() {
        permit
    } else {
        tokio::select! {
            biased;
            () = shared.token.cancelled() => return Output::NotStarted,
            permit = semaphore.acquire() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed; if it were, not starting
                // is the safe answer.
                Err(_) => return Output::NotStarted,
            },
        }
    };
    Output::Done(task.await)
}
