//! [`RetryBudget`]: caps retries at a share of the traffic, so that an outage
//! is not multiplied by every client's retry loop.
//!
//! Per-request attempt limits are not enough: with 3 attempts each, a
//! failing dependency receives three times its normal load exactly when it
//! can least afford it. A budget (Finagle's `RetryBudget`, tower's
//! `TpsBudget`) lets each original request deposit a fraction of a retry and
//! each retry withdraw a whole one, over a sliding time window, plus a small
//! reserve per second so that low-traffic clients can still retry.
//!
//! Balances are kept in thousandths of a retry in ten sliding buckets that
//! together span the `ttl`; time comes from `tokio::time::Instant`, so tests
//! with paused time are exact.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// One retry, in the budget's unit (thousandths of a retry).
const RETRY: i64 = 1000;
/// Nanoseconds per second divided by [`RETRY`]: `rate × nanos / this` is in
/// thousandths of a retry.
const NANOS_PER_RETRY_THOUSANDTH: i128 = 1_000_000;
/// Buckets in the sliding window.
const BUCKETS: usize = 10;

/// A retry budget shared by every clone: each original request
/// [`deposit`](RetryBudget::deposit)s, each retry
/// [`withdraw`](RetryBudget::withdraw)s.
///
/// Over any `ttl` window, the retries allowed are
/// `retry_ratio × requests + min_per_sec × ttl` (`ttl` in seconds, fraction
/// included: a 1.5 s window at 2 per second reserves 3 retries). Deposits and
/// withdrawals expire once they are older than `ttl`.
///
/// Inputs are clamped, never rejected: `ttl` into 1 s ..= 60 s (as in Finagle
/// and tower), `retry_ratio` into 0.0 ..= 1000.0 (NaN counts as 0.0).
///
/// Thread-safe: clones share one short-held mutex; cloning is an `Arc` clone.
/// A poisoned lock is recovered (the state is plain integers, always valid).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use evenkeel_retry::RetryBudget;
///
/// // 10 % of traffic may be retries, with no per-second reserve.
/// let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.1);
/// for _ in 0..20 {
///     budget.deposit();
/// }
/// assert!(budget.withdraw());
/// assert!(budget.withdraw());
/// assert!(!budget.withdraw(), "20 requests at 10 % buy two retries");
/// ```
#[derive(Clone, Debug)]
pub struct RetryBudget {
    shared: Arc<Shared>,
}

/// What every clone shares: the configuration and the window.
#[derive(Debug)]
struct Shared {
    /// What one deposit adds, in thousandths of a retry.
    deposit_amount: i64,
    /// The standing reserve (`min_per_sec × ttl`), in thousandths of a retry.
    reserve: i64,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    /// Net balance of each bucket, in thousandths of a retry.
    buckets: [i64; BUCKETS],
    /// Index of the current bucket.
    current: usize,
    /// When the current bucket started.
    started: Instant,
    /// Width of one bucket: `ttl / BUCKETS`.
    width: Duration,
}

impl Window {
    /// Moves the window forward to `now`, clearing buckets that expired.
    fn advance(&mut self, now: Instant) {
        let passed = now.saturating_duration_since(self.started);
        let steps = passed.as_nanos() / self.width.as_nanos().max(1);
        if steps == 0 {
            return;
        }
        let clear = usize::try_from(steps).unwrap_or(BUCKETS).min(BUCKETS);
        for _ in 0..clear {
            self.current = (self.current + 1) % BUCKETS;
            self.buckets[self.current] = 0;
        }
        // `steps` fits in u32 whenever it is small enough to matter; a huge
        // gap simply restarts the window at `now`.
        self.started = match u32::try_from(steps) {
            Ok(steps) => self
                .started
                .checked_add(self.width.saturating_mul(steps))
                .unwrap_or(now),
            Err(_) => now,
        };
    }

    fn balance(&self) -> i64 {
        self.buckets
            .iter()
            .fold(0_i64, |sum, b| sum.saturating_add(*b))
    }
}

impl RetryBudget {
    /// A budget over a sliding `ttl` window that allows `retry_ratio` retries
    /// per original request plus `min_per_sec` retries per second.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::RetryBudget;
    ///
    /// // tower's defaults: 10 s window, 10 retries/s reserve, 20 % of traffic.
    /// let budget = RetryBudget::new(Duration::from_secs(10), 10, 0.2);
    /// assert_eq!(budget.available(), 100);
    /// ```
    pub fn new(ttl: Duration, min_per_sec: u32, retry_ratio: f32) -> Self {
        let ttl = ttl.clamp(Duration::from_secs(1), Duration::from_secs(60));
        let ratio = if retry_ratio.is_nan() {
            0.0
        } else {
            f64::from(retry_ratio).clamp(0.0, 1000.0)
        };
        // 0 <= ratio * 1000 <= 1e6: the cast cannot truncate or lose the sign.
        #[allow(clippy::cast_possible_truncation)]
        let deposit_amount = (ratio * RETRY as f64).round() as i64;
        // `min_per_sec × ttl` retries, from the exact window (a 1.5 s window
        // at 2/s holds 3 retries, not 2): `ttl` in nanoseconds times the
        // rate, divided by 10^6 to get thousandths of a retry. At most
        // u32::MAX × 6e10, far inside i128 and, after the division, i64.
        let reserve = i128::from(min_per_sec) * i128::try_from(ttl.as_nanos()).unwrap_or(0)
            / NANOS_PER_RETRY_THOUSANDTH;
        let reserve = i64::try_from(reserve).unwrap_or(i64::MAX);
        let width = ttl / u32::try_from(BUCKETS).unwrap_or(10);
        RetryBudget {
            shared: Arc::new(Shared {
                deposit_amount,
                reserve,
                window: Mutex::new(Window {
                    buckets: [0; BUCKETS],
                    current: 0,
                    started: Instant::now(),
                    width,
                }),
            }),
        }
    }

    fn with_window<R>(&self, f: impl FnOnce(&mut Window) -> R) -> R {
        let mut window = self
            .shared
            .window
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        window.advance(Instant::now());
        f(&mut window)
    }

    /// Records an original request (not a retry): adds `retry_ratio` of a
    /// retry to the budget for the next `ttl`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::RetryBudget;
    ///
    /// let budget = RetryBudget::new(Duration::from_secs(1), 0, 1.0);
    /// assert!(!budget.withdraw());
    /// budget.deposit();
    /// assert!(budget.withdraw());
    /// ```
    pub fn deposit(&self) {
        let amount = self.shared.deposit_amount;
        self.with_window(|w| {
            let current = w.current;
            w.buckets[current] = w.buckets[current].saturating_add(amount);
        });
    }

    /// Asks for one retry: `true` (and the retry is spent) if the budget has
    /// one, `false` if it is exhausted and the caller should not retry.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::RetryBudget;
    ///
    /// let budget = RetryBudget::new(Duration::from_secs(1), 2, 0.0);
    /// assert!(budget.withdraw());
    /// assert!(budget.withdraw());
    /// assert!(!budget.withdraw(), "the reserve is 2 per second over a 1 s window");
    /// ```
    pub fn withdraw(&self) -> bool {
        let reserve = self.shared.reserve;
        self.with_window(|w| {
            if w.balance().saturating_add(reserve) >= RETRY {
                let current = w.current;
                w.buckets[current] = w.buckets[current].saturating_sub(RETRY);
                true
            } else {
                false
            }
        })
    }

    /// How many whole retries the budget would allow right now.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_retry::RetryBudget;
    ///
    /// let budget = RetryBudget::new(Duration::from_secs(2), 1, 0.5);
    /// budget.deposit();
    /// budget.deposit();
    /// assert_eq!(budget.available(), 3); // 2 × 0.5 + 1/s × 2 s
    /// ```
    pub fn available(&self) -> u64 {
        let reserve = self.shared.reserve;
        self.with_window(|w| {
            u64::try_from(w.balance().saturating_add(reserve) / RETRY).unwrap_or(0)
        })
    }
}
