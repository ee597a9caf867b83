//! Exact stats: counters, high water and queue wait under paused time.

use evenkeel_backpressure::{Overflow, Queue, bounded};
use std::time::Duration;

/// Queue wait is measured from enqueue to dequeue; with the clock paused
/// the count, sum, max and histogram buckets are exact.
#[tokio::test(start_paused = true)]
async fn queue_wait_is_exact() {
    let (tx, rx) = bounded(8);
    tx.send("a").await.unwrap(); // waits 30 ms
    tokio::time::advance(Duration::from_millis(10)).await;
    tx.send("b").await.unwrap(); // waits 20 ms
    tokio::time::advance(Duration::from_millis(20)).await;
    rx.recv().await.unwrap();
    rx.recv().await.unwrap();
    tx.send("c").await.unwrap(); // waits 0
    rx.try_recv().unwrap();
    tx.send("d").await.unwrap(); // waits 2 s, taken by drain
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(rx.drain(), ["d"]);

    let wait = rx.stats().wait;
    assert_eq!(wait.count, 4);
    assert_eq!(wait.sum, Duration::from_millis(2050));
    assert_eq!(wait.max, Duration::from_secs(2));
    assert_eq!(wait.mean(), Some(Duration::from_micros(512_500)));
    // <=100us, <=1ms, <=10ms, <=100ms, <=1s, >1s
    assert_eq!(wait.buckets, [1, 0, 0, 2, 0, 1]);
}

/// The counters add up exactly after a mixed sequence, and
/// `enqueued == dequeued + evicted + len`.
#[tokio::test]
async fn counters_are_exact() {
    let (tx, rx) = Queue::builder(3)
        .overflow(Overflow::Reject)
        .build()
        .unwrap();
    for i in 0..5 {
        let _ = tx.send(i).await;
    }
    assert_eq!(rx.recv().await, Some(0));
    let _ = tx.try_send(5);
    let _ = tx.try_send(6);
    let _ = tx.try_reserve();
    let s = tx.stats();
    assert_eq!(s.len, 3);
    assert_eq!(s.capacity, 3);
    assert_eq!(s.high_water, 3);
    assert_eq!(s.enqueued, 4);
    assert_eq!(s.dequeued, 1);
    assert_eq!(s.rejected, 4); // 3, 4, 6 and the refused reservation
    assert_eq!(s.dropped, 0);
    assert_eq!(s.enqueued, s.dequeued + s.evicted + s.len as u64);
    assert_eq!(s.weight_budget, None);
}

/// High water records the deepest the queue has been, not its current length.
#[tokio::test]
async fn high_water_is_the_peak() {
    let (tx, rx) = bounded(10);
    for i in 0..7 {
        tx.send(i).await.unwrap();
    }
    while rx.try_recv().is_ok() {}
    tx.send(99).await.unwrap();
    let s = rx.stats();
    assert_eq!((s.len, s.high_water), (1, 7));
}
