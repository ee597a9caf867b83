//! Each overflow policy on a full queue: who waits, what comes back, what is counted.

use evenkeel_backpressure::{Overflow, Queue, SendError, TrySendError, bounded};
use std::time::Duration;

/// `Wait`: a send on a full queue waits until a receiver makes room, then
/// enqueues; nothing is rejected or dropped.
#[tokio::test(start_paused = true)]
async fn wait_waits_for_room() {
    let (tx, rx) = bounded(1);
    tx.send(1).await.unwrap();
    let tx2 = tx.clone();
    let blocked = tokio::spawn(async move { tx2.send(2).await });
    tokio::task::yield_now().await;
    assert!(!blocked.is_finished());
    assert_eq!(rx.recv().await, Some(1));
    assert_eq!(blocked.await.unwrap().unwrap(), None);
    assert_eq!(rx.recv().await, Some(2));
    let s = rx.stats();
    assert_eq!((s.enqueued, s.rejected, s.dropped), (2, 0, 0));
}

/// `Wait`: `try_send` never waits; on a full queue it hands the item back
/// as `Full` and counts it as rejected.
#[test]
fn wait_try_send_hands_back_full() {
    let (tx, _rx) = bounded(1);
    tx.try_send(1).unwrap();
    assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2))));
    assert_eq!(tx.stats().rejected, 1);
}

/// `Reject`: `send` on a full queue returns `Full` with the item at once and
/// counts it as rejected; the queue keeps what it had.
#[tokio::test]
async fn reject_hands_back_new_item() {
    let (tx, rx) = Queue::builder(2)
        .overflow(Overflow::Reject)
        .build()
        .unwrap();
    tx.send(1).await.unwrap();
    tx.send(2).await.unwrap();
    assert!(matches!(tx.send(3).await, Err(SendError::Full(3))));
    assert_eq!(rx.drain(), [1, 2]);
    let s = rx.stats();
    assert_eq!((s.enqueued, s.rejected, s.dropped), (2, 1, 0));
}

/// `DropOldest`: on a full queue the new item is admitted and the oldest is
/// evicted and handed back; order of the survivors is kept.
#[tokio::test]
async fn drop_oldest_evicts_and_hands_back() {
    let (tx, rx) = Queue::builder(3)
        .overflow(Overflow::DropOldest)
        .build()
        .unwrap();
    for i in 0..3 {
        assert_eq!(tx.send(i).await.unwrap(), None);
    }
    assert_eq!(tx.send(3).await.unwrap(), Some(0));
    assert_eq!(tx.try_send(4).unwrap(), Some(1));
    assert_eq!(rx.drain(), [2, 3, 4]);
    let s = rx.stats();
    assert_eq!((s.enqueued, s.dequeued, s.dropped, s.evicted), (5, 3, 2, 2));
    assert_eq!(s.high_water, 3);
}

/// `DropOldest` with every slot held by permits (nothing queued to evict):
/// `try_send` returns `Full`, `send` waits for a slot instead of exceeding
/// the capacity.
#[tokio::test(start_paused = true)]
async fn drop_oldest_with_nothing_to_evict_waits() {
    let (tx, rx) = Queue::builder(1)
        .overflow(Overflow::DropOldest)
        .build()
        .unwrap();
    let permit = tx.reserve().await.unwrap();
    assert!(matches!(tx.try_send(1), Err(TrySendError::Full(1))));
    let tx2 = tx.clone();
    let blocked = tokio::spawn(async move { tx2.send(2).await });
    tokio::task::yield_now().await;
    assert!(!blocked.is_finished());
    drop(permit);
    assert_eq!(blocked.await.unwrap().unwrap(), None);
    assert_eq!(rx.recv().await, Some(2));
}

/// `send_timeout` hands the item back as `Timeout` when no room appears in
/// time (paused clock: exactly at the deadline), and succeeds if room
/// appears before.
#[tokio::test(start_paused = true)]
async fn send_timeout_hands_back_on_deadline() {
    let (tx, rx) = bounded(1);
    tx.send(0).await.unwrap();
    let start = tokio::time::Instant::now();
    let err = tx
        .send_timeout(1, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Timeout(1)));
    assert_eq!(start.elapsed(), Duration::from_millis(50));
    assert_eq!(tx.stats().rejected, 1);

    let rx2 = rx.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        rx2.recv().await
    });
    assert_eq!(
        tx.send_timeout(2, Duration::from_millis(50)).await.unwrap(),
        None
    );
    assert_eq!(rx.recv().await, Some(2));
}

/// Capacity 0: the builder refuses it with a typed error; `bounded(0)`
/// documents and delivers a queue of capacity 1. Neither panics.
#[test]
fn zero_capacity_is_an_error_or_one() {
    let err = Queue::builder::<u8>(0).build().unwrap_err();
    assert_eq!(err, evenkeel_backpressure::Error::ZeroCapacity);
    let (tx, _rx) = bounded::<u8>(0);
    assert_eq!(tx.capacity(), 1);
    tx.try_send(1).unwrap();
    assert!(tx.try_send(2).is_err());
}
