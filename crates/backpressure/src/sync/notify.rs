//! A loom model of the parts of [`tokio::sync::Notify`] a
//! [`Signal`](crate::signal::Signal) uses, built on loom's `Mutex` so that
//! loom sees the synchronization a wake-up carries.
//!
//! With tokio's own `Notify` under loom, each call is one step but its
//! happens-before edges are invisible (its atomics are std's), so loom
//! explores executions a real `Notify` forbids: a waker's write ordered
//! *after* the write of the waiter it woke. This model keeps tokio's
//! documented semantics and makes every edge a loom mutex hand-off:
//!
//! - `notify_one` wakes the longest-waiting registered waiter (first come,
//!   first served), or stores one permit if none is registered;
//! - `notify_waiters` wakes every registered waiter, and every `Notified`
//!   created before the call, and stores nothing;
//! - `enable` registers a waiter, consuming a stored permit if there is one
//!   (the future is then complete);
//! - a waiter woken by `notify_one` and dropped before it completes passes
//!   the wake-up on (to the next waiter, or as the stored permit).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use loom::sync::Mutex;

#[derive(Debug, Default)]
struct State {
    /// Registered waiters, oldest first.
    waiters: Vec<Waiter>,
    /// A `notify_one` that found nobody registered.
    permit: bool,
    /// `notify_waiters` calls so far.
    epoch: usize,
    next_id: usize,
}

#[derive(Debug)]
struct Waiter {
    id: usize,
    waker: Option<Waker>,
    /// `Some(true)` if woken by `notify_one`, `Some(false)` by
    /// `notify_waiters`.
    woken: Option<bool>,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Notify {
    state: Mutex<State>,
}

impl Notify {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> loom::sync::MutexGuard<'_, State> {
        // Nothing panics while the lock is held: poisoning cannot happen
        // outside a failing model, which has already failed.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            epoch: self.lock().epoch,
            id: None,
            done: false,
        }
    }

    pub(crate) fn notify_one(&self) {
        let waker = notify_one_locked(&mut self.lock());
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub(crate) fn notify_waiters(&self) {
        let wakers: Vec<Waker> = {
            let mut state = self.lock();
            state.epoch += 1;
            state
                .waiters
                .iter_mut()
                .filter(|w| w.woken.is_none())
                .filter_map(|w| {
                    w.woken = Some(false);
                    w.waker.take()
                })
                .collect()
        };
        for waker in wakers {
            waker.wake();
        }
    }
}

/// Wakes the oldest registered waiter not yet woken, or stores the permit.
fn notify_one_locked(state: &mut State) -> Option<Waker> {
    if let Some(w) = state.waiters.iter_mut().find(|w| w.woken.is_none()) {
        w.woken = Some(true);
        w.waker.take()
    } else {
        state.permit = true;
        None
    }
}

/// A wait on a [`Notify`], as tokio's `Notified`.
#[derive(Debug)]
pub(crate) struct Notified<'a> {
    notify: &'a Notify,
    epoch: usize,
    /// Set once registered.
    id: Option<usize>,
    done: bool,
}

impl Notified<'_> {
    /// Registers the waiter without polling; consumes a stored permit.
    pub(crate) fn enable(self: Pin<&mut Self>) -> bool {
        let this = self.get_mut();
        this.register(None);
        true
    }

    fn register(&mut self, waker: Option<&Waker>) {
        if self.done {
            return;
        }
        let mut state = self.notify.lock();
        if let Some(id) = self.id {
            let pos = state.waiters.iter().position(|w| w.id == id);
            let Some(pos) = pos else { return };
            if state.waiters[pos].woken.is_some() {
                state.waiters.remove(pos);
                self.id = None;
                self.done = true;
            } else if let Some(waker) = waker {
                state.waiters[pos].waker = Some(waker.clone());
            }
            return;
        }
        if state.epoch != self.epoch || state.permit {
            if state.epoch == self.epoch {
                state.permit = false;
            }
            self.done = true;
            return;
        }
        let id = state.next_id;
        state.next_id += 1;
        state.waiters.push(Waiter {
            id,
            waker: waker.cloned(),
            woken: None,
        });
        self.id = Some(id);
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.register(Some(cx.waker()));
        if this.done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        let waker = {
            let mut state = self.notify.lock();
            let Some(pos) = state.waiters.iter().position(|w| w.id == id) else {
                return;
            };
            let waiter = state.waiters.remove(pos);
            // Woken by `notify_one` but never completed: pass it on.
            if waiter.woken == Some(true) {
                notify_one_locked(&mut state)
            } else {
                None
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}
