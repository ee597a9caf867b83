//! Escalation: the second signal, or a program that cannot wait any longer.
//!
//! Forcing is a write-once marker beside the trigger's reason, so that the
//! first reason stays recorded while `forced()` futures still learn that the
//! drain is being abandoned. The marker is inherited by children
//! (`record.rs`), so two concurrent forces report exactly one winner and a
//! parent's force reaches every child; `forced()` futures wait on the tree's
//! phase-change `Notify`, which the first force announces on.

use crate::future::Forced;
use crate::record::{self, Record};
use crate::shutdown::Inner;
use crate::{Reason, Shutdown, trace};

impl Shutdown {
    /// Escalates: triggers with [`Reason::Forced`] if nothing triggered yet,
    /// and resolves every [`forced`](Shutdown::forced) future of this scope
    /// and its children. Returns whether this call was the first to force
    /// this scope: of two concurrent calls exactly one returns `true`, and a
    /// child whose parent was forced first returns `false`.
    ///
    /// The [`SignalListener`](crate::SignalListener) calls it on the second
    /// signal. A binary waiting on `forced()` should spill what it can and exit
    /// with [`Reason::Forced`]'s exit code.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::{Reason, Shutdown};
    ///
    /// let shutdown = Shutdown::new();
    /// shutdown.trigger(Reason::Requested);
    /// assert!(shutdown.force());
    /// assert!(shutdown.is_forced());
    /// // The first reason still stands; the escalation is its own signal.
    /// assert!(shutdown.reason().unwrap().is_clean());
    /// ```
    pub fn force(&self) -> bool {
        self.trigger(Reason::Forced);
        // One write-once marker decides the winner (checking the token and
        // then cancelling it would let two racing calls both win).
        let first = record::settle(&*self.inner, Inner::forced_record, ());
        if first {
            trace::forced();
            self.inner.announce();
        }
        first
    }

    /// Whether this scope (or an enclosing one) has been forced.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::Shutdown;
    ///
    /// let shutdown = Shutdown::new();
    /// assert!(!shutdown.is_forced());
    /// shutdown.force();
    /// assert!(shutdown.is_forced());
    /// ```
    pub fn is_forced(&self) -> bool {
        record::resolve(&*self.inner, Inner::forced_record).is_some()
    }

    /// A future that resolves with [`Reason::Forced`] once the shutdown is
    /// forced (a second signal, or [`force`](Shutdown::force)), at once if it
    /// already was.
    ///
    /// # Cancellation safety
    ///
    /// Cancel safe, like [`triggered`](Shutdown::triggered).
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::Shutdown;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let shutdown = Shutdown::new();
    /// shutdown.force();
    /// let reason = shutdown.forced().await;
    /// assert_eq!(reason.exit_code(), 137);
    /// # }
    /// ```
    pub fn forced(&self) -> Forced {
        Forced::new(self.clone())
    }
}

impl Inner {
    pub(crate) fn forced_record(&self) -> &Record<()> {
        &self.forced
    }
}
