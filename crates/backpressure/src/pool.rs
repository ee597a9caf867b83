//! [`WorkerPool`]: N workers over one [`Receiver`], the textbook exercise done right.
//!
//! Each worker owns a clone of the receiver and loops on `recv().await`; the
//! MPMC channel hands each item to exactly one waiting worker, so no lock is
//! held while waiting and idle workers wait side by side. A worker stops when
//! `recv` returns `None`: the queue is closed *and* empty. So closing the
//! queue (from either side) is the stop signal, and nothing queued before the
//! close is skipped.
//!
//! The pool lives in this crate rather than in `evenkeel-tasks` because it
//! needs nothing but the queue: no supervisor, no restart policy. A service
//! that wants workers restarted or named can run [`Receiver`] clones in its
//! own task group instead.
//!
//! A handler that panics is caught (per item) and counted: one bad job does
//! not take a worker, and with it a share of the pool's capacity, down.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt as _;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::receiver::Receiver;

/// What a [`WorkerPool`] did, from [`WorkerPool::join`].
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::{WorkerPool, bounded};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (tx, rx) = bounded(8);
/// let pool = WorkerPool::spawn(rx, 2, |n: u32| async move {
///     assert!(n != 3, "bad job");
/// })
/// .unwrap();
/// for n in 0..5 {
///     tx.send(n).await.unwrap();
/// }
/// drop(tx); // the last sender closes the queue
/// let report = pool.join().await;
/// assert_eq!((report.workers, report.processed, report.panicked), (2, 4, 1));
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolReport {
    /// Workers the pool ran.
    pub workers: usize,
    /// Items whose handler completed normally.
    pub processed: u64,
    /// Items whose handler panicked (caught; the worker went on).
    pub panicked: u64,
    /// Worker tasks that ended abnormally (aborted with the runtime).
    pub workers_lost: usize,
}

/// What one worker counted.
#[derive(Clone, Copy, Debug, Default)]
struct WorkerCounts {
    processed: u64,
    panicked: u64,
}

/// N tokio tasks, each taking items from a shared [`Receiver`] and running
/// an async handler on them, until the queue is closed and empty.
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::{WorkerPool, bounded};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (tx, rx) = bounded(64);
/// let sum = Arc::new(AtomicU64::new(0));
/// let total = Arc::clone(&sum);
/// let pool = WorkerPool::spawn(rx, 4, move |n: u64| {
///     let total = Arc::clone(&total);
///     async move {
///         total.fetch_add(n, Ordering::Relaxed);
///     }
/// })
/// .unwrap();
/// for n in 1..=10 {
///     tx.send(n).await.unwrap();
/// }
/// pool.close(); // stop intake; the workers finish the queue
/// assert_eq!(pool.join().await.processed, 10);
/// assert_eq!(sum.load(Ordering::Relaxed), 55);
/// # }
/// ```
pub struct WorkerPool {
    handles: Vec<JoinHandle<WorkerCounts>>,
    close: Box<dyn Fn() -> bool + Send + Sync>,
}

impl WorkerPool {
    /// Spawns `workers` tasks on the current tokio runtime, each running
    /// `handler` on the items it receives from `rx`.
    ///
    /// The workers stop once the queue is closed and empty; close it with
    /// [`WorkerPool::close`], [`Sender::close`](crate::Sender::close),
    /// [`Receiver::close`], or by dropping every sender.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroWorkers`] if `workers` is 0.
    ///
    /// # Panics
    ///
    /// Like [`tokio::spawn`], if called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{Error, WorkerPool, bounded};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (_tx, rx) = bounded::<u8>(4);
    /// let err = WorkerPool::spawn(rx, 0, |_| async {}).unwrap_err();
    /// assert_eq!(err, Error::ZeroWorkers);
    /// # }
    /// ```
    pub fn spawn<T, F, Fut>(rx: Receiver<T>, workers: usize, handler: F) -> Result<Self, Error>
    where
        T: Send + 'static,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if workers == 0 {
            return Err(Error::ZeroWorkers);
        }
        let handler = Arc::new(handler);
        let tasks = (0..workers)
            .map(|_| tokio::spawn(work(rx.clone(), Arc::clone(&handler))))
            .collect();
        let close = Box::new(move || rx.close());
        Ok(Self {
            handles: tasks,
            close,
        })
    }

    /// Closes the queue the pool works on: intake stops, and the workers
    /// exit once they have processed everything already queued. Returns
    /// `true` if this call closed it.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{WorkerPool, bounded};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = bounded::<u8>(4);
    /// let pool = WorkerPool::spawn(rx, 1, |_| async {}).unwrap();
    /// assert!(pool.close());
    /// assert!(tx.is_closed());
    /// pool.join().await;
    /// # }
    /// ```
    pub fn close(&self) -> bool {
        (self.close)()
    }

    /// The number of workers.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{WorkerPool, bounded};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (_tx, rx) = bounded::<u8>(4);
    /// let pool = WorkerPool::spawn(rx, 3, |_| async {}).unwrap();
    /// assert_eq!(pool.workers(), 3);
    /// # pool.close();
    /// # }
    /// ```
    pub fn workers(&self) -> usize {
        self.handles.len()
    }

    /// Waits for every worker to finish (the queue closed and drained) and
    /// reports what they did.
    ///
    /// # Cancellation safety
    ///
    /// Dropping the future stops waiting; the workers keep running
    /// (detached) until the queue is closed and empty, and their counts are
    /// lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{WorkerPool, bounded};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = bounded(4);
    /// let pool = WorkerPool::spawn(rx, 2, |_: u8| async {}).unwrap();
    /// tx.send(1).await.unwrap();
    /// tx.close();
    /// assert_eq!(pool.join().await.processed, 1);
    /// # }
    /// ```
    pub async fn join(self) -> PoolReport {
        let mut report = PoolReport {
            workers: self.handles.len(),
            ..PoolReport::default()
        };
        for handle in self.handles {
            match handle.await {
                Ok(counts) => {
                    report.processed += counts.processed;
                    report.panicked += counts.panicked;
                }
                Err(_) => report.workers_lost += 1,
            }
        }
        report
    }
}

async fn work<T, F, Fut>(rx: Receiver<T>, handler: Arc<F>) -> WorkerCounts
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut counts = WorkerCounts::default();
    while let Some(item) = rx.recv().await {
        // Calling the handler may panic before the future exists; the
        // future may panic when polled. Both are caught and counted.
        let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| handler(item))) {
            Ok(fut) => AssertUnwindSafe(fut).catch_unwind().await,
            Err(payload) => Err(payload),
        };
        match outcome {
            Ok(()) => counts.processed += 1,
            Err(_) => counts.panicked += 1,
        }
    }
    counts
}

impl fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPool")
            .field("workers", &self.handles.len())
            .finish_non_exhaustive()
    }
}
