//! Queue-delay shedding: [`Codel`], after Facebook's "Fail at Scale".
//!
//! A bounded queue limits how *many* items wait, not how *long*. Under
//! sustained overload a full queue turns into a standing queue: every item
//! waits the whole queue length, and by the time a worker reaches it the
//! client may have given up. `CoDel` (controlled delay) watches the time items
//! spend queued instead of the count.
//!
//! The variant here is the one Facebook describes in "Fail at Scale" (ACM
//! Queue, 2015): if the queue has not been empty at any moment during the
//! last `interval` (100 ms by default), it is a standing queue, and an item
//! that waited longer than `target` (5 ms) is shed at dequeue. Otherwise the
//! queue is absorbing a burst, and items may wait up to `interval`. Shed
//! items are not dropped silently: each goes to the `on_shed` callback given
//! to [`Builder::codel`](crate::Builder::codel) (answer the client with an
//! error there) and is counted in [`Stats::shed`](crate::Stats::shed).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;

/// Queue-delay shedding settings (see [`Builder::codel`](crate::Builder::codel)).
///
/// # Defaults
///
/// - `target`: 5 ms (the longest wait accepted in a standing queue)
/// - `interval`: 100 ms (how long the queue must go without being empty to
///   count as standing; also the longest wait accepted during a burst)
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::Codel;
/// use std::time::Duration;
///
/// let codel = Codel::default();
/// assert_eq!(codel.target, Duration::from_millis(5));
/// assert_eq!(codel.interval, Duration::from_millis(100));
/// let strict = Codel { target: Duration::from_millis(1), ..Codel::default() };
/// # let _ = strict;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Codel {
    /// The longest wait accepted once the queue is standing.
    pub target: Duration,
    /// How long the queue must stay non-empty to count as standing, and the
    /// longest wait accepted while it is not.
    pub interval: Duration,
}

impl Default for Codel {
    fn default() -> Self {
        Self {
            target: Duration::from_millis(5),
            interval: Duration::from_millis(100),
        }
    }
}

/// What a shed item is handed to.
pub(crate) type OnShed<T> = Box<dyn Fn(T) + Send + Sync>;

/// The shedding state of one queue.
pub(crate) struct CodelState<T> {
    config: Codel,
    /// Time origin for `last_empty`.
    base: Instant,
    /// Nanoseconds after `base` at which the queue was last seen empty.
    last_empty: AtomicU64,
    pub(crate) on_shed: OnShed<T>,
}

impl<T> CodelState<T> {
    /// A queue starts empty, at `now`.
    pub(crate) fn new(config: Codel, now: Instant, on_shed: OnShed<T>) -> Self {
        Self {
            config,
            base: now,
            last_empty: AtomicU64::new(0),
            on_shed,
        }
    }

    fn since_base(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Records that the queue was seen empty at `now`.
    pub(crate) fn mark_empty(&self, now: Instant) {
        self.last_empty.fetch_max(self.since_base(now), Relaxed);
    }

    /// Whether an item dequeued at `now` after waiting `wait` is shed.
    pub(crate) fn should_shed(&self, now: Instant, wait: Duration) -> bool {
        let empty_ago = Duration::from_nanos(
            self.since_base(now)
                .saturating_sub(self.last_empty.load(Relaxed)),
        );
        let limit = if empty_ago > self.config.interval {
            self.config.target
        } else {
            self.config.interval
        };
        wait > limit
    }
}

impl<T> fmt::Debug for CodelState<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodelState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
