//! The builder for a [`Shutdown`] with non-default settings.

use std::time::Duration;

use crate::Shutdown;

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
    /// ([`Phase::PreDrain`](crate::Phase::PreDrain)) until this much time has passed since the trigger,
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
