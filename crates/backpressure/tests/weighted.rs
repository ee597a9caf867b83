//! Weighted capacity: admit by weight with a count backstop; too-heavy items fail fast.

use evenkeel_backpressure::{Queue, SendError, TrySendError};

fn weighted(
    capacity: usize,
    budget: u32,
) -> (
    evenkeel_backpressure::Sender<Vec<u8>>,
    evenkeel_backpressure::Receiver<Vec<u8>>,
) {
    Queue::builder(capacity)
        .weight_budget(budget, |v: &Vec<u8>| {
            u32::try_from(v.len()).unwrap_or(u32::MAX)
        })
        .build()
        .unwrap()
}

/// Weight binds before count: 3 items of 40 do not fit in a budget of 100
/// even with 10 slots; dequeuing gives the weight back.
#[tokio::test]
async fn weight_bounds_admission() {
    let (tx, rx) = weighted(10, 100);
    tx.try_send(vec![0; 40]).unwrap();
    tx.try_send(vec![0; 40]).unwrap();
    assert!(matches!(
        tx.try_send(vec![0; 40]),
        Err(TrySendError::Full(_))
    ));
    assert_eq!(tx.stats().weight, 80);
    rx.recv().await.unwrap();
    assert_eq!(tx.stats().weight, 40);
    tx.try_send(vec![0; 60]).unwrap();
}

/// Count still binds as a backstop for weightless items.
#[test]
fn count_is_a_backstop() {
    let (tx, _rx) = weighted(2, 1000);
    tx.try_send(Vec::new()).unwrap();
    tx.try_send(Vec::new()).unwrap();
    assert!(matches!(
        tx.try_send(Vec::new()),
        Err(TrySendError::Full(_))
    ));
}

/// An item heavier than the whole budget fails at once with `TooHeavy` and
/// the item, on every path, even when the queue is empty: it never waits
/// forever.
#[tokio::test]
async fn too_heavy_fails_fast() {
    let (tx, _rx) = weighted(4, 100);
    let err = tx.send(vec![1; 101]).await.unwrap_err();
    assert!(matches!(&err, SendError::TooHeavy(v) if v.len() == 101));
    assert!(matches!(
        tx.try_send(vec![1; 101]),
        Err(TrySendError::TooHeavy(_))
    ));
    assert!(matches!(
        tx.reserve_weight(101).await,
        Err(SendError::TooHeavy(()))
    ));
    let permit = tx.reserve().await.unwrap();
    assert!(matches!(
        permit.send(vec![1; 101]),
        Err(SendError::TooHeavy(_))
    ));
    assert_eq!(tx.stats().rejected, 4);
    assert_eq!(tx.stats().weight, 0);
    tx.try_send(vec![1; 100]).unwrap(); // exactly the budget fits
}

/// A heavy send waits for weight to free up and gets in when a receiver
/// dequeues enough.
#[tokio::test]
async fn heavy_send_waits_for_weight() {
    let (tx, rx) = weighted(10, 100);
    tx.send(vec![0; 70]).await.unwrap();
    let tx2 = tx.clone();
    let heavy = tokio::spawn(async move { tx2.send(vec![0; 50]).await });
    tokio::task::yield_now().await;
    assert!(!heavy.is_finished());
    rx.recv().await.unwrap();
    assert_eq!(heavy.await.unwrap().unwrap(), None);
    assert_eq!(rx.stats().weight, 50);
}

/// A weighted permit reserves weight up front; sending a lighter item gives
/// the difference back, and dropping it unsent gives everything back.
#[tokio::test]
async fn weighted_permits_settle_exactly() {
    let (tx, _rx) = weighted(10, 100);
    let permit = tx.reserve_weight(60).await.unwrap();
    assert!(matches!(
        tx.try_send(vec![0; 50]),
        Err(TrySendError::Full(_))
    ));
    permit.send(vec![0; 10]).unwrap();
    assert_eq!(tx.stats().weight, 10);
    let permit = tx.reserve_weight(90).await.unwrap();
    drop(permit);
    assert_eq!(tx.stats().weight, 10);
}
