//! [`Builder`]: a circuit breaker's configuration, with documented
//! defaults, checked by [`Builder::build`] ([`ConfigError`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::breaker::Breaker;
use super::event::{BreakerEvent, StateChange};
use super::window::SlidingWindow;

pub(super) type Listener = Arc<dyn Fn(StateChange) + Send + Sync>;
pub(super) type EventListener = Arc<dyn Fn(&BreakerEvent) + Send + Sync>;

/// A breaker configuration that [`Builder::build`] refuses.
///
/// ```
/// use evenkeel_middleware::circuit_breaker::{Breaker, ConfigError};
///
/// let err = Breaker::builder().failure_rate_threshold(0.0).build().unwrap_err();
/// assert_eq!(err, ConfigError::FailureRateThreshold { percent: 0.0 });
/// assert_eq!(err.to_string(), "failure rate threshold must be a percentage in (0, 100], got 0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The failure-rate threshold is not in (0, 100] (0 would trip on
    /// success; NaN or more than 100 would never trip).
    #[error("failure rate threshold must be a percentage in (0, 100], got {percent}")]
    FailureRateThreshold {
        /// The value given.
        percent: f64,
    },
    /// The slow-call-rate threshold is not in (0, 100].
    #[error("slow call rate threshold must be a percentage in (0, 100], got {percent}")]
    SlowCallRateThreshold {
        /// The value given.
        percent: f64,
    },
}

/// Whether `percent` is a usable threshold: in (0, 100], not NaN.
fn valid_percent(percent: f64) -> bool {
    percent > 0.0 && percent <= 100.0
}

/// Configures a [`Breaker`].
///
/// # Defaults
///
/// | setting | default |
/// |---|---|
/// | [`sliding_window`](Builder::sliding_window) | `SlidingWindow::Count(100)` |
/// | [`minimum_calls`](Builder::minimum_calls) | 20 (capped at a count window's size) |
/// | [`failure_rate_threshold`](Builder::failure_rate_threshold) | 50 (%) |
/// | [`slow_call_rate_threshold`](Builder::slow_call_rate_threshold) | off (no clock reads per call with a count window) |
/// | [`slow_call_duration`](Builder::slow_call_duration) | 60 s |
/// | [`open_duration`](Builder::open_duration) | 30 s |
/// | [`half_open_calls`](Builder::half_open_calls) | 5 |
/// | [`max_half_open_wait`](Builder::max_half_open_wait) | 60 s |
/// | [`on_state_change`](Builder::on_state_change) | none |
/// | [`on_event`](Builder::on_event) | none |
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::circuit_breaker::{Breaker, SlidingWindow};
///
/// let breaker = Breaker::builder()
///     .sliding_window(SlidingWindow::Time(Duration::from_secs(10)))
///     .minimum_calls(10)
///     .failure_rate_threshold(50.0)
///     .slow_call_rate_threshold(80.0)
///     .slow_call_duration(Duration::from_secs(2))
///     .open_duration(Duration::from_secs(5))
///     .half_open_calls(3)
///     .max_half_open_wait(Duration::from_secs(20))
///     .on_event(|e| eprintln!("breaker: {e:?}"))
///     .build()?;
/// # let _ = breaker;
/// # Ok::<(), evenkeel_middleware::circuit_breaker::ConfigError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Clone)]
pub struct Builder {
    pub(super) window: SlidingWindow,
    pub(super) minimum_calls: u64,
    pub(super) failure_rate: f64,
    pub(super) slow_rate: Option<f64>,
    pub(super) slow_duration: Duration,
    pub(super) open_duration: Duration,
    pub(super) half_open_calls: u32,
    pub(super) max_half_open_wait: Duration,
    pub(super) listener: Option<Listener>,
    pub(super) events: Option<EventListener>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("window", &self.window)
            .field("minimum_calls", &self.minimum_calls)
            .field("failure_rate", &self.failure_rate)
            .field("slow_rate", &self.slow_rate)
            .field("slow_duration", &self.slow_duration)
            .field("open_duration", &self.open_duration)
            .field("half_open_calls", &self.half_open_calls)
            .field("max_half_open_wait", &self.max_half_open_wait)
            .field("listener", &self.listener.is_some())
            .field("events", &self.events.is_some())
            .finish()
    }
}

impl Builder {
    /// The window the rates are computed over.
    ///
    /// ```
    /// use evenkeel_middleware::circuit_breaker::{Breaker, SlidingWindow};
    /// let b = Breaker::builder().sliding_window(SlidingWindow::Count(10)).build();
    /// # let _ = b;
    /// ```
    pub fn sliding_window(mut self, window: SlidingWindow) -> Self {
        self.window = window;
        self
    }

    /// How many calls the window must hold before the rates can trip it.
    ///
    /// ```
    /// let b = evenkeel_middleware::circuit_breaker::Breaker::builder().minimum_calls(5).build();
    /// # let _ = b;
    /// ```
    pub fn minimum_calls(mut self, n: u64) -> Self {
        self.minimum_calls = n.max(1);
        self
    }

    /// Trip when at least this percentage (0–100] of the window's calls
    /// failed; [`build`](Builder::build) refuses any other value.
    ///
    /// ```
    /// let b = evenkeel_middleware::circuit_breaker::Breaker::builder().failure_rate_threshold(25.0).build();
    /// # let _ = b;
    /// ```
    pub fn failure_rate_threshold(mut self, percent: f64) -> Self {
        self.failure_rate = percent;
        self
    }

    /// Trip when at least this percentage (0–100] of the window's calls were
    /// slow; [`build`](Builder::build) refuses any other value. Off by
    /// default: timing every call costs two clock reads. A call is timed
    /// from its admission to its response (for an `http::Response`, its
    /// headers, not the end of its body).
    ///
    /// ```
    /// let b = evenkeel_middleware::circuit_breaker::Breaker::builder().slow_call_rate_threshold(50.0).build();
    /// # let _ = b;
    /// ```
    pub fn slow_call_rate_threshold(mut self, percent: f64) -> Self {
        self.slow_rate = Some(percent);
        self
    }

    /// A call taking at least this long is slow.
    ///
    /// ```
    /// let b = evenkeel_middleware::circuit_breaker::Breaker::builder().slow_call_duration(std::time::Duration::from_secs(1)).build();
    /// # let _ = b;
    /// ```
    pub fn slow_call_duration(mut self, d: Duration) -> Self {
        self.slow_duration = d;
        self
    }

    /// How long the circuit stays open before letting trial calls through.
    /// Any duration is accepted; `Duration::MAX` keeps it open until
    /// [`Breaker::close`] (no deadline is computed, so nothing overflows).
    ///
    /// ```
    /// let b = evenkeel_middleware::circuit_breaker::Breaker::builder().open_duration(std::time::Duration::from_secs(10)).build();
    /// # let _ = b;
    /// ```
    pub fn open_duration(mut self, d: Duration) -> Self {
        self.open_duration = d;
        self
    }

    /// How many trial calls half-open admits; when they have all completed,
    /// their rates decide between closed and open (0 is treated as 1).
    ///
    /// ```
    /// let b = evenkeel_middleware::circuit_breaker::Breaker::builder().half_open_calls(1).build();
    /// # let _ = b;
    /// ```
    pub fn half_open_calls(mut self, n: u32) -> Self {
        self.half_open_calls = n.max(1);
        self
    }

    /// How long half-open may wait for its trial calls to complete. A trial
    /// call that hangs keeps its slot; past this wait the breaker gives up
    /// on the trials and opens again (as resilience4j's
    /// `maxWaitDurationInHalfOpenState`), so a hung call cannot keep the
    /// circuit half-open, rejecting everything, for good. While the trial
    /// slots are all taken, a rejection's retry-after is what is left of
    /// this wait.
    ///
    /// ```
    /// let b = evenkeel_middleware::circuit_breaker::Breaker::builder()
    ///     .max_half_open_wait(std::time::Duration::from_secs(10))
    ///     .build();
    /// # let _ = b;
    /// ```
    pub fn max_half_open_wait(mut self, d: Duration) -> Self {
        self.max_half_open_wait = d;
        self
    }

    /// Calls `f` for every [`BreakerEvent`]: transitions (with the failure
    /// rate that decided them), rejections, slow calls. It runs outside the
    /// breaker's lock, on the task whose call caused the event.
    ///
    /// ```
    /// use evenkeel_middleware::circuit_breaker::{Breaker, BreakerEvent};
    /// let b = Breaker::builder()
    ///     .on_event(|e| if let BreakerEvent::Transition { to, failure_rate, .. } = e {
    ///         println!("breaker now {to:?} (failure rate {failure_rate:?})");
    ///     })
    ///     .build();
    /// # let _ = b;
    /// ```
    pub fn on_event(mut self, f: impl Fn(&BreakerEvent) + Send + Sync + 'static) -> Self {
        self.events = Some(Arc::new(f));
        self
    }

    /// Calls `f` after every state change (outside the breaker's lock, so
    /// `f` may query the breaker).
    ///
    /// ```
    /// let b = evenkeel_middleware::circuit_breaker::Breaker::builder().on_state_change(|change| println!("{change:?}")).build();
    /// # let _ = b;
    /// ```
    pub fn on_state_change(mut self, f: impl Fn(StateChange) + Send + Sync + 'static) -> Self {
        self.listener = Some(Arc::new(f));
        self
    }

    /// Builds the breaker, closed; refuses a threshold outside (0, 100].
    ///
    /// # Errors
    ///
    /// [`ConfigError`] names the setting and the value refused.
    ///
    /// ```
    /// use evenkeel_middleware::circuit_breaker::{Breaker, ConfigError};
    /// assert!(Breaker::builder().build().is_ok());
    /// assert!(matches!(
    ///     Breaker::builder().slow_call_rate_threshold(f64::NAN).build(),
    ///     Err(ConfigError::SlowCallRateThreshold { .. })
    /// ));
    /// ```
    pub fn build(self) -> Result<Breaker, ConfigError> {
        if !valid_percent(self.failure_rate) {
            return Err(ConfigError::FailureRateThreshold {
                percent: self.failure_rate,
            });
        }
        if let Some(percent) = self.slow_rate.filter(|p| !valid_percent(*p)) {
            return Err(ConfigError::SlowCallRateThreshold { percent });
        }
        Ok(Breaker::from_builder(self))
    }

    /// The documented defaults.
    pub(super) fn with_defaults() -> Self {
        Self {
            window: SlidingWindow::Count(100),
            minimum_calls: 20,
            failure_rate: 50.0,
            slow_rate: None,
            slow_duration: Duration::from_secs(60),
            open_duration: Duration::from_secs(30),
            half_open_calls: 5,
            max_half_open_wait: Duration::from_secs(60),
            listener: None,
            events: None,
        }
    }
}
