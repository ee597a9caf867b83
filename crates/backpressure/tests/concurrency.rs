//! Concurrency: on a multi-thread runtime, no item lost or duplicated, no
//! lost wake-up, capacity held; under paused time, bursts of wake-ups reach
//! every waiter.

use std::time::Duration;

use evenkeel_backpressure::{Overflow, Queue, bounded};
use tokio::task::JoinHandle;

const PRODUCERS: u32 = 4;
const PER_PRODUCER: u32 = 2_000;

/// Every id the producers send when each sends `per_producer`, sorted.
fn ids(per_producer: u32) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..PRODUCERS)
        .flat_map(|p| (0..per_producer).map(move |i| p * 100_000 + i))
        .collect();
    ids.sort_unstable();
    ids
}

fn expected() -> Vec<u32> {
    ids(PER_PRODUCER)
}

/// Waits for every task and returns all the ids they collected, sorted.
async fn gather(tasks: Vec<JoinHandle<Vec<u32>>>) -> Vec<u32> {
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    all
}

/// Many producers and consumers through a queue of capacity 2: every item
/// arrives exactly once, the capacity is never exceeded, and everyone
/// finishes (a lost wake-up in the admission counter would hang here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_producers_many_consumers() {
    let (tx, rx) = bounded(2);
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let rx = rx.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(id) = rx.recv().await {
                    assert!(rx.len() <= 2);
                    got.push(id);
                }
                got
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..PER_PRODUCER {
                    tx.send(p * 100_000 + i).await.unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for p in producers {
        p.await.unwrap();
    }
    assert_eq!(gather(consumers).await, expected());
    let s = rx.stats();
    assert!(s.high_water <= 2);
    assert_eq!(s.enqueued, u64::from(PRODUCERS * PER_PRODUCER));
}

/// Producers that keep cancelling their wait for a slot (a `reserve` losing
/// a `select!` to a yield, then retrying) do not swallow the wake-ups meant
/// for the others: every item still gets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_waiters_pass_wake_ups_on() {
    let (tx, rx) = bounded(1);
    let consumer = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(id) = rx.recv().await {
            got.push(id);
        }
        got
    });
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..PER_PRODUCER / 4 {
                    loop {
                        tokio::select! {
                            permit = tx.reserve() => {
                                permit.unwrap().send(p * 100_000 + i).unwrap();
                                break;
                            }
                            () = tokio::task::yield_now() => {}
                        }
                    }
                }
            })
        })
        .collect();
    drop(tx);
    for p in producers {
        p.await.unwrap();
    }
    let got = consumer.await.unwrap();
    assert_eq!(got.len(), (PRODUCERS * PER_PRODUCER / 4) as usize);
}

/// Receivers that keep cancelling their wait for an item (a `recv` losing
/// a `select!` to a yield, then retrying), among more receivers than
/// items in flight: the wake-ups counted as in flight for them are not
/// lost when they are cancelled, so every item is received exactly once
/// and every task finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_receivers_pass_wake_ups_on() {
    let (tx, rx) = bounded(4);
    let consumers: Vec<_> = (0..8)
        .map(|_| {
            let rx = rx.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    tokio::select! {
                        item = rx.recv() => match item {
                            Some(id) => got.push(id),
                            None => break,
                        },
                        () = tokio::task::yield_now() => {}
                    }
                }
                got
            })
        })
        .collect();
    drop(rx);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..PER_PRODUCER / 4 {
                    tx.send(p * 100_000 + i).await.unwrap();
                    if i % 16 == 0 {
                        // Let the queue run dry now and then, so receivers
                        // go to sleep and must be woken.
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    drop(tx);
    for p in producers {
        p.await.unwrap();
    }
    assert_eq!(gather(consumers).await, ids(PER_PRODUCER / 4));
}

/// `DropOldest` under contention: producers evicting concurrently with
/// consumers receiving. Each item is received or handed back as evicted,
/// exactly once, and the stats agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_oldest_under_contention() {
    let (tx, rx) = Queue::builder(4)
        .overflow(Overflow::DropOldest)
        .build()
        .unwrap();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let rx = rx.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(id) = rx.recv().await {
                    got.push(id);
                }
                got
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut evicted = Vec::new();
                for i in 0..PER_PRODUCER {
                    if let Some(old) = tx.send(p * 100_000 + i).await.unwrap() {
                        evicted.push(old);
                    }
                }
                evicted
            })
        })
        .collect();
    drop(tx);
    let mut all = Vec::new();
    let mut evicted = 0u64;
    for p in producers {
        let back = p.await.unwrap();
        evicted += back.len() as u64;
        all.extend(back);
    }
    all.extend(gather(consumers).await);
    all.sort_unstable();
    assert_eq!(all, expected());
    let s = rx.stats();
    assert_eq!(s.evicted, evicted);
    assert_eq!(s.enqueued, s.dequeued + s.evicted);
}

/// Slots freed in a burst reach every blocked producer. Wake-ups to
/// producers coalesce (one on its way at a time), so this checks the
/// hand-on: four slots freed with no yield in between still let all four
/// waiting sends through. Under paused time a lost wake-up would let the
/// timeout fire instead of hanging the test.
#[tokio::test(start_paused = true)]
async fn a_burst_of_freed_slots_wakes_every_blocked_producer() {
    let (tx, rx) = bounded(4);
    for i in 0..4 {
        tx.send(i).await.unwrap();
    }
    let blocked: Vec<_> = (4..8)
        .map(|i| {
            let tx = tx.clone();
            tokio::spawn(async move { tx.send(i).await.unwrap() })
        })
        .collect();
    tokio::task::yield_now().await; // let them all find the queue full
    assert_eq!(tx.len(), 4);
    let first: Vec<u32> = (0..4).map(|_| rx.try_recv().unwrap()).collect();
    assert_eq!(first, [0, 1, 2, 3]);
    let all_sent = async {
        for task in blocked {
            task.await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(1), all_sent)
        .await
        .expect("every blocked producer was woken");
    let mut rest: Vec<u32> = (0..4).map(|_| rx.try_recv().unwrap()).collect();
    rest.sort_unstable();
    assert_eq!(rest, [4, 5, 6, 7]);
}

/// The same for receivers: items pushed in a burst reach every receiver
/// that was waiting (receiver wake-ups are not limited to one in flight,
/// so several wake at once, but every one must wake).
#[tokio::test(start_paused = true)]
async fn a_burst_of_items_wakes_every_waiting_receiver() {
    let (tx, rx) = bounded(8);
    let waiting: Vec<_> = (0..4)
        .map(|_| {
            let rx = rx.clone();
            tokio::spawn(async move { rx.recv().await.unwrap() })
        })
        .collect();
    tokio::task::yield_now().await; // let them all find the queue empty
    for i in 0..4 {
        tx.try_send(i).unwrap();
    }
    let all_received = async {
        let mut got = Vec::new();
        for task in waiting {
            got.push(task.await.unwrap());
        }
        got.sort_unstable();
        got
    };
    let got = tokio::time::timeout(Duration::from_secs(1), all_received)
        .await
        .expect("every waiting receiver was woken");
    assert_eq!(got, [0, 1, 2, 3]);
}
