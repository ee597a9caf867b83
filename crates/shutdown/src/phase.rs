//! The lifecycle of a scope, and the builder that configures it.

use std::time::Duration;

use crate::Shutdown;

/// Where a [`Shutdown`] scope is in its lifecycle; phases only move forward.
///
/// | phase | readiness probe | new guards |
/// |---|---|---|
/// | `Running` | ready | granted |
/// | `PreDrain` (triggered) | **not ready** | granted: load balancers still route here |
/// | `Draining` (intake stopped) | not ready | refused |
/// | `Done` (drain returned) | not ready | refused |
///
/// The gap between `PreDrain` and `Draining` is the pre-drain delay
/// ([`Builder::pre_drain_delay`]): time for a Kubernetes endpoint removal to
/// reach every proxy before the process stops accepting.
///
/// # Examples
///
/// ```
/// use evenkeel_shutdown::Phase;
///
/// assert!(Phase::Running < Phase::PreDrain);
/// assert!(Phase::Running.is_ready());
/// assert!(!Phase::PreDrain.is_ready());
/// assert!(Phase::PreDrain.admits_work());
/// assert!(!Phase::Draining.admits_work());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Not triggered.
    Running,
    /// Triggered; intake still open until the drain begins.
    PreDrain,
    /// The drain has begun: new guards are refused.
    Draining,
    /// The drain returned (complete or timed out).
    Done,
}

impl Phase {
    /// Whether a readiness probe should say "ready": only while `Running`.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::Phase;
    ///
    /// assert!(!Phase::Draining.is_ready());
    /// ```
    pub fn is_ready(self) -> bool {
        self == Self::Running
    }

    /// Whether new guards are granted in this phase (`Running`, `PreDrain`).
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::Phase;
    ///
    /// assert!(Phase::Running.admits_work());
    /// assert!(!Phase::Done.admits_work());
    /// ```
    pub fn admits_work(self) -> bool {
        self <= Self::PreDrain
    }
}

/// Configures a [`Shutdown`]; created by [`Shutdown::builder`].
///
/// # Defaults
///
/// - `pre_drain_delay`: [`Duration::ZERO`] (intake stops as soon as
///   [`drain`](Shutdown::drain) is called).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use evenkeel_shutdown::Shutdown;
///
/// let shutdown = Shutdown::builder()
///     .pre_drain_delay(Duration::from_secs(5))
///     .build();
/// assert_eq!(shutdown.pre_drain_delay(), Duration::from_secs(5));
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    pre_drain_delay: Duration,
}

impl Builder {
    /// A builder with the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_shutdown::Builder;
    ///
    /// assert_eq!(Builder::new().build().pre_drain_delay(), Duration::ZERO);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// How long intake stays open after the trigger: guards are granted
    /// ([`Phase::PreDrain`]) until this much time has passed since the trigger,
    /// then [`drain`](Shutdown::drain) stops intake. Readiness turns false at
    /// the trigger, so a load balancer stops routing here while requests it
    /// already routed are still accepted. Children inherit it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_shutdown::{Phase, Reason, Shutdown};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let shutdown = Shutdown::builder().pre_drain_delay(Duration::from_secs(5)).build();
    /// shutdown.trigger(Reason::Requested);
    /// let drain = tokio::spawn({
    ///     let shutdown = shutdown.clone();
    ///     async move { shutdown.drain(Duration::from_secs(30)).await }
    /// });
    /// tokio::time::sleep(Duration::from_secs(4)).await;
    /// assert_eq!(shutdown.phase(), Phase::PreDrain);
    /// assert!(shutdown.guard().is_ok()); // still admitted (and released at once)
    /// let report = drain.await.unwrap();
    /// assert_eq!(report.elapsed(), Duration::from_secs(5));
    /// # }
    /// ```
    pub fn pre_drain_delay(mut self, delay: Duration) -> Self {
        self.pre_drain_delay = delay;
        self
    }

    /// Builds the untriggered [`Shutdown`].
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::Builder;
    ///
    /// let shutdown = Builder::new().build();
    /// assert!(!shutdown.is_triggered());
    /// ```
    pub fn build(self) -> Shutdown {
        Shutdown::from_parts(self.pre_drain_delay, None)
    }
}
