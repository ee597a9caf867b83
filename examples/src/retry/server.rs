//! The simulated dependency of the `retry` lesson: down for a while (or
//! for ever), then serving a fixed number of calls per window and refusing
//! the rest as overload. It logs every call, so the lesson can count the
//! load each window saw and the longest wait of each client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Why the dependency refused a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CallError {
    /// Down (the outage).
    Unavailable,
    /// Up, but this window's capacity is used up.
    Overloaded,
}

/// A dependency that is down until `up_at` (for ever if `None`), then
/// serves `capacity` calls per window. Records every call.
#[derive(Debug)]
pub(super) struct Server {
    pub(super) start: Instant,
    up_at: Option<Instant>,
    capacity: usize,
    window: Duration,
    log: Mutex<Log>,
}

#[derive(Debug, Default)]
pub(super) struct Log {
    /// (client, time since start) of every call, in call order.
    pub(super) calls: Vec<(usize, Duration)>,
    /// Calls per window, counted while the server is up.
    pub(super) per_window: HashMap<u128, usize>,
    pub(super) overloaded: usize,
}

impl Server {
    pub(super) fn new(outage: Option<Duration>, capacity: usize, window: Duration) -> Arc<Self> {
        let start = Instant::now();
        Arc::new(Self {
            start,
            up_at: outage.map(|outage| start + outage),
            capacity,
            window,
            log: Mutex::new(Log::default()),
        })
    }

    pub(super) fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        // A panic while logging leaves the log consistent enough to read.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn call(&self, client: usize) -> Result<(), CallError> {
        let now = Instant::now();
        let at = now.saturating_duration_since(self.start);
        let mut log = self.log();
        log.calls.push((client, at));
        match self.up_at {
            Some(up_at) if now >= up_at => {
                // Load is counted once the server is up to serve it.
                let in_window = log
                    .per_window
                    .entry(at.as_nanos() / self.window.as_nanos().max(1))
                    .or_default();
                *in_window += 1;
                if *in_window > self.capacity {
                    log.overloaded += 1;
                    Err(CallError::Overloaded)
                } else {
                    Ok(())
                }
            }
            _ => Err(CallError::Unavailable),
        }
    }

    /// The longest gap between two consecutive calls of one client.
    pub(super) fn longest_wait(&self) -> Duration {
        let log = self.log();
        let mut last: HashMap<usize, Duration> = HashMap::new();
        let mut longest = Duration::ZERO;
        for &(client, at) in &log.calls {
            if let Some(previous) = last.insert(client, at) {
                longest = longest.max(at.saturating_sub(previous));
            }
        }
        longest
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CallError::Unavailable => "unavailable",
            CallError::Overloaded => "overloaded",
        })
    }
}
