//! [`Clock`]: where a queue's timestamps come from.
//!
//! A queue that tracks queue wait reads the clock twice per item, once at
//! enqueue and once at dequeue. At millions of items per second that is a
//! real share of the cost: on the 2-core VM this crate is benchmarked on,
//! `Instant::now` (the OS clock, through the vDSO) takes about 24 ns, and a
//! read of the CPU's time-stamp counter about 9 ns. So the queue reads the
//! counter (through [`quanta`], which calibrates it against the OS clock
//! and falls back to the OS clock where the counter is not reliable)
//! except where tests need tokio's clock: tokio can only pause time on a
//! current-thread runtime, and a queue built on one follows tokio's clock.
//!
//! Internally every timestamp is a count of nanoseconds since the queue was
//! built, from whichever source was chosen.

use std::fmt;
use std::sync::OnceLock;

/// Where a queue's timestamps (queue-wait stats, [`Codel`](crate::Codel)
/// shedding) come from; set with [`Builder::clock`](crate::Builder::clock).
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::{Clock, Queue};
///
/// // Follow tokio's clock even on a multi-thread runtime.
/// let (tx, _rx) = Queue::builder::<u8>(4).clock(Clock::Tokio).build().unwrap();
/// # drop(tx);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Clock {
    /// Decided when the queue is built: [`Tokio`](Self::Tokio) if it is
    /// built on a current-thread tokio runtime (the only kind whose time a
    /// test can pause), [`Fast`](Self::Fast) otherwise (on a multi-thread
    /// runtime or outside any runtime).
    #[default]
    Auto,
    /// [`tokio::time::Instant::now`]: follows tokio's paused time in tests
    /// (`start_paused`, `advance`). About 24 ns a read on the benchmark
    /// machine.
    Tokio,
    /// The CPU's time-stamp counter, read through [`quanta`] and
    /// calibrated against the OS clock (it falls back to the OS clock on
    /// CPUs without an invariant counter). About 9 ns a read on the
    /// benchmark machine. Does *not* follow tokio's paused time. The first
    /// queue with a fast clock in a process calibrates the counter, which
    /// took about 0.6 ms on the benchmark machine (quanta caps it at
    /// 200 ms); later ones reuse it.
    Fast,
}

/// A resolved clock: reads nanoseconds since the queue was built.
pub(crate) enum TimeSource {
    Tokio { origin: tokio::time::Instant },
    Fast { clock: quanta::Clock, origin: u64 },
}

impl TimeSource {
    /// Resolves `clock` (see [`Clock::Auto`]) and starts counting now.
    pub(crate) fn new(clock: Clock) -> Self {
        let tokio_clock = match clock {
            Clock::Tokio => true,
            Clock::Fast => false,
            Clock::Auto => tokio::runtime::Handle::try_current().is_ok_and(|handle| {
                handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread
            }),
        };
        if tokio_clock {
            Self::Tokio {
                origin: tokio::time::Instant::now(),
            }
        } else {
            let clock = fast_clock();
            let origin = clock.raw();
            Self::Fast { clock, origin }
        }
    }

    /// Nanoseconds since the queue was built (0 for a reading that comes
    /// out before the origin, as a counter read on another core can).
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match self {
            Self::Tokio { origin } => {
                let since = tokio::time::Instant::now().saturating_duration_since(*origin);
                u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
            }
            Self::Fast { clock, origin } => clock.delta_as_nanos(*origin, clock.raw()),
        }
    }

    /// The resolved choice (for `Sender::clock`, `Receiver::clock` and
    /// `Debug` output).
    pub(crate) fn kind(&self) -> Clock {
        match self {
            Self::Tokio { .. } => Clock::Tokio,
            Self::Fast { .. } => Clock::Fast,
        }
    }
}

/// The process's fast clock, set up once: `quanta::Clock::new` calibrates
/// the counter the first time (about 0.6 ms on the benchmark VM) and asks
/// the CPU about it every time (`cpuid`, about 15 µs there, as a VM traps
/// it), so queues share one and clone it.
fn fast_clock() -> quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new).clone()
}

impl fmt::Debug for TimeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TimeSource").field(&self.kind()).finish()
    }
}
