//! Closing and draining: intake stops, queued items survive, blocked producers get their items back.

use evenkeel_backpressure::{SendError, TryRecvError, TrySendError, bounded};

/// Closing from the receiver side wakes every producer blocked on a full
/// queue with `Closed` and its own item; queued items stay receivable.
#[tokio::test]
async fn close_wakes_blocked_producers_with_their_items() {
    let (tx, rx) = bounded(1);
    tx.send(0).await.unwrap();
    let blocked: Vec<_> = (1..=3)
        .map(|i| {
            let tx = tx.clone();
            tokio::spawn(async move { tx.send(i).await })
        })
        .collect();
    tokio::task::yield_now().await;
    assert!(rx.close());
    let mut back = Vec::new();
    for task in blocked {
        match task.await.unwrap() {
            Err(SendError::Closed(item)) => back.push(item),
            other => panic!("expected Closed, got {other:?}"),
        }
    }
    back.sort_unstable();
    assert_eq!(back, [1, 2, 3]);
    assert_eq!(rx.recv().await, Some(0));
    assert_eq!(rx.recv().await, None);
}

/// Closing from the sender side also wakes blocked reservations, and a
/// permit reserved before the close hands its item back on send.
#[tokio::test]
async fn close_fails_reservations_and_late_permits() {
    let (tx, rx) = bounded::<&str>(1);
    let permit = tx.reserve().await.unwrap();
    let tx2 = tx.clone();
    let waiting = tokio::spawn(async move { tx2.reserve().await.map(drop) });
    tokio::task::yield_now().await;
    assert!(tx.close());
    assert!(matches!(waiting.await.unwrap(), Err(SendError::Closed(()))));
    assert!(matches!(
        permit.send("late"),
        Err(SendError::Closed("late"))
    ));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

/// `drain` closes the queue and returns every queued item in order; after
/// it, sends hand the item back and receivers see the end.
#[tokio::test]
async fn drain_returns_everything_queued() {
    let (tx, rx) = bounded(8);
    for i in 0..5 {
        tx.send(i).await.unwrap();
    }
    assert_eq!(rx.recv().await, Some(0));
    assert_eq!(rx.drain(), [1, 2, 3, 4]);
    assert!(matches!(tx.try_send(9), Err(TrySendError::Closed(9))));
    assert_eq!(rx.recv().await, None);
    let s = rx.stats();
    assert_eq!((s.enqueued, s.dequeued, s.len), (5, 5, 0));
}

/// Dropping the last sender closes the queue: receivers get what is queued,
/// then `None`. Dropping one of several senders does not.
#[tokio::test]
async fn last_sender_drop_closes() {
    let (tx, rx) = bounded(4);
    let tx2 = tx.clone();
    tx.send(1).await.unwrap();
    drop(tx);
    assert!(!rx.is_closed());
    drop(tx2);
    assert!(rx.is_closed());
    assert_eq!(rx.recv().await, Some(1));
    assert_eq!(rx.recv().await, None);
}

/// Dropping the last receiver closes the queue, so producers are not left
/// waiting for room that will never come.
#[tokio::test]
async fn last_receiver_drop_wakes_producers() {
    let (tx, rx) = bounded(1);
    tx.send(1).await.unwrap();
    let tx2 = tx.clone();
    let blocked = tokio::spawn(async move { tx2.send(2).await });
    tokio::task::yield_now().await;
    let rx2 = rx.clone();
    drop(rx);
    tokio::task::yield_now().await;
    assert!(!blocked.is_finished());
    drop(rx2);
    assert!(matches!(blocked.await.unwrap(), Err(SendError::Closed(2))));
}
