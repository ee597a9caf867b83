//! [`Clock`]: where a rate limiter's time comes from.
//!
//! A check reads the clock once, and on the hot path of an admitted request
//! that read is most of the cost: tokio's `Instant::now` is the OS clock
//! (about 24 ns through the vDSO on the 2-core VM the crate is benchmarked
//! on, more under tokio's `test-util`, which looks for a paused clock
//! first), while a read of the CPU's time-stamp counter through [`quanta`]
//! is about 9 ns. So a limiter reads the counter, except where tests need
//! tokio's clock: tokio can pause time only on a current-thread runtime,
//! and a limiter built on one follows tokio's clock. (The same rule, and
//! the same process-wide calibrated counter, as `evenkeel-backpressure`'s
//! queues.)
//!
//! Every reading is a count of nanoseconds since the limiter was built.

use std::fmt;
use std::sync::OnceLock;

use tokio::time::Instant;

use super::gcra::nanos;

/// Where a limiter's time comes from; set with the builders' `clock`.
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::rate_limit::{Clock, RateLimiter};
///
/// // Follow tokio's clock even on a multi-thread runtime.
/// let limiter = RateLimiter::builder(10, Duration::from_secs(1)).clock(Clock::Tokio).build();
/// assert_eq!(limiter.clock(), Clock::Tokio);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Clock {
    /// Decided when the limiter is built: [`Tokio`](Self::Tokio) on a
    /// current-thread tokio runtime (the only kind whose time a test can
    /// pause), [`Fast`](Self::Fast) otherwise (a multi-thread runtime, or
    /// outside any runtime).
    #[default]
    Auto,
    /// `tokio::time::Instant::now`: follows paused time in tests.
    Tokio,
    /// The CPU's time-stamp counter through [`quanta`], calibrated against
    /// the OS clock (which it falls back to on CPUs without an invariant
    /// counter). Does *not* follow tokio's paused time. The first fast
    /// clock in a process calibrates the counter (under a millisecond on
    /// the benchmark machine); later ones reuse it.
    Fast,
}

/// A resolved clock.
pub(crate) enum TimeSource {
    Tokio { origin: Instant },
    Fast { clock: quanta::Clock, origin: u64 },
}

impl TimeSource {
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
                origin: Instant::now(),
            }
        } else {
            let clock = fast_clock();
            let origin = clock.raw();
            Self::Fast { clock, origin }
        }
    }

    /// Nanoseconds since the limiter was built.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match self {
            Self::Tokio { origin } => nanos(Instant::now().saturating_duration_since(*origin)),
            Self::Fast { clock, origin } => clock.delta_as_nanos(*origin, clock.raw()),
        }
    }

    /// `at` on this timeline, for a tokio-clock limiter; a fast-clock
    /// limiter reads its own counter instead, so it never mixes clocks.
    #[inline]
    pub(crate) fn at(&self, at: Instant) -> u64 {
        match self {
            Self::Tokio { origin } => nanos(at.saturating_duration_since(*origin)),
            Self::Fast { .. } => self.now(),
        }
    }

    pub(crate) fn kind(&self) -> Clock {
        match self {
            Self::Tokio { .. } => Clock::Tokio,
            Self::Fast { .. } => Clock::Fast,
        }
    }
}

/// The process's calibrated counter, shared: `quanta::Clock::new`
/// calibrates and asks the CPU (`cpuid`, slow in a VM) every time.
fn fast_clock() -> quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new).clone()
}

impl fmt::Debug for TimeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TimeSource").field(&self.kind()).finish()
    }
}
