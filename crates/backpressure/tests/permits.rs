//! Reserve-then-send: permits hold capacity, never exceed it, never leak it.

use evenkeel_backpressure::{Overflow, Queue, TrySendError, bounded};

/// Outstanding permits count against the capacity: with every slot
/// reserved, plain sends and further reservations are refused.
#[tokio::test]
async fn permits_hold_capacity() {
    let (tx, rx) = bounded::<u32>(2);
    let a = tx.try_reserve().unwrap();
    let b = tx.reserve().await.unwrap();
    assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
    assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));
    a.send(1).unwrap();
    b.send(2).unwrap();
    assert_eq!(rx.drain(), [1, 2]);
}

/// Dropping a permit unsent gives its slot back, repeatedly: no leak.
#[test]
fn dropped_permits_give_slots_back() {
    let (tx, _rx) = bounded::<u32>(1);
    for _ in 0..100 {
        let permit = tx.try_reserve().unwrap();
        drop(permit);
    }
    tx.try_send(1).unwrap();
}

/// A permit is owned: it moves into a spawned task that builds the job
/// later, and the slot is used there.
#[tokio::test]
async fn permit_moves_into_a_task() {
    let (tx, rx) = bounded(1);
    let permit = tx.try_reserve().unwrap();
    tokio::spawn(async move { permit.send(String::from("built later")).unwrap() })
        .await
        .unwrap();
    assert_eq!(rx.recv().await.as_deref(), Some("built later"));
}

/// Under `DropOldest`, a permit holder's slot is never stolen by eviction:
/// sends evict queued items only, and the permit's send always fits.
#[tokio::test]
async fn drop_oldest_respects_permits() {
    let (tx, rx) = Queue::builder(2)
        .overflow(Overflow::DropOldest)
        .build()
        .unwrap();
    let permit = tx.try_reserve().unwrap();
    tx.send(1).await.unwrap();
    assert_eq!(tx.send(2).await.unwrap(), Some(1));
    assert_eq!(tx.send(3).await.unwrap(), Some(2));
    permit.send(4).unwrap();
    assert_eq!(rx.len(), 2);
    assert_eq!(rx.drain(), [3, 4]);
}

/// A permit reserved before the last sender drops keeps the queue open for
/// its one item: the send succeeds and receivers get the item, then the
/// close. (Before the fix the last sender's drop closed the queue and the
/// permit's send failed with `Closed`.)
#[tokio::test(start_paused = true)]
async fn a_permit_outlives_the_last_sender() {
    let (tx, rx) = evenkeel_backpressure::bounded(2);
    let permit = tx.reserve().await.unwrap();
    drop(tx);
    assert!(!rx.is_closed(), "the permit still counts as a sender");
    permit.send("reserved").unwrap();
    assert_eq!(rx.recv().await, Some("reserved"));
    assert_eq!(rx.recv().await, None);
}

/// An unused permit dropped after the last sender closes the queue.
#[tokio::test(start_paused = true)]
async fn dropping_the_last_permit_closes_the_queue() {
    let (tx, rx) = evenkeel_backpressure::bounded::<u8>(2);
    let permit = tx.try_reserve().unwrap();
    drop(tx);
    drop(permit);
    assert!(rx.is_closed());
    assert_eq!(rx.recv().await, None);
}
