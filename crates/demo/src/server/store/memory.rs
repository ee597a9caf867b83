//! The in-memory backend: the store's full semantics, **without
//! durability**.
//!
//! Every command runs on the shared state machine under one mutex and is
//! answered at once. Nothing is written anywhere: a crash, a kill or a
//! plain exit loses every job it holds. Use it for tests and for
//! `--store memory` demonstrations where that is understood; the server's
//! default is the durable [`RedbStore`](super::RedbStore).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use super::clock::{Clock, millis};
use super::core::Core;
use super::types::{Claims, Enqueued, JobRecord, Lease, Nacked, NewJob, StoreOptions, StoreStats};
use super::{JobStore, StoreFuture};
use crate::server::job::JobId;

/// The in-memory job store (not durable); cheap to clone (shared).
///
/// ```
/// use evenkeel_demo::server::store::{JobStore, MemoryStore, StoreOptions};
/// let store = MemoryStore::new(StoreOptions::default());
/// assert!(!store.is_shared());
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    core: Mutex<Core>,
    notify: Notify,
    clock: Arc<dyn Clock>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new(options: StoreOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                core: Mutex::new(Core::new(&options)),
                notify: Notify::new(),
                clock: options.clock,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        // Every command leaves the state consistent before it can panic
        // (they do not panic on any input), so a poisoned lock is usable.
        self.inner
            .core
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `command` on the state, prunes, and wakes whom `wake` says
    /// among the workers waiting for work.
    fn apply<T>(&self, wake: Wake, command: impl FnOnce(&mut Core, u64) -> T) -> T {
        let now = self.inner.clock.now_ms();
        let out = {
            let mut core = self.lock();
            let out = command(&mut core, now);
            core.prune(now);
            core.take_dirty();
            out
        };
        self.wake(wake);
        out
    }

    fn wake(&self, wake: Wake) {
        match wake {
            Wake::Nobody => {}
            // One job became ready (or due sooner): one worker claims it.
            // Waking every idle worker for it made all of them claim and
            // all but one find nothing, per job (with 16 idle workers, 15
            // wasted claims for each enqueue). With no worker waiting, the
            // permit is kept for the next one to look.
            Wake::One => self.inner.notify.notify_one(),
            Wake::Everyone => self.inner.notify.notify_waiters(),
        }
    }
}

/// Whom a command wakes among the workers waiting for work.
#[derive(Debug, Clone, Copy)]
enum Wake {
    Nobody,
    /// A job became ready, or a delayed one is due sooner.
    One,
    /// Any number of jobs became ready.
    Everyone,
}

/// Waits for `notify`, or until `due` (ms on `clock`), or `max_wait`.
pub(crate) async fn wait_until(
    notified: tokio::sync::futures::Notified<'_>,
    due: Option<u64>,
    clock: &dyn Clock,
    max_wait: Duration,
) {
    let wait = due.map_or(max_wait, |due| {
        Duration::from_millis(due.saturating_sub(clock.now_ms())).min(max_wait)
    });
    tokio::select! {
        () = notified => {}
        () = tokio::time::sleep(wait) => {}
    }
}

impl JobStore for MemoryStore {
    fn enqueue(&self, job: NewJob) -> StoreFuture<'_, Enqueued> {
        let out = self.apply(Wake::Nobody, |core, now| core.enqueue(job, now));
        if let Ok(Enqueued::Created(_)) = out {
            self.wake(Wake::One);
        }
        Box::pin(std::future::ready(out))
    }

    fn claim(&self, max: usize, lease_for: Duration) -> StoreFuture<'_, Claims> {
        let out = self.apply(Wake::Nobody, |core, now| {
            core.claim(max, millis(lease_for), now)
        });
        Box::pin(std::future::ready(Ok(out)))
    }

    fn extend(&self, lease: Lease, lease_for: Duration) -> StoreFuture<'_, Lease> {
        let out = self.apply(Wake::Nobody, |core, now| {
            core.extend(lease, millis(lease_for), now)
        });
        Box::pin(std::future::ready(out))
    }

    fn ack(&self, lease: Lease) -> StoreFuture<'_, ()> {
        let out = self.apply(Wake::Nobody, |core, now| core.ack(lease, now));
        Box::pin(std::future::ready(out))
    }

    fn nack(&self, lease: Lease, error: String, delay: Duration) -> StoreFuture<'_, Nacked> {
        let out = self.apply(Wake::One, |core, now| {
            core.nack(lease, error, millis(delay), now)
        });
        Box::pin(std::future::ready(out))
    }

    fn dead_letter(&self, lease: Lease, reason: String) -> StoreFuture<'_, ()> {
        let out = self.apply(Wake::Nobody, |core, now| {
            core.dead_letter(lease, reason, now)
        });
        Box::pin(std::future::ready(out))
    }

    fn release(&self, lease: Lease) -> StoreFuture<'_, ()> {
        let out = self.apply(Wake::One, |core, _| core.release(lease));
        Box::pin(std::future::ready(out))
    }

    fn recover(&self) -> StoreFuture<'_, u64> {
        let out = self.apply(Wake::Everyone, |core, _| core.recover_all());
        Box::pin(std::future::ready(Ok(out)))
    }

    fn get(&self, id: JobId) -> StoreFuture<'_, Option<JobRecord>> {
        let out = self.lock().get(id);
        Box::pin(std::future::ready(Ok(out)))
    }

    fn stats(&self) -> StoreFuture<'_, StoreStats> {
        let now = self.inner.clock.now_ms();
        let out = self.lock().stats(now);
        Box::pin(std::future::ready(Ok(out)))
    }

    fn prune(&self) -> StoreFuture<'_, u64> {
        let out = self.apply(Wake::Nobody, Core::prune);
        Box::pin(std::future::ready(Ok(out)))
    }

    fn wait_for_work(&self, max_wait: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            // Created before reading the state, so a wake-up in between is
            // not missed: `notify_waiters` reaches futures once created, and
            // a `notify_one` with nobody registered keeps its permit.
            let notified = self.inner.notify.notified();
            let due = self.lock().next_due();
            wait_until(notified, due, &*self.inner.clock, max_wait).await;
        })
    }

    fn clock(&self) -> &dyn Clock {
        &*self.inner.clock
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::server::store::conformance::spec;

    fn job() -> NewJob {
        NewJob::new(spec(1, 3))
    }

    /// Pins that one enqueued job wakes one idle worker, not all of them
    /// (each woken worker claims; the others would find nothing), and that
    /// a wake with no worker waiting is kept for the next one.
    #[tokio::test(start_paused = true)]
    async fn an_enqueue_wakes_one_idle_worker() {
        let store = MemoryStore::new(StoreOptions::default());
        let idle = Duration::from_secs(3600);
        let mut waiting: Vec<_> = (0..4)
            .map(|_| {
                tokio::spawn({
                    let store = store.clone();
                    async move { store.wait_for_work(idle).await }
                })
            })
            .collect();
        // Let every worker register as waiting.
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(matches!(
            store.enqueue(job()).await,
            Ok(Enqueued::Created(_))
        ));
        tokio::time::sleep(Duration::from_millis(1)).await;
        let woken = waiting.iter().filter(|w| w.is_finished()).count();
        assert_eq!(woken, 1, "one job, one worker woken");
        waiting.retain(|w| !w.is_finished());
        // A duplicate enqueue (same idempotency key) adds no job: nobody.
        let keyed = || NewJob {
            idempotency_key: Some("k".to_owned()),
            ..job()
        };
        store.enqueue(keyed()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        waiting.retain(|w| !w.is_finished());
        assert_eq!(waiting.len(), 2);
        store.enqueue(keyed()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(waiting.iter().filter(|w| w.is_finished()).count(), 0);
        for w in waiting {
            w.abort();
        }
        // No worker waiting: the wake is kept, the next one returns at once.
        store.enqueue(job()).await.unwrap();
        tokio::time::timeout(Duration::from_millis(1), store.wait_for_work(idle))
            .await
            .expect("the kept wake lets the next waiter look at once");
    }

    /// Pins that recovering leases wakes every idle worker: any number of
    /// jobs may have become ready.
    #[tokio::test(start_paused = true)]
    async fn recovery_wakes_every_idle_worker() {
        let store = MemoryStore::new(StoreOptions::default());
        let idle = Duration::from_secs(3600);
        let waiting: Vec<_> = (0..3)
            .map(|_| {
                tokio::spawn({
                    let store = store.clone();
                    async move { store.wait_for_work(idle).await }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(1)).await;
        store.recover().await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(waiting.iter().all(tokio::task::JoinHandle::is_finished));
    }
}
