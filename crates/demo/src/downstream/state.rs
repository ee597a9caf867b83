//! The downstream's state machine: outage windows, the dice, and counters.
//!
//! Kept apart from the HTTP handlers so it can be driven directly in tests:
//! time comes from `tokio::time::Instant` (so paused time moves outage
//! windows without sleeping) and randomness from one seeded `StdRng` behind a
//! mutex (so a seed replays the same sequence of answers).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::time::Instant;

/// How the downstream misbehaves.
///
/// # Defaults
///
/// [`Default`] is a perfectly healthy service: no latency, no jitter, error
/// and busy rates 0, `busy_retry_after` 1 s, no scheduled outage
/// (`outage_after` `None`, `outage_for` 10 s), seed 0.
///
/// # Example
///
/// ```
/// use evenkeel_demo::downstream::DownstreamConfig;
///
/// let always_failing = DownstreamConfig { error_rate: 1.0, ..DownstreamConfig::default() };
/// assert_eq!(always_failing.busy_rate, 0.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DownstreamConfig {
    /// Base latency of every answer.
    pub latency: Duration,
    /// Extra latency, uniform in `0..=jitter`.
    pub jitter: Duration,
    /// Probability of a 500.
    pub error_rate: f64,
    /// Probability of a 503 with `Retry-After`.
    pub busy_rate: f64,
    /// The `Retry-After` of a busy 503 (sent in whole seconds).
    pub busy_retry_after: Duration,
    /// When set, a scheduled outage opens this long after start.
    pub outage_after: Option<Duration>,
    /// Length of the scheduled outage.
    pub outage_for: Duration,
    /// Seed of the dice.
    pub seed: u64,
}

impl Default for DownstreamConfig {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            error_rate: 0.0,
            busy_rate: 0.0,
            busy_retry_after: Duration::from_secs(1),
            outage_after: None,
            outage_for: Duration::from_secs(10),
            seed: 0,
        }
    }
}

/// What one request gets.
///
/// # Example
///
/// ```
/// use evenkeel_demo::downstream::{Downstream, DownstreamConfig, Outcome};
///
/// let service = Downstream::new(DownstreamConfig::default());
/// assert_eq!(service.roll(), Outcome::Ok);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 200.
    Ok,
    /// 500, an injected failure.
    Error,
    /// 503 with `Retry-After` of this length.
    Busy(Duration),
    /// 503 without `Retry-After`: an outage window is open.
    Outage,
}

/// Counters of everything the downstream answered, as `GET /stats` shows them.
///
/// # Example
///
/// ```
/// use evenkeel_demo::downstream::{Downstream, DownstreamConfig};
///
/// let stats = Downstream::new(DownstreamConfig::default()).stats();
/// assert_eq!(stats.requests, 0);
/// assert!(!stats.outage_active);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Requests received.
    pub requests: u64,
    /// 200 answers.
    pub ok: u64,
    /// Injected 500s.
    pub errors: u64,
    /// 503s with `Retry-After`.
    pub busy: u64,
    /// 503s answered because an outage window was open.
    pub outage_rejections: u64,
    /// Outages opened through [`Downstream::start_outage`].
    pub outages_started: u64,
    /// Whether an outage window is open right now.
    pub outage_active: bool,
}

/// The flaky downstream service; clones share state.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use evenkeel_demo::downstream::{Downstream, DownstreamConfig};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let service = Downstream::new(DownstreamConfig::default());
/// service.start_outage(Duration::from_secs(5));
/// assert!(service.in_outage());
/// service.end_outage();
/// assert!(!service.in_outage());
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct Downstream {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: DownstreamConfig,
    started: Instant,
    /// End of the outage opened on cue, if any.
    manual_outage_until: Mutex<Option<Instant>>,
    rng: Mutex<StdRng>,
    requests: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    busy: AtomicU64,
    outage_rejections: AtomicU64,
    outages_started: AtomicU64,
}

impl Downstream {
    /// A service behaving as `config` says, whose schedule starts now.
    ///
    /// Must be called inside a tokio runtime (it reads tokio's clock).
    ///
    /// # Example
    ///
    /// See [`Downstream`].
    pub fn new(config: DownstreamConfig) -> Self {
        let rng = StdRng::seed_from_u64(config.seed);
        Self {
            inner: Arc::new(Inner {
                config,
                started: Instant::now(),
                manual_outage_until: Mutex::new(None),
                rng: Mutex::new(rng),
                requests: AtomicU64::new(0),
                ok: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                busy: AtomicU64::new(0),
                outage_rejections: AtomicU64::new(0),
                outages_started: AtomicU64::new(0),
            }),
        }
    }

    /// Opens an outage window of length `length` from now (replacing one
    /// opened earlier on cue).
    ///
    /// # Example
    ///
    /// See [`Downstream`].
    pub fn start_outage(&self, length: Duration) {
        *self.manual_outage() = Some(Instant::now() + length);
        self.inner.outages_started.fetch_add(1, Ordering::Relaxed);
    }

    /// Closes the outage window opened on cue, if any.
    ///
    /// # Example
    ///
    /// See [`Downstream`].
    pub fn end_outage(&self) {
        *self.manual_outage() = None;
    }

    /// Whether a window (on cue or scheduled) is open now.
    ///
    /// # Example
    ///
    /// See [`Downstream`].
    pub fn in_outage(&self) -> bool {
        let now = Instant::now();
        let manual = self.manual_outage().is_some_and(|until| now < until);
        let scheduled = self.inner.config.outage_after.is_some_and(|after| {
            let from = self.inner.started + after;
            now >= from && now < from + self.inner.config.outage_for
        });
        manual || scheduled
    }

    /// Counts a request and says whether it meets an outage (and is then
    /// already counted as an outage rejection).
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_demo::downstream::{Downstream, DownstreamConfig};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let service = Downstream::new(DownstreamConfig::default());
    /// assert!(!service.begin_request());
    /// assert_eq!(service.stats().requests, 1);
    /// # });
    /// ```
    pub fn begin_request(&self) -> bool {
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let outage = self.in_outage();
        if outage {
            self.inner.outage_rejections.fetch_add(1, Ordering::Relaxed);
        }
        outage
    }

    /// The latency of the next answer: base plus a uniform draw in
    /// `0..=jitter`.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_demo::downstream::{Downstream, DownstreamConfig};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let config = DownstreamConfig { latency: Duration::from_millis(5), ..Default::default() };
    /// assert_eq!(Downstream::new(config).next_latency(), Duration::from_millis(5));
    /// # });
    /// ```
    pub fn next_latency(&self) -> Duration {
        let jitter = self.inner.config.jitter;
        if jitter.is_zero() {
            return self.inner.config.latency;
        }
        let extra = self.rng().random_range(Duration::ZERO..=jitter);
        self.inner.config.latency + extra
    }

    /// Throws the dice for one answer and counts it.
    ///
    /// # Example
    ///
    /// ```
    /// use evenkeel_demo::downstream::{Downstream, DownstreamConfig, Outcome};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let config = DownstreamConfig { error_rate: 1.0, ..Default::default() };
    /// assert_eq!(Downstream::new(config).roll(), Outcome::Error);
    /// # });
    /// ```
    pub fn roll(&self) -> Outcome {
        let config = &self.inner.config;
        let draw: f64 = self.rng().random();
        let outcome = if draw < config.error_rate {
            Outcome::Error
        } else if draw < config.error_rate + config.busy_rate {
            Outcome::Busy(config.busy_retry_after)
        } else {
            Outcome::Ok
        };
        let counter = match outcome {
            Outcome::Ok => &self.inner.ok,
            Outcome::Error => &self.inner.errors,
            Outcome::Busy(_) => &self.inner.busy,
            Outcome::Outage => &self.inner.outage_rejections,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        outcome
    }

    /// A snapshot of the counters.
    ///
    /// # Example
    ///
    /// See [`Stats`].
    pub fn stats(&self) -> Stats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            requests: load(&self.inner.requests),
            ok: load(&self.inner.ok),
            errors: load(&self.inner.errors),
            busy: load(&self.inner.busy),
            outage_rejections: load(&self.inner.outage_rejections),
            outages_started: load(&self.inner.outages_started),
            outage_active: self.in_outage(),
        }
    }

    fn manual_outage(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        // The guarded value is a plain Option<Instant>; a panic elsewhere
        // cannot leave it half-updated, so a poisoned lock is still usable.
        self.inner
            .manual_outage_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn rng(&self) -> std::sync::MutexGuard<'_, StdRng> {
        // An RNG has no invariant a panic could break; ignore poisoning.
        self.inner
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
