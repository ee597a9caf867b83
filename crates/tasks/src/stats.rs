//! Counters for a [`TaskGroup`](crate::TaskGroup): how many tasks were
//! spawned, are running, and ended which way.
//!
//! The outcome counters are updated when an outcome is *joined* (that is the
//! moment the group learns it), so a task that finished but has not been
//! joined yet is not counted in an outcome yet. `running` is read live: from
//! the semaphore with a limit, from the tasks not yet joined without one.

/// A snapshot of a [`TaskGroup`](crate::TaskGroup)'s counters.
///
/// # Example
///
/// ```
/// use evenkeel_tasks::TaskGroup;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut group = TaskGroup::<(), &str>::new();
/// group.spawn("fine", async { Ok(()) });
/// group.spawn("broken", async { panic!("boom") });
/// group.join_all().await;
/// let stats = group.stats();
/// assert_eq!(stats.spawned, 2);
/// assert_eq!(stats.running, 0);
/// assert_eq!(stats.succeeded, 1);
/// assert_eq!(stats.panicked, 1);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskStats {
    /// Tasks spawned since the group was created.
    pub spawned: u64,
    /// Tasks in flight. With a limit: task bodies holding a slot right now
    /// (never more than the limit; tasks waiting for a slot are not
    /// counted). Without a limit: tasks spawned and not yet joined (a task
    /// that finished counts until it is joined), which keeps the unlimited
    /// group free of per-task shared counters.
    pub running: usize,
    /// Tasks joined that returned `Ok`.
    pub succeeded: u64,
    /// Tasks joined that returned `Err`.
    pub failed: u64,
    /// Tasks joined that panicked.
    pub panicked: u64,
    /// Tasks joined that were cancelled (aborted, or never started because
    /// the group was cancelled first).
    pub cancelled: u64,
    /// Tasks that did not stop within the abort wait after
    /// [`cancel`](crate::TaskGroup::cancel) aborted them
    /// ([`TaskError::Stuck`](crate::TaskError::Stuck)); let go, maybe still running.
    pub stuck: u64,
}

/// The group-side counters (updated with `&mut` access, so plain integers).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    pub(crate) spawned: u64,
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    pub(crate) panicked: u64,
    pub(crate) cancelled: u64,
    pub(crate) stuck: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self, running: usize) -> TaskStats {
        TaskStats {
            spawned: self.spawned,
            running,
            succeeded: self.succeeded,
            failed: self.failed,
            panicked: self.panicked,
            cancelled: self.cancelled,
            stuck: self.stuck,
        }
    }
}
