//! `SendSink`: the sender as a `futures::Sink`. Backpressure through
//! `send_all`, every overflow policy, refused items handed back in the
//! error, and reserved slots given back when the sink goes.
#![cfg(feature = "sink")]

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use evenkeel_backpressure::{Overflow, Queue, SendError, SendSink, bounded};
use futures_util::future::poll_fn;
use futures_util::sink::Sink;
use futures_util::task::noop_waker_ref;
use futures_util::{SinkExt, StreamExt, stream};
use tokio::time::Instant;

/// Polls `poll_ready` once, without waiting.
fn ready_now<T: Send + 'static>(sink: &mut SendSink<T>) -> Poll<Result<(), SendError<T>>> {
    Pin::new(sink).poll_ready(&mut Context::from_waker(noop_waker_ref()))
}

/// `send_all` through a queue of 2 with a consumer taking one item every
/// 10 ms: the queue never holds more than 2, the stream is paced by the
/// consumer (the last item gets in when the consumer takes item 8, at
/// 80 ms), nothing is rejected, and every item arrives in order.
#[tokio::test(start_paused = true)]
async fn send_all_is_paced_by_a_slow_consumer() {
    let (tx, rx) = bounded::<u32>(2);
    let consumer = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(item) = {
            tokio::time::sleep(Duration::from_millis(10)).await;
            rx.recv().await
        } {
            got.push(item);
        }
        (got, rx.stats())
    });

    let start = Instant::now();
    let mut sink = tx.into_sink();
    sink.send_all(&mut stream::iter(0..10).map(Ok))
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(80));
    sink.close().await.unwrap();

    let (got, stats) = consumer.await.unwrap();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    assert_eq!(stats.high_water, 2);
    assert_eq!((stats.enqueued, stats.rejected), (10, 0));
}

/// While the queue is full, `poll_ready` is pending (that is the
/// backpressure), and it becomes ready once a receiver takes an item.
#[tokio::test]
async fn poll_ready_waits_for_room_on_a_waiting_queue() {
    let (tx, rx) = bounded::<u32>(1);
    tx.try_send(1).unwrap();
    let mut sink = tx.into_sink();
    assert!(ready_now(&mut sink).is_pending());
    assert!(!sink.is_reserved());
    assert_eq!(rx.try_recv().unwrap(), 1);
    poll_fn(|cx| Pin::new(&mut sink).poll_ready(cx))
        .await
        .unwrap();
    assert!(sink.is_reserved());
    Pin::new(&mut sink).start_send(2).unwrap();
    assert_eq!(rx.try_recv().unwrap(), 2);
}

/// Closing the queue while the sink waits for room wakes it, and the item
/// `send` was holding comes back inside `SendError::Closed`.
#[tokio::test]
async fn close_while_waiting_hands_the_item_back() {
    let (tx, rx) = bounded::<&str>(1);
    tx.try_send("queued").unwrap();
    let mut sink = tx.clone().into_sink();
    let sending = tokio::spawn(async move { sink.send("blocked").await });
    tokio::task::yield_now().await;
    assert!(!sending.is_finished(), "waits for room");
    rx.close();
    let err = sending.await.unwrap().unwrap_err();
    assert!(matches!(err, SendError::Closed("blocked")));
    assert_eq!(rx.drain(), ["queued"], "what was queued is still there");
}

/// Closing mid-stream: `send_all` stops with the item it was sending inside
/// `Closed`, and the items after it are still in the stream, untouched.
#[tokio::test]
async fn close_mid_stream_loses_nothing() {
    let (tx, rx) = bounded::<u32>(4);
    let mut sink = tx.into_sink();
    let mut items = stream::iter(1..=5).map(Ok);
    sink.feed(items.next().await.unwrap().unwrap())
        .await
        .unwrap();
    rx.close();
    let err = sink.send_all(&mut items).await.unwrap_err();
    assert!(matches!(err, SendError::Closed(2)));
    let rest: Vec<u32> = items.map(Result::unwrap).collect().await;
    assert_eq!(rest, [3, 4, 5]);
    assert_eq!(rx.drain(), [1]);
}

/// A slot reserved by `poll_ready` is held until used: plain sends find
/// the queue full. Dropping the sink gives it back.
#[tokio::test]
async fn dropping_the_sink_frees_its_reserved_slot() {
    let (tx, rx) = bounded::<u32>(1);
    let mut sink = tx.clone().into_sink();
    assert!(ready_now(&mut sink).is_ready());
    assert!(sink.is_reserved());
    assert!(
        tx.try_send(1).unwrap_err().into_inner() == 1,
        "the sink holds the slot"
    );
    drop(sink);
    tx.try_send(2).unwrap();
    assert_eq!(rx.try_recv().unwrap(), 2);
}

/// A sink dropped while it waits for a slot takes nothing: the slot freed
/// later goes to the next producer, and the count of free slots is whole.
#[tokio::test]
async fn dropping_a_waiting_sink_takes_no_slot() {
    let (tx, rx) = bounded::<u32>(2);
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    let mut sink = tx.clone().into_sink();
    assert!(ready_now(&mut sink).is_pending());
    drop(sink);
    assert_eq!((rx.try_recv().unwrap(), rx.try_recv().unwrap()), (1, 2));
    tx.try_send(3).unwrap();
    tx.try_send(4).unwrap();
    assert!(tx.try_send(5).is_err(), "exactly the capacity is free");
}

/// `poll_close` gives back a reserved slot and drops the sink's sender: the
/// last sender gone, the queue closes behind its items. Items sent after
/// that come back with `Closed`.
#[tokio::test]
async fn close_drops_the_sender() {
    let (tx, rx) = bounded::<u32>(2);
    let mut sink = tx.into_sink();
    sink.send(1).await.unwrap();
    assert!(ready_now(&mut sink).is_ready());
    sink.close().await.unwrap();
    assert!(sink.get_ref().is_none());
    assert_eq!(rx.recv().await, Some(1));
    assert_eq!(rx.recv().await, None, "closed behind the item");
    assert!(matches!(sink.send(2).await, Err(SendError::Closed(2))));
}

/// `Overflow::Reject`: on a full queue `poll_ready` does not wait, and the
/// item comes back inside `Full`, counted as rejected.
#[tokio::test]
async fn reject_hands_the_item_back() {
    let (tx, rx) = Queue::builder(1)
        .overflow(Overflow::Reject)
        .build()
        .unwrap();
    let mut sink = tx.into_sink();
    sink.send("first").await.unwrap();
    let err = sink.send("second").await.unwrap_err();
    assert!(matches!(err, SendError::Full("second")));
    assert_eq!(rx.stats().rejected, 1);
    assert_eq!(rx.drain(), ["first"]);
}

/// `Overflow::DropOldest`: sending into a full queue evicts the oldest
/// item, which the sink keeps for `take_evicted`; nothing is dropped.
#[tokio::test]
async fn drop_oldest_keeps_the_evicted_items() {
    let (tx, rx) = Queue::builder(2)
        .overflow(Overflow::DropOldest)
        .build()
        .unwrap();
    let mut sink = tx.into_sink();
    sink.send_all(&mut stream::iter(1..=5).map(Ok))
        .await
        .unwrap();
    assert_eq!(sink.take_evicted(), [1, 2, 3]);
    assert!(sink.take_evicted().is_empty());
    assert_eq!(rx.drain(), [4, 5]);
    assert_eq!(rx.stats().evicted, 3);
}

/// `Overflow::DropOldest` with every slot held by a permit: nothing is
/// queued to evict, so `poll_ready` waits, as `send` does.
#[tokio::test]
async fn drop_oldest_waits_when_nothing_is_evictable() {
    let (tx, rx) = Queue::builder(1)
        .overflow(Overflow::DropOldest)
        .build()
        .unwrap();
    let permit = tx.try_reserve().unwrap();
    let mut sink = tx.clone().into_sink();
    assert!(ready_now(&mut sink).is_pending());
    drop(permit);
    poll_fn(|cx| Pin::new(&mut sink).poll_ready(cx))
        .await
        .unwrap();
    assert!(sink.is_reserved());
    Pin::new(&mut sink).start_send(7).unwrap();
    assert!(sink.take_evicted().is_empty());
    assert_eq!(rx.drain(), [7]);
}

/// On a weighted waiting queue, `reserve_weight` makes `poll_ready` wait
/// for weight as well as a slot; the item's real weight is settled at send.
#[tokio::test]
async fn reserve_weight_waits_for_weight() {
    let (tx, rx) = Queue::builder::<Vec<u8>>(8)
        .weight_budget(100, |v| u32::try_from(v.len()).unwrap())
        .build()
        .unwrap();
    tx.try_send(vec![0; 80]).unwrap();
    let mut sink = tx.clone().into_sink().reserve_weight(50);
    assert!(ready_now(&mut sink).is_pending(), "50 units are not free");
    assert_eq!(rx.try_recv().unwrap().len(), 80);
    poll_fn(|cx| Pin::new(&mut sink).poll_ready(cx))
        .await
        .unwrap();
    assert_eq!(rx.stats().weight, 50);
    Pin::new(&mut sink).start_send(vec![0; 10]).unwrap();
    assert_eq!(rx.stats().weight, 10);
}

/// Without a reserved weight, an item whose weight is not free when it is
/// sent comes back inside `Full`: the sink does not hold it.
#[tokio::test]
async fn unreserved_weight_that_is_not_free_hands_the_item_back() {
    let (tx, rx) = Queue::builder::<Vec<u8>>(8)
        .weight_budget(100, |v| u32::try_from(v.len()).unwrap())
        .build()
        .unwrap();
    tx.try_send(vec![0; 80]).unwrap();
    let mut sink = tx.clone().into_sink();
    let err = sink.send(vec![1; 50]).await.unwrap_err();
    assert!(matches!(err, SendError::Full(ref item) if item == &[1; 50]));
    assert_eq!(rx.len(), 1);
    assert!(
        tx.try_send(vec![0; 20]).is_ok(),
        "the sink's slot came back"
    );
}

/// A cloned sink shares the queue but not the reservation.
#[tokio::test]
async fn clones_share_the_queue_not_the_slot() {
    let (tx, rx) = bounded::<u32>(2);
    let mut a = tx.into_sink();
    assert!(ready_now(&mut a).is_ready());
    let mut b = a.clone();
    assert!(a.is_reserved() && !b.is_reserved());
    b.send(2).await.unwrap();
    a.send(1).await.unwrap();
    assert_eq!(rx.drain(), [2, 1]);
}
