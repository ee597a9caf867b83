//! [`TaskGroup`]: a `JoinSet` whose tasks have names, an optional
//! concurrency limit, a shared cancellation token, and an owner that cancels
//! them when it goes away.
//!
//! # How it is built
//!
//! Everything rests on tokio's own tools:
//!
//! - a [`JoinSet`] owns the tasks, so dropping the group aborts them and
//!   joining yields each outcome exactly once;
//! - a map from tokio's task id to the task's name, because a `JoinError`
//!   (a panic or an abort) carries the id but not the name (`names.rs`);
//! - a [`Semaphore`] for the limit. Each task is spawned at once and its
//!   first step is to wait for a permit, which it holds while its body runs:
//!   the number of bodies running can never exceed the number of permits;
//! - a [`CancellationToken`] that every task can see. A task spawned after
//!   the token is cancelled, or still waiting for a slot then, never starts.
//!
//! Spawning (and detaching) lives in `spawn.rs`; joining (and cancelling,
//! which has to join) in `join.rs`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::body::{Output, Shared};
use crate::error::TaskError;
use crate::names::Names;
use crate::stats::{Counters, TaskStats};

/// A group of named tokio tasks that is joined, limited and cancelled as one.
///
/// Each task is a future returning `Result<T, E>`. Joining yields, per task,
/// `Ok(T)` or a [`TaskError<E>`] that names the task and tells whether it
/// failed (returned `Err`), panicked (with the panic message) or was
/// cancelled. Nothing in the group panics on a task's panic or cancellation.
///
/// # Limit
///
/// [`TaskGroup::with_limit(n)`](TaskGroup::with_limit) runs at most `n` task
/// bodies at once. [`spawn`](TaskGroup::spawn) never waits: it spawns the
/// task right away, and the task waits *inside the group* for a free slot
/// before its body starts, in spawn order (tokio's semaphore is fair). So a
/// producer is never blocked by the limit; if the producer itself must be
/// slowed down, put a bounded queue in front of the group.
///
/// # Cancellation
///
/// Every task can see the group's [`CancellationToken`] through
/// [`token`](TaskGroup::token). [`cancel`](TaskGroup::cancel) cancels it,
/// gives the tasks a grace period to return on their own, then aborts the
/// rest. A task still waiting for a slot, or spawned after the cancellation,
/// never starts and is reported as [`TaskError::Cancelled`]. Cancellation is
/// final: a cancelled group stays cancelled.
///
/// # Drop
///
/// Dropping the group cancels its token and aborts every task still in it,
/// at once (a destructor cannot wait for a grace period; call
/// [`cancel`](TaskGroup::cancel) first for that). [`detach`](TaskGroup::detach)
/// is the opt-out: it lets the tasks run on, unowned.
///
/// # Compared with `JoinSet` and `TaskTracker`
///
/// Against tokio's [`JoinSet`]: names without `tokio_unstable`, a limit,
/// panics as messages, a [`join_all`](TaskGroup::join_all) that never
/// panics, first-error cancellation with
/// [`try_join_all`](TaskGroup::try_join_all), and a graceful cancel. Against
/// tokio-util's `TaskTracker`: the group cancels its tasks on drop, its
/// cancellation stops tasks from starting, and it hands back each outcome
/// instead of only waiting.
///
/// # Defaults
///
/// - no limit ([`new`](TaskGroup::new));
/// - grace period of [`DEFAULT_GRACE_PERIOD`](TaskGroup::DEFAULT_GRACE_PERIOD)
///   (5 s), changed with [`grace_period`](TaskGroup::grace_period);
/// - abort wait of [`DEFAULT_ABORT_WAIT`](TaskGroup::DEFAULT_ABORT_WAIT)
///   (1 s), changed with [`abort_wait`](TaskGroup::abort_wait);
/// - a fresh token, or a child of another one with
///   [`child_of`](TaskGroup::child_of).
///
/// # Example
///
/// ```
/// use evenkeel_tasks::TaskGroup;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut group = TaskGroup::<u64, std::io::Error>::with_limit(2);
/// for n in 1..=5 {
///     group.spawn(format!("square-{n}"), async move { Ok(n * n) });
/// }
/// let mut squares = group.try_join_all().await.unwrap();
/// squares.sort_unstable();
/// assert_eq!(squares, [1, 4, 9, 16, 25]);
/// assert_eq!(group.stats().succeeded, 5);
/// # }
/// ```
pub struct TaskGroup<T, E> {
    pub(crate) set: JoinSet<Output<T, E>>,
    pub(crate) names: Names,
    pub(crate) shared: Arc<Shared>,
    limit: Option<usize>,
    pub(crate) grace: Duration,
    /// How long `cancel` waits for its aborts to land.
    pub(crate) abort_wait: Duration,
    /// Outcomes collected while cancelling, handed out first by `join_next`.
    pub(crate) finished: VecDeque<Result<T, TaskError<E>>>,
    pub(crate) counters: Counters,
    /// Whether `token()` handed out a clone (then `child_of` must link the
    /// token rather than replace it).
    token_lent: AtomicBool,
    pub(crate) detached: bool,
}

impl<T, E> TaskGroup<T, E> {
    /// How long [`cancel`](TaskGroup::cancel) waits for tasks to return on
    /// their own before aborting them, unless
    /// [`grace_period`](TaskGroup::grace_period) says otherwise: 5 seconds.
    pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(5);

    /// How long [`cancel`](TaskGroup::cancel) waits for aborted tasks to
    /// stop before reporting them [`Stuck`](TaskError::Stuck), unless
    /// [`abort_wait`](TaskGroup::abort_wait) says otherwise: 1 second (an
    /// abort lands within microseconds on any task that yields).
    pub const DEFAULT_ABORT_WAIT: Duration = Duration::from_secs(1);

    /// Creates an empty group with no concurrency limit.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::TaskGroup;
    ///
    /// let group = TaskGroup::<(), std::io::Error>::new();
    /// assert!(group.is_empty());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::build(None, None)
    }

    /// Creates an empty group that runs at most `limit` task bodies at once.
    ///
    /// Further spawns do not wait: their tasks wait inside the group for a
    /// free slot (see [the type docs](TaskGroup#limit)). A `limit` of 0 is
    /// treated as 1, so that spawned tasks can always make progress, and a
    /// limit above tokio's `Semaphore::MAX_PERMITS` is lowered to it.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::TaskGroup;
    ///
    /// let group = TaskGroup::<(), std::io::Error>::with_limit(8);
    /// assert_eq!(group.limit(), Some(8));
    /// ```
    #[must_use]
    pub fn with_limit(limit: usize) -> Self {
        let permits = limit.clamp(1, Semaphore::MAX_PERMITS);
        Self::build(Some(Arc::new(Semaphore::new(permits))), Some(permits))
    }

    fn build(semaphore: Option<Arc<Semaphore>>, limit: Option<usize>) -> Self {
        Self {
            set: JoinSet::new(),
            names: Names::default(),
            shared: Arc::new(Shared {
                token: CancellationToken::new(),
                limit: semaphore,
            }),
            limit,
            grace: Self::DEFAULT_GRACE_PERIOD,
            abort_wait: Self::DEFAULT_ABORT_WAIT,
            finished: VecDeque::new(),
            counters: Counters::default(),
            token_lent: AtomicBool::new(false),
            detached: false,
        }
    }

    /// Sets how long [`cancel`](TaskGroup::cancel) waits before aborting.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::TaskGroup;
    /// use std::time::Duration;
    ///
    /// let group = TaskGroup::<(), std::io::Error>::new().grace_period(Duration::from_millis(250));
    /// assert_eq!(group.grace(), Duration::from_millis(250));
    /// ```
    #[must_use]
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Sets how long [`cancel`](TaskGroup::cancel) waits, after aborting,
    /// for the aborts to land before it lets the tasks still running go and
    /// reports them [`Stuck`](TaskError::Stuck).
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::TaskGroup;
    /// use std::time::Duration;
    ///
    /// let group = TaskGroup::<(), std::io::Error>::new().abort_wait(Duration::from_millis(100));
    /// # let _ = group;
    /// ```
    #[must_use]
    pub fn abort_wait(mut self, wait: Duration) -> Self {
        self.abort_wait = wait;
        self
    }

    /// Makes the group's token a child of `parent`: cancelling `parent` (for
    /// example a shutdown token) cancels the group's token too, never the
    /// reverse. Meant to be called before spawning.
    ///
    /// # Panics
    ///
    /// Only when tasks were already spawned or [`token`](TaskGroup::token)
    /// was already called, and this is called outside a tokio runtime: the
    /// link then needs a watcher task, spawned like `tokio::spawn` does.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::TaskGroup;
    /// use tokio_util::sync::CancellationToken;
    ///
    /// let shutdown = CancellationToken::new();
    /// let group = TaskGroup::<(), std::io::Error>::new().child_of(&shutdown);
    /// shutdown.cancel();
    /// assert!(group.is_cancelled());
    /// ```
    #[must_use]
    pub fn child_of(mut self, parent: &CancellationToken) -> Self {
        let token = parent.child_token();
        let untouched = self.counters.spawned == 0 && !*self.token_lent.get_mut();
        if let (true, Some(shared)) = (untouched, Arc::get_mut(&mut self.shared)) {
            shared.token = token;
        } else {
            // Tasks or callers already hold the current token, so it cannot
            // be replaced: a small watcher links it to the parent and ends as
            // soon as either is cancelled.
            let own = self.shared.token.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = token.cancelled() => own.cancel(),
                    () = own.cancelled() => {}
                }
            });
        }
        self
    }

    /// A clone of the token the group's tasks can watch.
    ///
    /// A task returns early when it is cancelled (`token.cancelled().await`
    /// in a `select!`, or `token.is_cancelled()` between steps). Cancelling
    /// this clone cancels the group cooperatively (without the abort that
    /// [`cancel`](TaskGroup::cancel) adds after the grace period).
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::TaskGroup;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut group = TaskGroup::<&str, std::io::Error>::new();
    /// let token = group.token();
    /// group.spawn("listener", async move {
    ///     token.cancelled().await;
    ///     Ok("stopped cleanly")
    /// });
    /// tokio::task::yield_now().await; // let it start
    /// group.token().cancel();
    /// assert_eq!(group.join_next().await.unwrap().unwrap(), "stopped cleanly");
    /// # }
    /// ```
    pub fn token(&self) -> CancellationToken {
        self.token_lent.store(true, Ordering::Relaxed);
        self.shared.token.clone()
    }

    /// Whether the group's token has been cancelled.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::TaskGroup;
    ///
    /// let group = TaskGroup::<(), std::io::Error>::new();
    /// assert!(!group.is_cancelled());
    /// group.token().cancel();
    /// assert!(group.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.shared.token.is_cancelled()
    }

    /// The concurrency limit, if any.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::TaskGroup;
    ///
    /// assert_eq!(TaskGroup::<(), std::io::Error>::new().limit(), None);
    /// assert_eq!(TaskGroup::<(), std::io::Error>::with_limit(3).limit(), Some(3));
    /// ```
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// The grace period [`cancel`](TaskGroup::cancel) uses.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::TaskGroup;
    ///
    /// let group = TaskGroup::<(), std::io::Error>::new();
    /// assert_eq!(group.grace(), TaskGroup::<(), std::io::Error>::DEFAULT_GRACE_PERIOD);
    /// ```
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// How many tasks have not been joined yet: running, waiting for a slot,
    /// or finished with an outcome not yet taken by a `join_*` method.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::TaskGroup;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut group = TaskGroup::<(), std::io::Error>::new();
    /// group.spawn("a", async { Ok(()) });
    /// assert_eq!(group.len(), 1);
    /// group.join_all().await;
    /// assert_eq!(group.len(), 0);
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.set.len() + self.finished.len()
    }

    /// Whether every spawned task has been joined.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::TaskGroup;
    ///
    /// assert!(TaskGroup::<(), std::io::Error>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of the group's counters.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_tasks::TaskGroup;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut group = TaskGroup::<(), &str>::new();
    /// group.spawn("ok", async { Ok(()) });
    /// group.spawn("bad", async { Err("no") });
    /// group.join_all().await;
    /// let stats = group.stats();
    /// assert_eq!((stats.spawned, stats.succeeded, stats.failed), (2, 1, 1));
    /// # }
    /// ```
    pub fn stats(&self) -> TaskStats {
        let running = match (&self.shared.limit, self.limit) {
            // Each running body holds one permit.
            (Some(semaphore), Some(limit)) => limit.saturating_sub(semaphore.available_permits()),
            _ => self.set.len(),
        };
        self.counters.snapshot(running)
    }
}

impl<T, E> Default for TaskGroup<T, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, E> Drop for TaskGroup<T, E> {
    fn drop(&mut self) {
        if !self.detached {
            // Tell anyone watching the token (including tokens derived from
            // it); the JoinSet's own drop then aborts every task.
            self.shared.token.cancel();
        }
    }
}

impl<T, E> fmt::Debug for TaskGroup<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("len", &self.len())
            .field("limit", &self.limit())
            .field("grace", &self.grace)
            .field("cancelled", &self.is_cancelled())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
