//! The lifecycle of a scope: `Running`, `PreDrain`, `Draining`, `Done`.
//!
//! A scope's phase is derived, not stored: `PreDrain` is "the token is
//! cancelled", `Draining` is "the draining bit is set", `Done` is "a drain
//! returned", each for the scope itself or any ancestor. Every change is
//! announced on a `Notify` shared by the whole tree; a waiter registers
//! before it reads the phase, so it cannot miss the change it waits for.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::future::WaitForPhase;
use crate::shutdown::Inner;
use crate::{Shutdown, trace};

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
/// ([`Builder::pre_drain_delay`](crate::Builder::pre_drain_delay)): time for a Kubernetes endpoint removal to
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

impl Shutdown {
    /// The current [`Phase`] of this scope: the furthest of its own phase and
    /// its ancestors' phases.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::{Phase, Reason, Shutdown};
    ///
    /// let shutdown = Shutdown::new();
    /// assert!(shutdown.phase().is_ready());
    /// shutdown.trigger(Reason::Requested);
    /// assert_eq!(shutdown.phase(), Phase::PreDrain);
    /// assert!(!shutdown.phase().is_ready());
    /// ```
    pub fn phase(&self) -> Phase {
        self.inner.phase()
    }

    /// A future that resolves with the phase once this scope has reached
    /// `phase` or a later one, at once if it already has.
    ///
    /// # Cancellation safety
    ///
    /// Cancel safe: it only observes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_shutdown::{Phase, Shutdown};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let shutdown = Shutdown::new();
    /// let intake_closed = shutdown.wait_for_phase(Phase::Draining);
    /// shutdown.drain(Duration::from_secs(1)).await;
    /// assert_eq!(intake_closed.await, Phase::Done);
    /// # }
    /// ```
    pub fn wait_for_phase(&self, phase: Phase) -> WaitForPhase {
        WaitForPhase::new(self.clone(), phase)
    }

    /// The configured pre-drain delay (see [`Builder::pre_drain_delay`](crate::Builder::pre_drain_delay)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_shutdown::Shutdown;
    ///
    /// assert_eq!(Shutdown::new().pre_drain_delay(), Duration::ZERO);
    /// ```
    pub fn pre_drain_delay(&self) -> Duration {
        self.inner.pre_drain_delay
    }

    /// Announces a phase this scope itself has entered.
    pub(crate) fn announce(&self, phase: Phase) {
        trace::phase(phase);
        self.inner.announce();
    }

    pub(crate) fn mark_done(&self) {
        if !self.inner.done.swap(true, Ordering::AcqRel) {
            self.announce(Phase::Done);
        }
    }
}

impl Inner {
    fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire) || self.parent.as_ref().is_some_and(|p| p.is_done())
    }

    fn is_draining(&self) -> bool {
        self.word.is_draining() || self.parent.as_ref().is_some_and(|p| p.is_draining())
    }

    fn phase(&self) -> Phase {
        if self.is_done() {
            Phase::Done
        } else if self.is_draining() {
            Phase::Draining
        } else if self.token.is_cancelled() {
            Phase::PreDrain
        } else {
            Phase::Running
        }
    }
}
