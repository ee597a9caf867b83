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

/// The shedding state of one queue. Times are the queue clock's
/// nanoseconds since the queue was built (see the `clock` module).
pub(crate) struct CodelState<T> {
    /// `Codel::target` in nanoseconds.
    target: u64,
    /// `Codel::interval` in nanoseconds.
    interval: u64,
    /// When the queue was last seen empty (it starts empty, at 0).
    last_empty: AtomicU64,
    pub(crate) on_shed: OnShed<T>,
}

impl<T> CodelState<T> {
    pub(crate) fn new(config: Codel, on_shed: OnShed<T>) -> Self {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Self {
            target: nanos(config.target),
            interval: nanos(config.interval),
            last_empty: AtomicU64::new(0),
            on_shed,
        }
    }

    /// Records that the queue was seen empty at `now`.
    pub(crate) fn mark_empty(&self, now: u64) {
        self.last_empty.fetch_max(now, Relaxed);
    }

    /// Whether an item dequeued at `now` after waiting `wait` is shed.
    pub(crate) fn should_shed(&self, now: u64, wait: u64) -> bool {
        let empty_ago = now.saturating_sub(self.last_empty.load(Relaxed));
        let limit = if empty_ago > self.interval {
            self.target
        } else {
            self.interval
        };
        wait > limit
    }
}

impl<T> fmt::Debug for CodelState<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodelState")
            .field("target_nanos", &self.target)
            .field("interval_nanos", &self.interval)
            .finish_non_exhaustive()
    }
}
