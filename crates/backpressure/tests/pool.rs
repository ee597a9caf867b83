//! The worker pool: processes everything queued before close, then stops and reports.

use evenkeel_backpressure::{WorkerPool, bounded};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every item queued before the close is processed exactly once, spread
/// over the workers, and the pool stops after close-and-drain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_processes_everything_then_stops() {
    let (tx, rx) = bounded(16);
    let seen = Arc::new(AtomicU64::new(0));
    let sum = Arc::clone(&seen);
    let pool = WorkerPool::spawn(rx, 4, move |n: u64| {
        let sum = Arc::clone(&sum);
        async move {
            sum.fetch_add(n, Ordering::Relaxed);
            tokio::task::yield_now().await;
        }
    })
    .unwrap();
    for n in 1..=1000 {
        tx.send(n).await.unwrap();
    }
    tx.close();
    let report = pool.join().await;
    assert_eq!(report.processed, 1000);
    assert_eq!(report.panicked, 0);
    assert_eq!(report.workers, 4);
    assert_eq!(seen.load(Ordering::Relaxed), 500_500);
}

/// A panicking handler is caught and counted; the worker keeps going, so the
/// remaining items are still processed.
#[tokio::test]
async fn panics_are_caught_and_counted() {
    let (tx, rx) = bounded(8);
    let pool = WorkerPool::spawn(rx, 1, |n: u32| async move {
        assert!(!n.is_multiple_of(3), "job {n} is bad");
    })
    .unwrap();
    for n in 1..=9 {
        tx.send(n).await.unwrap();
    }
    drop(tx);
    let report = pool.join().await;
    assert_eq!((report.processed, report.panicked), (6, 3));
}
