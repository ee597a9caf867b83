//! What the load generator counts, and the summary it prints.
//!
//! Every HTTP attempt is one `sent`; its latency (request written to
//! response head read) goes into a list that is sorted once at the end, and
//! percentiles are read off it by the nearest-rank method: p50 of `n`
//! samples is the `ceil(0.50 × n)`-th smallest. A few tens of thousands of
//! samples cost well under a megabyte, so no histogram is needed and the
//! figures are exact.
//!
//! Counters the progress display reads while requests run are atomics; the
//! rest sits behind one mutex that each finished attempt takes once.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;

/// The `p`-th percentile (0..=100) of `sorted` by the nearest-rank method;
/// `None` for no samples.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use evenkeel_demo::load::percentile;
///
/// let ms = |n| Duration::from_millis(n);
/// let sorted = [ms(1), ms(2), ms(3), ms(4), ms(100)];
/// assert_eq!(percentile(&sorted, 50.0), Some(ms(3)));
/// assert_eq!(percentile(&sorted, 99.0), Some(ms(100)));
/// assert_eq!(percentile(&[], 50.0), None);
/// ```
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    // Nearest rank, 1-based, clamped to 1..=n. n is far below 2^52, so the
    // f64 round trip is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * n as f64).ceil() as usize;
    sorted.get(rank.clamp(1, n) - 1).copied()
}

/// The outcome of a load run, printed by `evenkeel-demo load` (as text, or
/// as one JSON object with `--json`).
///
/// # Example
///
/// ```
/// use evenkeel_demo::load::Summary;
///
/// let summary = Summary::default();
/// assert_eq!(summary.rejected_with(503), 0);
/// assert!(summary.to_string().contains("sent 0"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// HTTP attempts made (first tries and retries).
    pub sent: u64,
    /// Distinct jobs the generator tried to submit.
    pub jobs: u64,
    /// Jobs answered `202 Accepted`.
    pub accepted: u64,
    /// Non-202 answers by status code.
    pub rejected: BTreeMap<u16, u64>,
    /// Attempts that got no HTTP answer (connection refused, reset, timeout).
    pub transport_errors: u64,
    /// Jobs that ended without a 202: refused for good (a 4xx other than
    /// 429), out of retries, or cut off by the end of the run.
    pub gave_up: u64,
    /// Times a rejection made the generator wait (honouring `Retry-After`).
    pub backoffs: u64,
    /// Wall time of the run, in milliseconds.
    pub elapsed_ms: u64,
    /// Median latency of answered attempts, in milliseconds.
    pub p50_ms: Option<f64>,
    /// 99th-percentile latency, in milliseconds.
    pub p99_ms: Option<f64>,
    /// Slowest answered attempt, in milliseconds.
    pub max_ms: Option<f64>,
}

impl Summary {
    /// How many answers had `status`.
    ///
    /// # Example
    ///
    /// See [`Summary`].
    pub fn rejected_with(&self, status: u16) -> u64 {
        self.rejected.get(&status).copied().unwrap_or(0)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}ms"));
        write!(
            f,
            "sent {} ({} jobs) in {:.1}s: accepted {}",
            self.sent,
            self.jobs,
            self.elapsed_ms as f64 / 1000.0,
            self.accepted
        )?;
        for (status, count) in &self.rejected {
            write!(f, ", {status}×{count}")?;
        }
        if self.transport_errors > 0 {
            write!(f, ", transport errors {}", self.transport_errors)?;
        }
        write!(
            f,
            "; gave up {}, backoffs {}; latency p50 {} p99 {} max {}",
            self.gave_up,
            self.backoffs,
            ms(self.p50_ms),
            ms(self.p99_ms),
            ms(self.max_ms)
        )
    }
}

/// Shared counters of a running load generator.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    pub(crate) sent: AtomicU64,
    pub(crate) jobs: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) transport_errors: AtomicU64,
    pub(crate) gave_up: AtomicU64,
    pub(crate) backoffs: AtomicU64,
    detail: Mutex<Detail>,
}

#[derive(Debug, Default)]
struct Detail {
    latencies: Vec<Duration>,
    by_status: BTreeMap<u16, u64>,
    accepted_ids: Vec<String>,
}

impl Collector {
    fn detail(&self) -> std::sync::MutexGuard<'_, Detail> {
        // Plain counters and lists: a panic mid-update loses at most one
        // sample, so a poisoned lock is still worth reading.
        self.detail.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records an answered attempt.
    pub(crate) fn answered(&self, status: u16, latency: Duration, id: Option<String>) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let mut detail = self.detail();
        detail.latencies.push(latency);
        if let Some(id) = id {
            self.accepted.fetch_add(1, Ordering::Relaxed);
            detail.accepted_ids.push(id);
        } else {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            *detail.by_status.entry(status).or_default() += 1;
        }
    }

    /// Records an attempt that got no answer.
    pub(crate) fn transport_error(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.transport_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The final summary and the accepted ids, in acceptance order.
    pub(crate) fn finish(&self, elapsed: Duration) -> (Summary, Vec<String>) {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut detail = self.detail();
        detail.latencies.sort_unstable();
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        let summary = Summary {
            sent: load(&self.sent),
            jobs: load(&self.jobs),
            accepted: load(&self.accepted),
            rejected: detail.by_status.clone(),
            transport_errors: load(&self.transport_errors),
            gave_up: load(&self.gave_up),
            backoffs: load(&self.backoffs),
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            p50_ms: ms(percentile(&detail.latencies, 50.0)),
            p99_ms: ms(percentile(&detail.latencies, 99.0)),
            max_ms: ms(detail.latencies.last().copied()),
        };
        (summary, std::mem::take(&mut detail.accepted_ids))
    }
}
