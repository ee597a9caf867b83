//! Taking outcomes out of a [`TaskGroup`]: one at a time, all of them, all
//! or the first failure, and the graceful cancel that joins what is left.
//!
//! Every path goes through `settle`, which turns tokio's
//! `Result<(Id, Output), JoinError>` into `Result<T, TaskError<E>>`: it finds
//! the task's name by id, turns a panic payload into its message, and counts
//! the outcome. Nothing here panics on a task's panic or cancellation, which
//! is the gap in `JoinSet::join_all`.

use std::borrow::Cow;

use evenkeel_retry::saturating_deadline;
use tokio::task::{Id, JoinError};
use tokio::time::Instant;

use crate::body::Output;
use crate::error::{TaskError, from_join_error};
use crate::group::TaskGroup;

impl<T, E> TaskGroup<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    /// Waits for the next task to finish and returns its outcome, or `None`
    /// when the group is empty.
    ///
    /// Outcomes come in completion order (outcomes already collected by
    /// [`cancel`](TaskGroup::cancel) first).
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe: if the future is dropped before it completes, no outcome
    /// is lost; the next call returns it.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::{TaskError, TaskGroup};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut group = TaskGroup::<(), std::io::Error>::new();
    /// group.spawn("doomed", async { panic!("disk on fire") });
    /// match group.join_next().await {
    ///     Some(Err(TaskError::Panicked { name, message })) => {
    ///         assert_eq!((&*name, &*message), ("doomed", "disk on fire"));
    ///     }
    ///     other => panic!("unexpected: {other:?}"),
    /// }
    /// assert!(group.join_next().await.is_none());
    /// # }
    /// ```
    pub async fn join_next(&mut self) -> Option<Result<T, TaskError<E>>> {
        if let Some(outcome) = self.finished.pop_front() {
            return Some(outcome);
        }
        let joined = self.set.join_next_with_id().await?;
        Some(self.settle(joined))
    }

    /// Waits for every task and returns every outcome, in completion order.
    /// Never panics, whatever the tasks did.
    ///
    /// # Cancellation safety
    ///
    /// Not cancel-safe: outcomes already collected are lost if the future is
    /// dropped (the tasks not yet joined stay in the group).
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::TaskGroup;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut group = TaskGroup::<u32, String>::new();
    /// group.spawn("ok", async { Ok(1) });
    /// group.spawn("err", async { Err("nope".to_string()) });
    /// group.spawn("panic", async { panic!("oops") });
    /// let outcomes = group.join_all().await;
    /// assert_eq!(outcomes.len(), 3);
    /// assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    /// # }
    /// ```
    pub async fn join_all(&mut self) -> Vec<Result<T, TaskError<E>>> {
        let mut outcomes = Vec::with_capacity(self.len());
        while let Some(outcome) = self.join_next().await {
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Waits for every task and returns their values in completion order,
    /// or the first failure.
    ///
    /// The first task to fail, panic or be cancelled ends the wait: the
    /// group is then [cancelled](TaskGroup::cancel) (its token cancelled,
    /// the siblings given the grace period, then aborted), every sibling is
    /// joined and its outcome discarded, and that first error is returned.
    /// When this returns, no task of the group is running. (The group learns
    /// of a failure when it joins it, so a task waiting for a slot may still
    /// start in between, when the failed task frees its slot; it is then
    /// cancelled with the others.)
    ///
    /// # Errors
    ///
    /// The first [`TaskError`] joined: [`Failed`](TaskError::Failed),
    /// [`Panicked`](TaskError::Panicked) or
    /// [`Cancelled`](TaskError::Cancelled).
    ///
    /// # Cancellation safety
    ///
    /// Not cancel-safe: values already collected are lost if the future is
    /// dropped.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::{TaskError, TaskGroup};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut group = TaskGroup::<(), String>::new();
    /// let token = group.token();
    /// group.spawn("slow", async move {
    ///     token.cancelled().await; // returns as soon as the group is cancelled
    ///     Ok(())
    /// });
    /// group.spawn("bad", async { Err("invalid config".to_string()) });
    /// let err = group.try_join_all().await.unwrap_err();
    /// assert!(matches!(err, TaskError::Failed { ref name, .. } if name == "bad"));
    /// assert!(group.is_empty());
    /// # }
    /// ```
    pub async fn try_join_all(&mut self) -> Result<Vec<T>, TaskError<E>> {
        let mut values = Vec::with_capacity(self.len());
        while let Some(outcome) = self.join_next().await {
            match outcome {
                Ok(value) => values.push(value),
                Err(error) => {
                    self.cancel().await;
                    self.finished.clear();
                    return Err(error);
                }
            }
        }
        Ok(values)
    }

    /// Cancels the group: cancels its token, waits up to the
    /// [grace period](TaskGroup::grace_period) for the tasks to return, then
    /// aborts the rest and waits up to the [abort wait](TaskGroup::abort_wait)
    /// for the aborts to land. A task still running after that never yields
    /// (tokio aborts a task only at an `.await`): it is let go, so it cannot
    /// hold the caller (a shutdown) forever, and reported by name as
    /// [`TaskError::Stuck`]. Both waits saturate: `Duration::MAX` means
    /// "no limit", never a panic.
    ///
    /// Tasks still waiting for a slot are not started. Every outcome is
    /// kept: the next [`join_next`](TaskGroup::join_next) /
    /// [`join_all`](TaskGroup::join_all) returns them. The group stays
    /// cancelled; tasks spawned later are reported cancelled without running.
    ///
    /// The grace period is measured with tokio's clock, so the runtime needs
    /// its time driver (`enable_time`, included in `#[tokio::main]`).
    ///
    /// # Cancellation safety
    ///
    /// No outcome is lost if the future is dropped, but tasks that outlived
    /// the grace period are then not aborted until the group is dropped.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::{TaskError, TaskGroup};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut group = TaskGroup::<(), std::io::Error>::new().grace_period(Duration::from_millis(10));
    /// let token = group.token();
    /// group.spawn("polite", async move { token.cancelled().await; Ok(()) });
    /// group.spawn("stubborn", std::future::pending());
    /// tokio::task::yield_now().await; // let both start
    /// group.cancel().await;
    /// let outcomes = group.join_all().await;
    /// assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    /// assert!(outcomes.iter().any(|o| matches!(o, Err(TaskError::Cancelled { name }) if name == "stubborn")));
    /// # }
    /// ```
    pub async fn cancel(&mut self) {
        self.shared.token.cancel();
        let deadline = saturating_deadline(Instant::now(), self.grace);
        loop {
            match tokio::time::timeout_at(deadline, self.set.join_next_with_id()).await {
                Ok(Some(joined)) => {
                    let outcome = self.settle(joined);
                    self.finished.push_back(outcome);
                }
                Ok(None) => return,
                Err(_elapsed) => break,
            }
        }
        self.set.abort_all();
        // An abort lands at the task's next `.await`; a task that never
        // yields never sees it. Wait for the aborts only so long.
        let landed = saturating_deadline(Instant::now(), self.abort_wait);
        loop {
            match tokio::time::timeout_at(landed, self.set.join_next_with_id()).await {
                Ok(Some(joined)) => {
                    let outcome = self.settle(joined);
                    self.finished.push_back(outcome);
                }
                Ok(None) => return,
                Err(_elapsed) => break,
            }
        }
        // What is left is stuck: let it go, and report each one by name.
        self.set.detach_all();
        for name in self.names.take_all() {
            self.counters.stuck += 1;
            self.finished.push_back(Err(TaskError::Stuck {
                name,
                waited: self.abort_wait,
            }));
        }
    }

    /// Turns one joined task into its outcome, and counts it.
    fn settle(&mut self, joined: Result<(Id, Output<T, E>), JoinError>) -> Result<T, TaskError<E>> {
        let id = match &joined {
            Ok((id, _)) => *id,
            Err(error) => error.id(),
        };
        // Every task is registered under its id right after it is spawned,
        // and `&mut self` keeps joining from racing that; the fallback only
        // keeps a logic error from becoming a panic.
        let name = self.names.remove(id).unwrap_or(Cow::Borrowed("<unnamed>"));
        let outcome = match joined {
            Ok((_, Output::Done(Ok(value)))) => Ok(value),
            Ok((_, Output::Done(Err(error)))) => Err(TaskError::Failed { name, error }),
            Ok((_, Output::NotStarted)) => Err(TaskError::Cancelled { name }),
            Err(error) => Err(from_join_error(name, error)),
        };
        let counter = match &outcome {
            Ok(_) => &mut self.counters.succeeded,
            Err(TaskError::Failed { .. }) => &mut self.counters.failed,
            Err(TaskError::Panicked { .. }) => &mut self.counters.panicked,
            Err(TaskError::Cancelled { .. }) => &mut self.counters.cancelled,
            Err(TaskError::Stuck { .. }) => &mut self.counters.stuck,
        };
        *counter += 1;
        outcome
    }
}
