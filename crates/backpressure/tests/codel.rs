//! Queue-delay shedding (`CoDel` as in "Fail at Scale"): what is shed, when, and where it goes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use evenkeel_backpressure::{Codel, Error, Queue, Receiver, Sender};
use tokio::time::advance;

type Shed = Arc<Mutex<Vec<u32>>>;

fn queue() -> (Sender<u32>, Receiver<u32>, Shed) {
    let shed: Shed = Arc::default();
    let sink = Arc::clone(&shed);
    let (tx, rx) = Queue::builder(64)
        .codel(Codel::default(), move |item| {
            sink.lock().unwrap().push(item);
        })
        .build()
        .unwrap();
    (tx, rx, shed)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// During a burst (the queue was empty within the last 100 ms interval)
/// items may wait up to the interval: a 50 ms wait is delivered.
#[tokio::test(start_paused = true)]
async fn burst_waits_up_to_the_interval() {
    let (tx, rx, shed) = queue();
    tx.send(1).await.unwrap();
    advance(ms(50)).await;
    assert_eq!(rx.recv().await, Some(1));
    assert!(shed.lock().unwrap().is_empty());
    assert_eq!(rx.stats().wait.max, ms(50));
}

/// A standing queue (not empty for longer than the interval) sheds items
/// that waited past the 5 ms target: they go to the callback, are counted,
/// and the receiver gets the next fresh item.
#[tokio::test(start_paused = true)]
async fn standing_queue_sheds_past_target() {
    let (tx, rx, shed) = queue();
    advance(ms(10)).await;
    tx.send(1).await.unwrap();
    tx.send(2).await.unwrap();
    advance(ms(120)).await; // non-empty for 120 ms > 100 ms interval
    tx.send(3).await.unwrap(); // fresh: waits 0
    assert_eq!(rx.recv().await, Some(3));
    assert_eq!(*shed.lock().unwrap(), [1, 2]);
    let s = rx.stats();
    assert_eq!((s.shed, s.dequeued, s.enqueued), (2, 1, 3));
    assert_eq!(s.enqueued, s.dequeued + s.evicted + s.shed + s.len as u64);
}

/// Exactly at the limit is kept (the limit is "waited longer than"), and
/// once the standing queue empties, the burst allowance comes back.
#[tokio::test(start_paused = true)]
async fn limit_is_exclusive_and_resets_when_empty() {
    let (tx, rx, shed) = queue();
    tx.send(1).await.unwrap();
    advance(ms(100)).await;
    assert_eq!(rx.try_recv(), Ok(1)); // waited exactly the interval: kept
    // The queue emptied at t=100. A standing queue builds from t=100.
    tx.send(2).await.unwrap();
    advance(ms(101)).await;
    tx.send(3).await.unwrap();
    advance(ms(5)).await;
    assert_eq!(rx.try_recv(), Ok(3)); // 2 shed (106 ms), 3 waited exactly 5 ms: kept
    assert_eq!(*shed.lock().unwrap(), [2]);
    // Empty again at t=206: a 60 ms wait is a burst again.
    tx.send(4).await.unwrap();
    advance(ms(60)).await;
    assert_eq!(rx.recv().await, Some(4));
    assert_eq!(shed.lock().unwrap().len(), 1);
}

/// `drain` never sheds: spilled items are kept however long they waited.
#[tokio::test(start_paused = true)]
async fn drain_does_not_shed() {
    let (tx, rx, shed) = queue();
    tx.send(1).await.unwrap();
    tx.send(2).await.unwrap();
    advance(ms(500)).await;
    assert_eq!(rx.drain(), [1, 2]);
    assert!(shed.lock().unwrap().is_empty());
}

/// Shedding needs the enqueue timestamps: combining it with
/// `track_wait(false)` is a typed build error.
#[test]
fn codel_needs_wait_tracking() {
    let err = Queue::builder::<u8>(4)
        .track_wait(false)
        .codel(Codel::default(), drop)
        .build()
        .unwrap_err();
    assert_eq!(err, Error::CodelWithoutWaitTracking);
}
