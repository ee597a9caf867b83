//! Cancellation safety: dropped `recv`/`reserve` futures lose nothing, a dropped `send` leaks no slot.

use evenkeel_backpressure::bounded;
use std::time::Duration;

/// A `recv` that loses a `select!` race takes no item: the item sent later
/// is received by the next `recv`.
#[tokio::test(start_paused = true)]
async fn recv_in_select_loses_nothing() {
    let (tx, rx) = bounded(4);
    for round in 0..10 {
        tokio::select! {
            item = rx.recv() => panic!("nothing was sent yet, got {item:?}"),
            () = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
        tx.send(round).await.unwrap();
        assert_eq!(rx.recv().await, Some(round));
    }
    assert_eq!(rx.stats().dequeued, 10);
}

/// A wake-up delivered to a `recv` that is then dropped is passed on: a
/// second receiver still gets the item.
#[tokio::test]
async fn dropped_recv_passes_the_item_on() {
    let (tx, rx) = bounded(4);
    let rx2 = rx.clone();
    let mut first = Box::pin(rx.recv());
    // Register `first` as the first waiter, then a second receiver behind it.
    assert!(futures_poll_once(first.as_mut()).await.is_none());
    let waiting = tokio::spawn(async move { rx2.recv().await });
    tokio::task::yield_now().await;
    // The send wakes `first`, which is dropped without being polled again.
    tx.send(7).await.unwrap();
    drop(first);
    assert_eq!(waiting.await.unwrap(), Some(7));
}

/// A `send` that loses a `select!` race while waiting for room drops its
/// item (documented, as tokio's mpsc) but never its slot: capacity is intact
/// and nothing half-sent appears in the queue.
#[tokio::test(start_paused = true)]
async fn dropped_send_leaks_no_slot() {
    let (tx, rx) = bounded(1);
    tx.send(0).await.unwrap();
    tokio::select! {
        res = tx.send(1) => panic!("queue is full, got {res:?}"),
        () = tokio::time::sleep(Duration::from_millis(1)) => {}
    }
    assert_eq!(rx.recv().await, Some(0));
    assert!(rx.is_empty());
    tx.try_send(2).unwrap();
    assert_eq!(tx.stats().enqueued, 2);
}

/// The cancel-free way to send in a `select!`: race `reserve` (which owns
/// no item), and send through the permit only when it wins. The item stays
/// with the caller either way.
#[tokio::test(start_paused = true)]
async fn reserve_in_select_keeps_the_item() {
    let (tx, rx) = bounded(1);
    tx.send("first").await.unwrap();
    let item = "second";
    tokio::select! {
        permit = tx.reserve() => permit.unwrap().send(item).unwrap(),
        () = tokio::time::sleep(Duration::from_millis(1)) => {}
    }
    assert_eq!(rx.len(), 1);
    assert_eq!(rx.recv().await, Some("first"));
    tx.reserve().await.unwrap().send(item).unwrap();
    assert_eq!(rx.recv().await, Some("second"));
}

/// Polls a future once and returns its output if it was ready.
async fn futures_poll_once<F: Future + Unpin>(fut: F) -> Option<F::Output> {
    let mut fut = fut;
    std::future::poll_fn(|cx| match std::pin::Pin::new(&mut fut).poll(cx) {
        std::task::Poll::Ready(out) => std::task::Poll::Ready(Some(out)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}
