//! Lesson `tasks`: owning the tasks you spawn.
//!
//! # The problem
//!
//! A request handler fans out into tasks: fetch five things at once, or
//! process fifty items. Someone must own those tasks: bound how many run at
//! once, collect every outcome, stop the rest when one fails, and make sure
//! none outlives the request that started it.
//!
//! # The naive version
//!
//! [`naive`] uses what tokio hands you, the way it is usually written:
//!
//! 1. **No limit.** A `JoinSet` runs everything it is given at once: fifty
//!    items means fifty concurrent calls on whatever they share (a database
//!    pool, a downstream service), unless a `Semaphore` is wired in by hand.
//! 2. **`JoinSet::join_all` panics on a cancelled task.** Abort one task
//!    (a timeout, a user hitting "cancel") and collecting the results
//!    panics instead of reporting it.
//! 3. **The first error leaves the others running.** Tasks spawned with
//!    `tokio::spawn` and awaited one by one with `h.await??`: the first
//!    failure returns from the owner, the other handles are dropped, and
//!    dropping a `JoinHandle` detaches its task. The siblings run to the
//!    end, doing work no one will read.
//! 4. **Dropping the owner leaks its tasks.** When the owner itself is
//!    dropped (the request timed out), the same happens to every task.
//!
//! # The evenkeel version
//!
//! [`with_evenkeel`] uses [`evenkeel_tasks::TaskGroup`]:
//!
//! 1. [`TaskGroup::with_limit`] runs at most `limit` task bodies at once;
//!    the rest wait inside the group, in spawn order.
//! 2. [`TaskGroup::join_all`] returns every outcome and never panics: a
//!    cancelled task is `TaskError::Cancelled { name }`.
//! 3. [`TaskGroup::try_join_all`] returns the first failure as soon as it
//!    happens, with the task's name, after cancelling the siblings through
//!    the group's token (and aborting what ignores it after a grace period).
//! 4. Dropping a group aborts its tasks ([`TaskGroup::detach`] is the
//!    explicit opt-out).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use evenkeel_tasks::{TaskError, TaskGroup};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};

/// The work both versions fan out.
///
/// # Example
///
/// ```
/// use evenkeel_examples::tasks::Scenario;
///
/// let s = Scenario::default();
/// assert_eq!((s.items, s.limit, s.fetches), (50, 5, 5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Items processed by the fan-out of part 1.
    pub items: usize,
    /// The concurrency limit of the evenkeel group.
    pub limit: usize,
    /// Time one item or one fetch takes.
    pub work: Duration,
    /// Fetches started by the owner of parts 3 and 4.
    pub fetches: usize,
    /// When the failing fetch (`fetch-0`) fails.
    pub fails_after: Duration,
    /// When the owner of part 4 is dropped (its request timed out).
    pub owner_timeout: Duration,
}

impl Default for Scenario {
    /// 50 items of 100 ms, limit 5; 5 fetches of 100 ms, one failing after
    /// 10 ms; the owner of part 4 dropped after 20 ms.
    fn default() -> Self {
        Self {
            items: 50,
            limit: 5,
            work: Duration::from_millis(100),
            fetches: 5,
            fails_after: Duration::from_millis(10),
            owner_timeout: Duration::from_millis(20),
        }
    }
}

/// What one version measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Part 1: the most item tasks running at once.
    pub max_running: usize,
    /// Part 1: time until all items were done.
    pub items_took: Duration,
    /// Part 2: whether collecting the results panicked after one of three
    /// tasks was aborted.
    pub join_all_panicked: bool,
    /// Part 2: the outcomes collecting returned (0 when it panicked).
    pub outcomes_reported: usize,
    /// Part 2: the name reported for the aborted task, if any.
    pub cancelled_task: Option<String>,
    /// Part 3: the error the owner returned.
    pub first_error: String,
    /// Part 3: when the owner returned it.
    pub owner_returned_after: Duration,
    /// Part 3: sibling fetches that completed their work after the owner
    /// had already returned the error.
    pub siblings_outlived_owner: usize,
    /// Part 4: fetches that completed their work after their owner was
    /// dropped.
    pub tasks_outlived_dropped_owner: usize,
}

/// Counts how many tasks run their body at once.
#[derive(Debug, Default)]
struct Running {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Running {
    async fn work(&self, work: Duration) {
        let now = self.now.fetch_add(1, Ordering::Relaxed) + 1;
        self.max.fetch_max(now, Ordering::Relaxed);
        sleep(work).await;
        self.now.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One fetch of parts 3 and 4: `fetch-0` fails after `fails_after` (when
/// `failing`), the others work for `work` and then count themselves done.
async fn fetch(i: usize, s: Scenario, failing: bool, done: Arc<AtomicUsize>) -> Result<(), String> {
    if failing && i == 0 {
        sleep(s.fails_after).await;
        return Err("upstream refused the request".into());
    }
    sleep(s.work).await;
    done.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Long enough for any task that outlived its owner to finish its work.
const AFTERMATH: Duration = Duration::from_secs(10);

/// The four parts with `JoinSet` and `tokio::spawn`.
///
/// Needs a tokio runtime with time enabled; on the paused clock the run
/// is exact and instant. Part 2 panics inside its own task; the panic is
/// caught and reported, but the panic hook still prints it.
///
/// # Example
///
/// ```
/// use evenkeel_examples::tasks::{Scenario, naive};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let outcome = naive(&Scenario::default()).await;
/// assert_eq!(outcome.max_running, 50);
/// assert!(outcome.join_all_panicked);
/// assert_eq!(outcome.tasks_outlived_dropped_owner, 5);
/// # }
/// ```
pub async fn naive(s: &Scenario) -> Outcome {
    let s = *s;

    // 1. No limit: every item at once.
    let started = Instant::now();
    let running = Arc::new(Running::default());
    let mut set = JoinSet::new();
    for _ in 0..s.items {
        let running = Arc::clone(&running);
        set.spawn(async move { running.work(s.work).await });
    }
    while set.join_next().await.is_some() {}
    let items_took = started.elapsed();

    // 2. One of three tasks is aborted; join_all panics on it.
    let collected = tokio::spawn(async move {
        let mut set = JoinSet::new();
        let doomed = set.spawn(sleep(s.work));
        set.spawn(sleep(s.work));
        set.spawn(sleep(s.work));
        doomed.abort();
        set.join_all().await.len()
    })
    .await;

    // 3. Spawned tasks awaited one by one with `??`: the first error returns.
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let owner = async {
        let handles: Vec<_> = (0..s.fetches)
            .map(|i| tokio::spawn(fetch(i, s, true, Arc::clone(&done))))
            .collect();
        for handle in handles {
            handle.await.map_err(|e| e.to_string())??;
        }
        Ok::<(), String>(())
    };
    let first_error = owner.await.err().unwrap_or_default();
    let owner_returned_after = started.elapsed();
    let done_at_return = done.load(Ordering::Relaxed);
    sleep(AFTERMATH).await;
    let siblings_outlived_owner = done.load(Ordering::Relaxed) - done_at_return;

    // 4. The owner is dropped (its request timed out); its tasks run on.
    let done = Arc::new(AtomicUsize::new(0));
    let owner = async {
        let handles: Vec<_> = (0..s.fetches)
            .map(|i| tokio::spawn(fetch(i, s, false, Arc::clone(&done))))
            .collect();
        for handle in handles {
            let _ = handle.await;
        }
    };
    let _ = timeout(s.owner_timeout, owner).await;
    let done_at_drop = done.load(Ordering::Relaxed);
    sleep(AFTERMATH).await;

    Outcome {
        max_running: running.max.load(Ordering::Relaxed),
        items_took,
        join_all_panicked: collected
            .as_ref()
            .is_err_and(tokio::task::JoinError::is_panic),
        outcomes_reported: collected.unwrap_or(0),
        cancelled_task: None,
        first_error,
        owner_returned_after,
        siblings_outlived_owner,
        tasks_outlived_dropped_owner: done.load(Ordering::Relaxed) - done_at_drop,
    }
}

/// The four parts with [`TaskGroup`].
///
/// Needs a tokio runtime with time enabled.
///
/// # Example
///
/// ```
/// use evenkeel_examples::tasks::{Scenario, with_evenkeel};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let outcome = with_evenkeel(&Scenario::default()).await;
/// assert_eq!(outcome.max_running, 5);
/// assert!(!outcome.join_all_panicked);
/// assert_eq!(outcome.tasks_outlived_dropped_owner, 0);
/// # }
/// ```
pub async fn with_evenkeel(s: &Scenario) -> Outcome {
    let s = *s;

    // 1. At most `limit` bodies at once; the rest wait inside the group.
    let started = Instant::now();
    let running = Arc::new(Running::default());
    let mut group = TaskGroup::<(), Infallible>::with_limit(s.limit);
    for i in 0..s.items {
        let running = Arc::clone(&running);
        group.spawn(format!("item-{i}"), async move {
            running.work(s.work).await;
            Ok(())
        });
    }
    group.join_all().await;
    let items_took = started.elapsed();

    // 2. One of three tasks is aborted; join_all reports it by name.
    let mut group = TaskGroup::<(), Infallible>::new();
    let doomed = group.spawn("doomed", async move {
        sleep(s.work).await;
        Ok(())
    });
    for name in ["kept-1", "kept-2"] {
        group.spawn(name, async move {
            sleep(s.work).await;
            Ok(())
        });
    }
    doomed.abort();
    let outcomes = group.join_all().await;
    let cancelled_task = outcomes.iter().find_map(|outcome| match outcome {
        Err(TaskError::Cancelled { name }) => Some(name.to_string()),
        _ => None,
    });

    // 3. try_join_all: the first error cancels the siblings, which watch
    // the group's token.
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut group = TaskGroup::<(), String>::new();
    for i in 0..s.fetches {
        let token = group.token();
        let fetch = fetch(i, s, true, Arc::clone(&done));
        group.spawn(format!("fetch-{i}"), async move {
            tokio::select! {
                result = fetch => result,
                () = token.cancelled() => Err("cancelled".into()),
            }
        });
    }
    let first_error = match group.try_join_all().await {
        Ok(_) => String::new(),
        Err(error) => format!("{}: {}", error.name(), describe(&error)),
    };
    let owner_returned_after = started.elapsed();
    let done_at_return = done.load(Ordering::Relaxed);
    sleep(AFTERMATH).await;
    let siblings_outlived_owner = done.load(Ordering::Relaxed) - done_at_return;

    // 4. The owner is dropped (its request timed out); the group aborts its
    // tasks as it goes.
    let done = Arc::new(AtomicUsize::new(0));
    let owner = async {
        let mut group = TaskGroup::<(), String>::new();
        for i in 0..s.fetches {
            group.spawn(format!("fetch-{i}"), fetch(i, s, false, Arc::clone(&done)));
        }
        group.join_all().await;
    };
    let _ = timeout(s.owner_timeout, owner).await;
    let done_at_drop = done.load(Ordering::Relaxed);
    sleep(AFTERMATH).await;

    Outcome {
        max_running: running.max.load(Ordering::Relaxed),
        items_took,
        join_all_panicked: false,
        outcomes_reported: outcomes.len(),
        cancelled_task,
        first_error,
        owner_returned_after,
        siblings_outlived_owner,
        tasks_outlived_dropped_owner: done.load(Ordering::Relaxed) - done_at_drop,
    }
}

fn describe(error: &TaskError<String>) -> String {
    match error {
        TaskError::Failed { error, .. } => error.clone(),
        other => other.to_string(),
    }
}
