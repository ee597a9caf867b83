//! The [`Shutdown`] handle: one trigger, observed by every clone and child.
//!
//! A scope is an `Arc<Inner>`. The trigger is a [`CancellationToken`] plus a
//! write-once record of the first reason (`record.rs`): the reason is written
//! *before* the token is cancelled, so anyone who sees the token cancelled
//! also finds a reason. A child scope owns a child token (the parent's cancel
//! reaches it, its own cancel does not reach the parent), inherits its
//! parent's reason the first time it is looked at (so it never reports two),
//! and keeps an `Arc` to its parent so its drain guards can also be counted
//! there (`word.rs`).
//!
//! Phase changes anywhere in a tree are announced on one `Notify` kept by
//! the root and made by the first waiter; waiters re-read the phase after
//! each announcement, so a change is never missed (see `Inner::announce`)
//! and a spurious wake-up costs one check.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::future::Triggered;
use crate::record::{self, Record};
use crate::word::{Scope, Word};
use crate::{Builder, Phase, Reason, trace};

/// A cloneable handle to one shutdown: trigger it, observe it, and drain the
/// work that was running when it happened.
///
/// Clones share everything (the handle is an `Arc` inside). A
/// [`child`](Shutdown::child) is a nested scope: the parent's trigger reaches
/// it, its own trigger does not reach the parent, and its drain guards also
/// hold the parent's drain open.
///
/// The lifecycle is visible as a [`Phase`]: `Running`, then `PreDrain` from the
/// trigger on (readiness should report "not ready"; new work is still
/// admitted), then `Draining` once [`drain`](Shutdown::drain) stops intake after
/// the optional pre-drain delay, then `Done` when the drain returns.
///
/// # Compared with `CancellationToken` and `TaskTracker`
///
/// tokio-util's [`CancellationToken`] is the trigger half (this type is built
/// on it and hands one out through [`token`](Shutdown::token)), but carries no
/// reason and no deadline. `TaskTracker::close` does not stop new spawns
/// (tokio#6759), so a drain built on it can wait for work admitted after it
/// began. Here the decision "admit or refuse" and the decision "draining has
/// begun" are made on the same atomic word, so every admitted guard is waited
/// for and nothing is admitted after the drain begins.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use evenkeel_shutdown::{DrainReport, Reason, Shutdown};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let shutdown = Shutdown::new();
/// let worker = shutdown.clone();
/// shutdown
///     .spawn(async move {
///         let reason = worker.triggered().await;
///         println!("worker saw {reason}, finishing up");
///     })
///     .unwrap();
///
/// shutdown.trigger(Reason::Requested);
/// let report = shutdown.drain(Duration::from_secs(5)).await;
/// assert!(matches!(report, DrainReport::Complete { .. }));
/// assert_eq!(shutdown.reason().unwrap().exit_code(), 0);
/// # }
/// ```
#[derive(Clone)]
pub struct Shutdown {
    pub(crate) inner: Arc<Inner>,
}

/// The shared state of one scope.
///
/// `repr(C)`, guard word first: 16 bytes after the `Arc`'s count, so a
/// guard round trip usually touches one cache line, not two (the parent
/// pointer, read by every guard, follows). The gain is within the benchmark
/// VM's noise (`benches/shutdown.rs`); it costs nothing.
#[repr(C)]
pub(crate) struct Inner {
    /// The draining bit, the drained bit and the count of guards (`word.rs`).
    pub(crate) word: Word,
    /// The enclosing scope, if this is a child.
    pub(crate) parent: Option<Arc<Inner>>,
    /// Cancelled exactly when this scope (or an ancestor) is triggered.
    pub(crate) token: CancellationToken,
    /// The first trigger of this scope (its own or inherited): its reason
    /// and when it happened.
    trigger: Record<(Reason, Instant)>,
    /// Wakes this scope's drains when the drain completes.
    pub(crate) drained: Notify,
    /// Announces a phase change (or a force) anywhere in this tree: only
    /// the root's is used, created by the first waiter (`Inner::events`), so
    /// a tree nobody waits on never initializes one or takes its lock.
    events: OnceLock<Notify>,
    /// How long intake stays open after the trigger.
    pub(crate) pre_drain_delay: Duration,
    /// Set by the first `force` of this scope (or inherited). `forced()`
    /// futures wait on `events` and read it: no second token per scope,
    /// which keeps a child scope cheap to create.
    pub(crate) forced: Record<()>,
    /// Set when a `drain` of this scope has returned.
    pub(crate) done: AtomicBool,
}

impl Shutdown {
    /// A new, untriggered shutdown with no pre-drain delay.
    ///
    /// Use [`Shutdown::builder`] to configure a pre-drain delay.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::{Phase, Shutdown};
    ///
    /// let shutdown = Shutdown::new();
    /// assert!(!shutdown.is_triggered());
    /// assert_eq!(shutdown.phase(), Phase::Running);
    /// ```
    pub fn new() -> Self {
        Builder::new().build()
    }

    /// A [`Builder`] for a shutdown with non-default settings.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_shutdown::Shutdown;
    ///
    /// let shutdown = Shutdown::builder().pre_drain_delay(Duration::from_secs(5)).build();
    /// assert_eq!(shutdown.pre_drain_delay(), Duration::from_secs(5));
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn from_parts(pre_drain_delay: Duration, parent: Option<&Arc<Inner>>) -> Self {
        let token = match parent {
            Some(parent) => parent.token.child_token(),
            None => CancellationToken::new(),
        };
        Self {
            inner: Arc::new(Inner {
                token,
                trigger: Record::new(),
                forced: Record::new(),
                word: Word::new(),
                drained: Notify::new(),
                done: AtomicBool::new(false),
                pre_drain_delay,
                events: OnceLock::new(),
                parent: parent.map(Arc::clone),
            }),
        }
    }

    /// Triggers the shutdown with `reason`. The first trigger wins: it returns
    /// `true` and its reason is the one every observer sees; any later call
    /// (including one that lost a race) returns `false` and changes nothing.
    /// A child whose parent was triggered first (or was seen triggered
    /// first) keeps the parent's reason and returns `false`; a child
    /// triggered in a race with its parent reports one reason, never one and
    /// then the other.
    ///
    /// Triggering wakes every [`triggered`](Shutdown::triggered) future and
    /// cancels every [`token`](Shutdown::token) of this scope and its
    /// children, and moves the phase to [`Phase::PreDrain`]. It does not stop
    /// intake: that is [`drain`](Shutdown::drain)'s job.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::{Reason, Shutdown, Signal};
    ///
    /// let shutdown = Shutdown::new();
    /// assert!(shutdown.trigger(Reason::Signal(Signal::Terminate)));
    /// assert!(!shutdown.trigger(Reason::Requested));
    /// assert_eq!(shutdown.reason().unwrap().exit_code(), 143);
    /// ```
    pub fn trigger(&self, reason: Reason) -> bool {
        let first = record::settle(
            &*self.inner,
            Inner::trigger_record,
            (reason, Instant::now()),
        );
        // Winner or not, the reason is recorded by now (ours, a concurrent
        // winner's or an ancestor's), so the token may be cancelled: after
        // any `trigger` returns, `is_triggered` is true.
        self.inner.token.cancel();
        if first {
            if let Some(reason) = self.reason() {
                trace::triggered(&reason);
            }
            self.announce(Phase::PreDrain);
        }
        first
    }

    /// Whether this scope (or an enclosing one) has been triggered.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::{Reason, Shutdown};
    ///
    /// let parent = Shutdown::new();
    /// let child = parent.child();
    /// parent.trigger(Reason::Requested);
    /// assert!(child.is_triggered());
    /// ```
    pub fn is_triggered(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    /// The reason of the first trigger, or `None` if not triggered yet.
    ///
    /// A child triggered through its parent reports the parent's reason; a
    /// child triggered on its own first keeps its own. Once a reason has been
    /// returned it never changes.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::{Reason, Shutdown};
    ///
    /// let shutdown = Shutdown::new();
    /// assert!(shutdown.reason().is_none());
    /// shutdown.trigger(Reason::fatal("database gone"));
    /// assert_eq!(shutdown.reason().unwrap().exit_code(), 1);
    /// ```
    pub fn reason(&self) -> Option<Reason> {
        self.inner.reason()
    }

    /// A future that resolves with the [`Reason`] once the shutdown is
    /// triggered, at once if it already was.
    ///
    /// It works whether it was created before or after the trigger (unlike a
    /// `watch` receiver subscribed after the send, it cannot miss it), it is
    /// `Send + 'static` (it holds a clone of the handle), and it can be polled
    /// in a `select!` loop and re-created freely.
    ///
    /// # Cancellation safety
    ///
    /// Cancel safe: dropping it loses nothing, the trigger stays observable.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::{Reason, Shutdown};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let shutdown = Shutdown::new();
    /// shutdown.trigger(Reason::Requested);
    /// // Subscribed after the trigger: still resolves.
    /// let reason = shutdown.triggered().await;
    /// assert!(reason.is_clean());
    /// # }
    /// ```
    pub fn triggered(&self) -> Triggered {
        Triggered::new(self.clone())
    }

    /// A [`CancellationToken`] that is cancelled when this scope is triggered,
    /// for code that speaks tokio-util.
    ///
    /// The token is a child of the internal one: cancelling it does *not*
    /// trigger the shutdown (there would be no reason to record). Call
    /// [`trigger`](Shutdown::trigger) for that.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::{Reason, Shutdown};
    ///
    /// let shutdown = Shutdown::new();
    /// let token = shutdown.token();
    /// shutdown.trigger(Reason::Requested);
    /// assert!(token.is_cancelled());
    /// ```
    pub fn token(&self) -> CancellationToken {
        self.inner.token.child_token()
    }

    /// A nested scope. The parent's trigger (and force) reaches the child; the
    /// child's trigger does not reach the parent.
    ///
    /// Drain accounting nests the same way: a guard or task taken in the child
    /// also counts in every enclosing scope, so the parent's drain waits for
    /// its children's work too, and once the parent is draining the child
    /// refuses new guards as well. Draining the child alone stops only the
    /// child's intake. The child inherits the pre-drain delay.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_shutdown::{Reason, Shutdown};
    ///
    /// let parent = Shutdown::new();
    /// let child = parent.child();
    /// child.trigger(Reason::Requested);
    /// assert!(child.is_triggered());
    /// assert!(!parent.is_triggered());
    /// ```
    #[must_use = "a child scope that is dropped observes nothing"]
    pub fn child(&self) -> Shutdown {
        Self::from_parts(self.inner.pre_drain_delay, Some(&self.inner))
    }
}

impl Inner {
    fn trigger_record(&self) -> &Record<(Reason, Instant)> {
        &self.trigger
    }

    fn reason(&self) -> Option<Reason> {
        record::resolve(self, Self::trigger_record).map(|(reason, _)| reason)
    }

    /// When this scope was triggered (its own trigger or an ancestor's).
    pub(crate) fn triggered_at(&self) -> Option<Instant> {
        record::resolve(self, Self::trigger_record).map(|(_, at)| at)
    }
}

impl Inner {
    fn root(&self) -> &Inner {
        let mut scope = self;
        while let Some(parent) = scope.parent.as_deref() {
            scope = parent;
        }
        scope
    }

    /// The tree's `Notify`, for a waiter. The waiter creates its `Notified`
    /// from it, then calls [`Inner::fence`], then reads the state it waits
    /// for (see `announce`).
    pub(crate) fn events(&self) -> &Notify {
        self.root().events.get_or_init(Notify::new)
    }

    /// The waiter's half of the handshake with `announce`.
    pub(crate) fn fence() {
        fence(Ordering::SeqCst);
    }

    /// Wakes every waiter in the tree after a state change. The change is
    /// made before the fence, the `Notify` is looked for after it; a waiter
    /// makes the `Notify` (and its `Notified`) before its own fence and reads
    /// the state after it. The two `SeqCst` fences are ordered one way or the
    /// other: either this call finds the `Notify` (and `notify_waiters`
    /// reaches every `Notified` already created, polled or not), or the
    /// waiter's read comes after the change and it does not sleep.
    pub(crate) fn announce(&self) {
        fence(Ordering::SeqCst);
        if let Some(events) = self.root().events.get() {
            events.notify_waiters();
        }
    }
}

impl Scope for Inner {
    fn word(&self) -> &Word {
        &self.word
    }

    fn parent(&self) -> Option<&Self> {
        self.parent.as_deref()
    }

    #[cold]
    fn drained(&self) {
        self.drained.notify_waiters();
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("phase", &self.phase())
            .field("reason", &self.reason())
            .field("forced", &self.is_forced())
            .field("outstanding", &self.outstanding())
            .field("pre_drain_delay", &self.inner.pre_drain_delay)
            .field("is_child", &self.inner.parent.is_some())
            .finish()
    }
}
