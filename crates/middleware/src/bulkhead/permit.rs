//! The bulkhead's permits: one atomic counter, plus a `Notify` that wakes
//! waiters only when some exist.
//!
//! tokio's `Semaphore` would do, but its release takes a lock; a bulkhead
//! that rejects rather than queues needs only a bounded counter on the
//! fast path. Waiting (the optional bounded wait) registers in `waiters`
//! before retrying, and a release notifies only when that count is
//! non-zero; both sides use sequentially consistent order, so either the
//! releaser sees the waiter or the waiter's retry sees the release.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{Notify, futures::OwnedNotified};
use tokio::time::Sleep;

/// Shared configuration and permit count.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) max: usize,
    pub(crate) max_wait: Option<Duration>,
    pub(crate) retry_after: Duration,
    in_use: AtomicUsize,
    waiters: AtomicUsize,
    notify: Arc<Notify>,
}

impl Shared {
    pub(crate) fn new(max: usize, max_wait: Option<Duration>, retry_after: Duration) -> Self {
        Self {
            max,
            max_wait,
            retry_after,
            in_use: AtomicUsize::new(0),
            waiters: AtomicUsize::new(0),
            notify: Arc::new(Notify::new()),
        }
    }

    pub(crate) fn available(&self) -> usize {
        self.max.saturating_sub(self.in_use.load(Ordering::SeqCst))
    }
}

/// One taken slot; dropping it gives the slot back.
#[derive(Debug)]
pub(crate) struct Permit {
    shared: Arc<Shared>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let s = &*self.shared;
        s.in_use.fetch_sub(1, Ordering::SeqCst);
        if s.waiters.load(Ordering::SeqCst) > 0 {
            s.notify.notify_one();
        }
    }
}

/// Takes a slot if one is free.
pub(crate) fn try_acquire(shared: &Arc<Shared>) -> Option<Permit> {
    let mut current = shared.in_use.load(Ordering::SeqCst);
    loop {
        if current >= shared.max {
            return None;
        }
        match shared.in_use.compare_exchange_weak(
            current,
            current + 1,
            Ordering::SeqCst,
            Ordering::SeqCst,
        ) {
            Ok(_) => {
                return Some(Permit {
                    shared: Arc::clone(shared),
                });
            }
            Err(actual) => current = actual,
        }
    }
}

/// A bounded wait for a slot; counts itself as a waiter while it lives.
#[derive(Debug)]
pub(crate) struct Wait {
    shared: Arc<Shared>,
    notified: Pin<Box<OwnedNotified>>,
    sleep: Pin<Box<Sleep>>,
}

impl Wait {
    pub(crate) fn new(shared: &Arc<Shared>, max_wait: Duration) -> Self {
        shared.waiters.fetch_add(1, Ordering::SeqCst);
        Self {
            shared: Arc::clone(shared),
            notified: Box::pin(Arc::clone(&shared.notify).notified_owned()),
            sleep: Box::pin(tokio::time::sleep(max_wait)),
        }
    }

    /// A permit, `None` once the wait has expired, or pending.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<Permit>> {
        loop {
            if let Some(permit) = try_acquire(&self.shared) {
                return Poll::Ready(Some(permit));
            }
            if self.notified.as_mut().poll(cx).is_ready() {
                // Woken by a release: register again, then retry.
                self.notified = Box::pin(Arc::clone(&self.shared.notify).notified_owned());
                continue;
            }
            std::task::ready!(self.sleep.as_mut().poll(cx));
            return Poll::Ready(None);
        }
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        self.shared.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}
