//! `RecvStream`: the receiver as a `futures::Stream`.

use std::time::Duration;

use evenkeel_backpressure::{Codel, Queue, bounded};
use futures_util::StreamExt;

/// The stream yields every item in order, waiting for items that are not
/// there yet, and ends after the close once the queue is empty.
#[tokio::test(start_paused = true)]
async fn yields_items_in_order_then_ends() {
    let (tx, rx) = bounded(2);
    let producer = tokio::spawn(async move {
        for i in 0..10u32 {
            tx.send(i).await.unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let got: Vec<u32> = rx.into_stream().collect().await;
    producer.await.unwrap();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
}

/// A stream dropped while it waits loses nothing: the next consumer gets
/// the item, and a wait raced against a timeout is cancel-safe.
#[tokio::test(start_paused = true)]
async fn a_dropped_wait_loses_nothing() {
    let (tx, rx) = bounded(2);
    let mut stream = rx.clone().into_stream();
    let timed_out = tokio::time::timeout(Duration::from_millis(5), stream.next()).await;
    assert!(timed_out.is_err());
    drop(stream);
    tx.send(7).await.unwrap();
    let mut stream = rx.into_stream();
    assert_eq!(stream.next().await, Some(7));
    assert!(!futures_core::FusedStream::is_terminated(&stream));
    drop(tx);
    assert_eq!(stream.next().await, None);
    assert!(futures_core::FusedStream::is_terminated(&stream));
    assert_eq!(stream.next().await, None);
}

/// Two streams over one queue compete: each item is yielded exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn competing_streams_yield_each_item_once() {
    let (tx, rx) = bounded(4);
    let a = tokio::spawn(rx.clone().into_stream().collect::<Vec<u32>>());
    let b = tokio::spawn(rx.into_stream().collect::<Vec<u32>>());
    for i in 0..200 {
        tx.send(i).await.unwrap();
    }
    drop(tx);
    let mut all = a.await.unwrap();
    all.extend(b.await.unwrap());
    all.sort_unstable();
    assert_eq!(all, (0..200).collect::<Vec<_>>());
}

/// Queue-delay shedding applies to the stream as to `recv`: an item that
/// waited past the interval is handed to the shed callback, not yielded.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn shedding_applies_to_the_stream() {
    let shed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&shed);
    let (tx, rx) = Queue::builder(8)
        .codel(Codel::default(), move |item| {
            sink.lock().unwrap().push(item);
        })
        .build()
        .unwrap();
    let mut stream = rx.into_stream();
    for i in 0..4u32 {
        tx.send(i).await.unwrap();
    }
    // A standing queue: everything waits far past the target and interval.
    tokio::time::advance(Duration::from_millis(500)).await;
    drop(tx);
    let mut yielded = Vec::new();
    while let Some(item) = stream.next().await {
        yielded.push(item);
    }
    let shed = shed.lock().unwrap().clone();
    assert!(!shed.is_empty(), "nothing was shed");
    let mut all: Vec<u32> = yielded.iter().chain(&shed).copied().collect();
    all.sort_unstable();
    assert_eq!(all, [0, 1, 2, 3]);
}
