//! [`Builder`]: a circuit breaker's configuration, with documented defaults.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::breaker::{Breaker, StateChange};
use super::window::SlidingWindow;

pub(super) type Listener = Arc<dyn Fn(StateChange) + Send + Sync>;

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
/// | [`on_state_change`](Builder::on_state_change) | none |
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
///     .on_state_change(|c| eprintln!("breaker: {:?} -> {:?}", c.from, c.to))
///     .build();
/// # let _ = breaker;
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
    pub(super) listener: Option<Listener>,
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
            .field("listener", &self.listener.is_some())
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

    /// Trip when at least this percentage (0–100] of the window's calls failed.
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
    /// slow. Off by default: timing every call costs two clock reads.
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
    /// Builds the breaker, closed.
    ///
    /// ```
    /// let b = evenkeel_middleware::circuit_breaker::Breaker::builder().build();
    /// # let _ = b;
    /// ```
    pub fn build(self) -> Breaker {
        Breaker::from_builder(self)
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
            listener: None,
        }
    }
}
