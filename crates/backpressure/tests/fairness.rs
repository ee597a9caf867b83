//! Fairness between producers: a producer waiting for room is not
//! overtaken by producers that arrive while its wake-up is in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use evenkeel_backpressure::{Overflow, Queue, TrySendError, bounded};

/// A producer asleep on a full queue gets the next slot freed, even though
/// the consumer's own task offers a new item the instant each slot frees
/// (before the woken producer has run). Before the fix the newcomer took
/// every slot and the waiting producer never got in.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_waiting_producer_gets_the_next_free_slot() {
    let (tx, rx) = Queue::builder(1)
        .overflow(Overflow::Reject)
        .build()
        .unwrap();
    tx.try_send(0).unwrap();
    let waiter = {
        let tx = tx.clone();
        // `reserve` waits whatever the policy.
        tokio::spawn(async move {
            let permit = tx.reserve().await.unwrap();
            permit.send(100).unwrap();
        })
    };
    tokio::task::yield_now().await; // the waiter is now asleep
    let mut received = Vec::new();
    let mut refused = 0;
    for newcomer in 1..=10 {
        received.push(rx.recv().await.unwrap());
        // The slot just freed is promised to the waiter.
        match tx.try_send(newcomer) {
            Ok(_) => {}
            Err(TrySendError::Full(_)) => refused += 1,
            Err(err) => panic!("unexpected {err:?}"),
        }
        tokio::task::yield_now().await;
        if received.contains(&100) {
            break;
        }
    }
    assert_eq!(received, [0, 100], "the waiter was overtaken");
    assert_eq!(refused, 1);
    waiter.await.unwrap();
}

/// The same with a newcomer that waits (`send`) and runs before the woken
/// producer: it queues up behind it, and items arrive in the order the
/// producers started waiting. (Before the fix the newcomer took the slot
/// and the order was `[2, 1]`.)
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn newcomers_queue_behind_waiting_producers() {
    let (tx, rx) = bounded(1);
    tx.send(0).await.unwrap();
    let first = tokio::spawn({
        let tx = tx.clone();
        async move { tx.send(1).await.unwrap() }
    });
    tokio::task::yield_now().await; // `first` is asleep
    let go = Arc::new(AtomicBool::new(false));
    // A newcomer that sits in the run queue, ahead of `first`'s wake-up.
    let second = tokio::spawn({
        let (tx, go) = (tx.clone(), Arc::clone(&go));
        async move {
            while !go.load(Relaxed) {
                tokio::task::yield_now().await;
            }
            tx.send(2).await.unwrap();
        }
    });
    tokio::task::yield_now().await; // `second` is polling
    assert_eq!(rx.recv().await, Some(0)); // wakes `first`, queued behind `second`
    go.store(true, Relaxed);
    let mut order = Vec::new();
    for _ in 0..2 {
        order.push(rx.recv().await.unwrap());
    }
    assert_eq!(order, [1, 2]);
    first.await.unwrap();
    second.await.unwrap();
}
