//! Putting tasks into a [`TaskGroup`]: `spawn` (at once, even at the limit:
//! a limited task waits inside the group for its slot) and `detach`.
//!
//! A task is wrapped in one of the bodies of `body.rs` (unlimited, limited,
//! or "not started" when the group is already cancelled) and its name is
//! registered under tokio's task id, for `join.rs` to find when it joins.

use std::future::Future;
use std::sync::Arc;

use tokio::task::AbortHandle;

use crate::body::{Limited, Output, Unlimited};
use crate::error::TaskName;
use crate::group::TaskGroup;

impl<T, E> TaskGroup<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    /// Spawns `task` under `name` onto the current tokio runtime and returns
    /// right away, even when the group is at its limit.
    ///
    /// The returned handle aborts this one task; the group then reports it
    /// as [`TaskError::Cancelled`](crate::TaskError::Cancelled).
    ///
    /// # Panics
    ///
    /// Like `tokio::spawn`, when called outside a tokio runtime.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::TaskGroup;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut group = TaskGroup::<String, std::io::Error>::new();
    /// let id = 7;
    /// group.spawn(format!("fetch-{id}"), async move { Ok(format!("user {id}")) });
    /// assert_eq!(group.join_next().await.unwrap().unwrap(), "user 7");
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F>(&mut self, name: impl Into<TaskName>, task: F) -> AbortHandle
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        // A cancelled group starts nothing new. (Checked here, on the
        // spawning thread, rather than in every task: the token's check
        // takes a lock, and contention on it showed in the benchmark.)
        let handle = if self.shared.token.is_cancelled() {
            self.set.spawn(async { Output::NotStarted })
        } else if self.shared.limit.is_some() {
            self.set.spawn(Limited::new(Arc::clone(&self.shared), task))
        } else {
            self.set.spawn(Unlimited { task })
        };
        self.names.insert(handle.id(), name.into());
        self.counters.spawned += 1;
        handle
    }

    /// Lets every task still in the group run on, unowned, and drops the
    /// group without cancelling its token. Their outcomes are discarded.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::TaskGroup;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, rx) = tokio::sync::oneshot::channel();
    /// let mut group = TaskGroup::<(), std::io::Error>::new();
    /// group.spawn("background", async move {
    ///     tx.send("still ran").ok();
    ///     Ok(())
    /// });
    /// group.detach();
    /// assert_eq!(rx.await.unwrap(), "still ran");
    /// # }
    /// ```
    pub fn detach(mut self) {
        self.set.detach_all();
        self.detached = true;
    }
}
