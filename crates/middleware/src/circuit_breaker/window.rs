//! Sliding windows of call outcomes: the last N calls, or the last T of time.
//!
//! A count window is a ring of outcomes with running totals, so adding a
//! call and reading the totals are O(1). A time window is a ring of ten
//! buckets, each a tenth of the window wide; a call leaves the window when
//! its whole bucket has aged out, so the window is exact to a tenth of its
//! span, and memory stays at ten buckets however many calls arrive.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Which calls a breaker's failure rate is computed over.
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::circuit_breaker::SlidingWindow;
///
/// let last_100_calls = SlidingWindow::Count(100);
/// let last_minute = SlidingWindow::Time(Duration::from_secs(60));
/// # let _ = (last_100_calls, last_minute);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlidingWindow {
    /// The last `n` calls (0 is treated as 1).
    Count(usize),
    /// The calls of the last span of time, in ten buckets.
    Time(Duration),
}

/// Totals over the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

impl Totals {
    fn add(&mut self, failed: bool, slow: bool) {
        self.calls += 1;
        self.failures += u64::from(failed);
        self.slow += u64::from(slow);
    }

    fn sub(&mut self, other: Totals) {
        self.calls -= other.calls;
        self.failures -= other.failures;
        self.slow -= other.slow;
    }
}

const BUCKETS: u64 = 10;

#[derive(Debug)]
pub(crate) enum Window {
    Count {
        size: usize,
        ring: VecDeque<(bool, bool)>,
        totals: Totals,
    },
    Time {
        base: Instant,
        /// Bucket width in nanoseconds (at least 1).
        width: u64,
        /// (bucket index, totals of that bucket), oldest first.
        buckets: VecDeque<(u64, Totals)>,
        totals: Totals,
    },
}

impl Window {
    pub(crate) fn new(kind: SlidingWindow) -> Self {
        match kind {
            SlidingWindow::Count(n) => Self::Count {
                size: n.max(1),
                ring: VecDeque::with_capacity(n.clamp(1, 1024)),
                totals: Totals::default(),
            },
            SlidingWindow::Time(span) => Self::Time {
                base: Instant::now(),
                width: (u64::try_from(span.as_nanos()).unwrap_or(u64::MAX) / BUCKETS).max(1),
                buckets: VecDeque::with_capacity(10),
                totals: Totals::default(),
            },
        }
    }

    /// Records one call's outcome.
    /// `now` is read only by a time window; a count window passes `None`.
    pub(crate) fn record(&mut self, failed: bool, slow: bool, now: Option<Instant>) {
        match self {
            Self::Count { size, ring, totals } => {
                if ring.len() == *size
                    && let Some((f, s)) = ring.pop_front()
                {
                    totals.sub(Totals {
                        calls: 1,
                        failures: u64::from(f),
                        slow: u64::from(s),
                    });
                }
                ring.push_back((failed, slow));
                totals.add(failed, slow);
            }
            Self::Time { .. } => {
                let current = self.expire(now);
                if let Self::Time {
                    buckets, totals, ..
                } = self
                {
                    match buckets.back_mut() {
                        Some((index, bucket)) if *index == current => bucket.add(failed, slow),
                        _ => {
                            let mut bucket = Totals::default();
                            bucket.add(failed, slow);
                            buckets.push_back((current, bucket));
                        }
                    }
                    totals.add(failed, slow);
                }
            }
        }
    }

    /// Totals over the calls still inside the window at `now`.
    pub(crate) fn totals(&mut self, now: Option<Instant>) -> Totals {
        self.expire(now);
        match self {
            Self::Count { totals, .. } | Self::Time { totals, .. } => *totals,
        }
    }

    /// Drops buckets that aged out; returns the index of the current bucket.
    fn expire(&mut self, now: Option<Instant>) -> u64 {
        let Self::Time {
            base,
            width,
            buckets,
            totals,
        } = self
        else {
            return 0;
        };
        let now = now.unwrap_or_else(Instant::now);
        let elapsed =
            u64::try_from(now.saturating_duration_since(*base).as_nanos()).unwrap_or(u64::MAX);
        let current = elapsed / *width;
        while let Some(&(index, bucket)) = buckets.front() {
            if index + BUCKETS > current {
                break;
            }
            totals.sub(bucket);
            buckets.pop_front();
        }
        current
    }
}
