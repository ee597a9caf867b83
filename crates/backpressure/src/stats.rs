//! Counters the queue keeps, and the [`Stats`] snapshot it hands out.
//!
//! Producers and consumers update different counters, so the two groups live
//! on separate cache lines ([`ProducerSide`], [`ConsumerSide`]): a producer
//! bumping `enqueued` does not steal the line a worker is bumping
//! `dequeued` on. Consumers are many and run on every runtime thread, so
//! their counters are striped: a dequeue writes the stripe of the thread it
//! runs on, and a snapshot adds the stripes up (the largest for the maximum
//! wait). Workers on different threads then do not take the same cache line
//! from each other on every item. Every counter is a relaxed atomic; a
//! snapshot is a consistent picture of each counter, not of all of them at
//! one instant, and exact once no send or receive is in flight.
//!
//! Queue wait is measured from an item's enqueue timestamp (taken with
//! [`tokio::time::Instant`], so tests under paused time get exact values) to
//! the moment a receiver takes it out.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

/// Stripes of consumer counters (see the module docs).
pub(crate) const STRIPES: usize = 4;

/// The consumer stripe of the calling thread: threads get stripes in turn,
/// the first time each one dequeues.
#[cfg(not(loom))]
pub(crate) fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Relaxed) % STRIPES;
    }
    // During thread teardown the thread-local may be gone: any stripe is
    // correct, only the spread differs.
    STRIPE.try_with(|s| *s).unwrap_or(0)
}

/// Under loom every modelled thread runs on one OS thread, so a std
/// thread-local would give them all one stripe: spread them by loom's
/// thread number instead (its `Debug` form, `ThreadId(n)`, is the only
/// public view of it that does not change from one execution to the next,
/// and a model must replay identically).
#[cfg(loom)]
pub(crate) fn stripe() -> usize {
    let id = format!("{:?}", loom::thread::current().id());
    let n: usize = id
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(0);
    n % STRIPES
}

/// Upper bounds of the queue-wait histogram buckets in [`WaitStats::buckets`]:
/// bucket `i` counts waits `<= WAIT_BUCKET_BOUNDS[i]` (and above the previous
/// bound); the last bucket counts everything longer than the last bound.
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::WAIT_BUCKET_BOUNDS;
/// use std::time::Duration;
///
/// assert_eq!(WAIT_BUCKET_BOUNDS[0], Duration::from_micros(100));
/// assert_eq!(WAIT_BUCKET_BOUNDS.len(), 5);
/// ```
pub const WAIT_BUCKET_BOUNDS: [Duration; 5] = [
    Duration::from_micros(100),
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_millis(100),
    Duration::from_secs(1),
];

/// How long dequeued items waited in the queue.
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::bounded;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let (tx, rx) = bounded(4);
/// tx.send(1).await.unwrap();
/// tokio::time::advance(std::time::Duration::from_millis(5)).await;
/// rx.recv().await.unwrap();
/// let wait = rx.stats().wait;
/// assert_eq!(wait.count, 1);
/// assert_eq!(wait.max, std::time::Duration::from_millis(5));
/// assert_eq!(wait.buckets, [0, 0, 1, 0, 0, 0]);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitStats {
    /// Items whose wait was measured: every dequeued item, or none if the
    /// queue was built with [`track_wait(false)`](crate::Builder::track_wait).
    pub count: u64,
    /// Total wait of those items.
    pub sum: Duration,
    /// Longest single wait.
    pub max: Duration,
    /// Histogram over [`WAIT_BUCKET_BOUNDS`], plus one overflow bucket.
    pub buckets: [u64; 6],
}

impl WaitStats {
    /// Mean wait, or `None` before the first dequeue.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::WaitStats;
    ///
    /// assert_eq!(WaitStats::default().mean(), None);
    /// ```
    pub fn mean(&self) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let nanos = self.sum.as_nanos() / u128::from(self.count);
        Some(Duration::from_nanos(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        ))
    }
}

/// A snapshot of a queue's counters, from
/// [`Sender::stats`](crate::Sender::stats) or
/// [`Receiver::stats`](crate::Receiver::stats).
///
/// The counters obey `enqueued == dequeued + evicted + shed + len` once no
/// send or receive is in flight. Items refused at the door (`rejected`) were
/// never enqueued.
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::{Overflow, Queue};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (tx, rx) = Queue::builder(2).overflow(Overflow::DropOldest).build().unwrap();
/// for i in 0..5 {
///     let _evicted = tx.send(i).await.unwrap();
/// }
/// assert_eq!(rx.recv().await, Some(3));
/// let s = rx.stats();
/// assert_eq!((s.len, s.capacity, s.high_water), (1, 2, 2));
/// assert_eq!((s.enqueued, s.dequeued, s.dropped, s.evicted), (5, 1, 3, 3));
/// assert_eq!(s.enqueued, s.dequeued + s.evicted + s.len as u64);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Items in the queue now.
    pub len: usize,
    /// The queue's capacity (count bound).
    pub capacity: usize,
    /// The most slots in use at once: queued items plus slots held by
    /// [`Permit`](crate::Permit)s and sends in flight. Never above `capacity`.
    pub high_water: usize,
    /// Items admitted into the queue.
    pub enqueued: u64,
    /// Items handed back because there was no room: refused by
    /// [`Overflow::Reject`](crate::Overflow::Reject), by `try_send` on a full
    /// queue, by `send_timeout` at its deadline, or as too heavy.
    pub rejected: u64,
    /// Items dropped by policy: queued items evicted by
    /// [`Overflow::DropOldest`](crate::Overflow::DropOldest), each handed back
    /// to the sender whose item replaced it. (The only dropping policy today;
    /// the field stays apart from `evicted` for policies to come.)
    pub dropped: u64,
    /// The part of `dropped` that was evicted from the queue (`DropOldest`).
    pub evicted: u64,
    /// Items taken out by receivers (`recv`, `try_recv`, `recv_many`, `drain`).
    pub dequeued: u64,
    /// Items shed at dequeue for waiting too long
    /// ([`Builder::codel`](crate::Builder::codel)); each went to the shed
    /// callback.
    pub shed: u64,
    /// Weight of the items in the queue and of outstanding weighted permits
    /// (0 for a queue without a weight budget).
    pub weight: u64,
    /// The weight budget, if the queue has one.
    pub weight_budget: Option<u32>,
    /// Time from enqueue to dequeue.
    pub wait: WaitStats,
}

/// Counters written by producers.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct ProducerSide {
    pub(crate) enqueued: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) evicted: AtomicU64,
    pub(crate) high_water: AtomicUsize,
}

/// Counters written by consumers (one stripe of them).
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct ConsumerSide {
    /// Dequeues whose wait was not measured; the measured ones are counted
    /// by `buckets` alone, so `dequeued` is this plus the buckets.
    pub(crate) unmeasured: AtomicU64,
    pub(crate) shed: AtomicU64,
    pub(crate) wait_sum_nanos: AtomicU64,
    pub(crate) wait_max_nanos: AtomicU64,
    pub(crate) buckets: [AtomicU64; 6],
}

/// Both groups of counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) producer: ProducerSide,
    pub(crate) consumer: [ConsumerSide; STRIPES],
}

/// [`WAIT_BUCKET_BOUNDS`] in nanoseconds (each well under `u64::MAX`).
#[allow(clippy::cast_possible_truncation)]
const WAIT_BUCKET_NANOS: [u64; 5] = {
    let mut out = [0; 5];
    let mut i = 0;
    while i < out.len() {
        out[i] = WAIT_BUCKET_BOUNDS[i].as_nanos() as u64;
        i += 1;
    }
    out
};

impl Counters {
    /// Records one enqueued item.
    pub(crate) fn on_enqueue(&self) {
        self.producer.enqueued.fetch_add(1, Relaxed);
    }

    pub(crate) fn high_water(&self) -> usize {
        self.producer.high_water.load(Relaxed)
    }

    /// Records a slot taken; `in_use` is how many are taken just after.
    pub(crate) fn on_admit(&self, in_use: usize) {
        // Read first: the common case (not a new maximum) then writes nothing.
        if in_use > self.producer.high_water.load(Relaxed) {
            self.producer.high_water.fetch_max(in_use, Relaxed);
        }
    }

    pub(crate) fn on_reject(&self) {
        self.producer.rejected.fetch_add(1, Relaxed);
    }

    pub(crate) fn on_evict(&self) {
        self.producer.dropped.fetch_add(1, Relaxed);
        self.producer.evicted.fetch_add(1, Relaxed);
    }

    pub(crate) fn on_shed(&self) {
        self.consumer[stripe()].shed.fetch_add(1, Relaxed);
    }

    /// Records one dequeued item that waited `wait` nanoseconds (`None`:
    /// not measured).
    pub(crate) fn on_dequeue(&self, wait: Option<u64>) {
        let c = &self.consumer[stripe()];
        let Some(n) = wait else {
            c.unmeasured.fetch_add(1, Relaxed);
            return;
        };
        c.wait_sum_nanos.fetch_add(n, Relaxed);
        if n > c.wait_max_nanos.load(Relaxed) {
            c.wait_max_nanos.fetch_max(n, Relaxed);
        }
        let bucket = WAIT_BUCKET_NANOS
            .iter()
            .position(|bound| n <= *bound)
            .unwrap_or(WAIT_BUCKET_NANOS.len());
        c.buckets[bucket].fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self, len: usize, capacity: usize) -> Stats {
        let p = &self.producer;
        let sum = |f: fn(&ConsumerSide) -> &AtomicU64| {
            self.consumer
                .iter()
                .map(|c| f(c).load(Relaxed))
                .fold(0, u64::wrapping_add)
        };
        let buckets: [u64; 6] = std::array::from_fn(|i| {
            self.consumer
                .iter()
                .map(|c| c.buckets[i].load(Relaxed))
                .fold(0, u64::wrapping_add)
        });
        let dequeued = buckets
            .iter()
            .fold(sum(|c| &c.unmeasured), |a, b| a.wrapping_add(*b));
        Stats {
            len,
            capacity,
            high_water: p.high_water.load(Relaxed),
            enqueued: p.enqueued.load(Relaxed),
            rejected: p.rejected.load(Relaxed),
            dropped: p.dropped.load(Relaxed),
            evicted: p.evicted.load(Relaxed),
            dequeued,
            shed: sum(|c| &c.shed),
            weight: 0,
            weight_budget: None,
            wait: WaitStats {
                count: dequeued,
                sum: Duration::from_nanos(sum(|c| &c.wait_sum_nanos)),
                max: Duration::from_nanos(
                    self.consumer
                        .iter()
                        .map(|c| c.wait_max_nanos.load(Relaxed))
                        .max()
                        .unwrap_or(0),
                ),
                buckets,
            },
        }
    }
}
