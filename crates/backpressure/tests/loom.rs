//! Model checks (loom) of the queue's lock-free core: the split-counter slot
//! count (take, give, close), the wake-up signal for producers and
//! receivers, and the permit/close rules, through the public API.
//!
//! Built only with `RUSTFLAGS="--cfg loom"`: the crate then takes its
//! atomics, `Arc` and `Mutex` from loom (`src/sync.rs`), and
//! `concurrent-queue`'s ring is modelled too, so each model explores the
//! interleavings of the code that ships. A task that sleeps with no wake-up
//! on its way leaves loom with no runnable thread, which it reports as a
//! deadlock: that is how a lost wake-up fails these models.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p evenkeel-backpressure --release --test loom
//! ```
//!
//! Without `LOOM_MAX_PREEMPTIONS` loom explores every interleaving (slow:
//! see the README). Models stay small (two or three threads, capacity 1 or
//! 2) so the bounded run takes a minute or two.
#![cfg(loom)]

use loom::future::block_on;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;

use evenkeel_backpressure::{Overflow, Queue, Receiver, Sender, TrySendError};

/// Runs `f` under loom, allowing for the branches a model with the ring,
/// two signals and their mutexes takes per execution. With `BP_LOOM_TRACE`
/// set it runs through `loom::model` instead, which prints the failing
/// execution when `LOOM_LOG=trace` is set too.
fn model(f: impl Fn() + Sync + Send + 'static) {
    if std::env::var_os("BP_LOOM_TRACE").is_some() {
        return loom::model(f);
    }
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 10_000;
    builder.check(f);
}

/// A queue with no clock reads (loom models no time).
fn queue(capacity: usize, overflow: Overflow) -> (Sender<u32>, Receiver<u32>) {
    Queue::builder(capacity)
        .overflow(overflow)
        .track_wait(false)
        .build()
        .expect("a valid queue")
}

/// Asserts that `got` holds each of `want` exactly once.
fn assert_once(mut got: Vec<u32>, mut want: Vec<u32>) {
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "every item accounted for exactly once");
}

/// A `try_send` into a queue that is never full while it runs is admitted,
/// whatever producers and consumers do meanwhile: the slot count never
/// reports `Full` from a stale snapshot (the producer's `admitted` read
/// before other producers admitted and consumers released past it).
#[test]
fn try_send_is_never_refused_by_a_stale_count() {
    model(|| {
        let (tx, rx) = queue(2, Overflow::Reject);
        tx.try_send(0).unwrap();
        tx.try_send(1).unwrap();
        // One in use, and the producers' copy of `released` is stale.
        assert_eq!(rx.try_recv(), Ok(0));

        let tx2 = tx.clone();
        let rx2 = rx.clone();
        let consumer = thread::spawn(move || {
            // In use stays at or below 1 here, so with the other
            // producer's item at or below 2: this send fits too.
            let first = rx2.try_recv().unwrap();
            tx2.try_send(20).unwrap();
            let second = rx2.try_recv().unwrap();
            vec![first, second]
        });
        // Never more than one other item in the queue: there is room.
        let mine = tx.try_send(10);
        assert!(mine.is_ok(), "refused into a queue with room: {mine:?}");
        let mut got = consumer.join().unwrap();
        got.extend(rx.drain());
        assert_once(got, vec![1, 10, 20]);
    });
}

/// Never more than `capacity` slots are held at once, however takes
/// (`try_reserve`) and gives (dropping the permit) interleave on several
/// threads; and every slot comes back.
#[test]
fn never_more_than_capacity_admitted() {
    model(|| {
        let (tx, rx) = queue(1, Overflow::Reject);
        let held = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (tx, held) = (tx.clone(), Arc::clone(&held));
                thread::spawn(move || {
                    for _ in 0..2 {
                        if let Ok(permit) = tx.try_reserve() {
                            let before = held.fetch_add(1, SeqCst);
                            assert_eq!(before, 0, "two slots held in a queue of one");
                            held.fetch_sub(1, SeqCst);
                            drop(permit);
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        // Every slot was given back: the one slot is free again.
        assert!(tx.try_send(7).is_ok());
        assert_eq!(rx.try_recv(), Ok(7));
    });
}

/// A receiver waiting for an item is woken by the push (no lost wake-up),
/// for each of two items, whether it is asleep, about to sleep or about to
/// re-check when the push lands.
///
/// One receiver thread: with two, loom's scheduler can spin the two
/// receivers on the ring's cell lock forever while the pusher holds it (a
/// schedule no real scheduler keeps up), and the model never ends.
#[test]
fn waiting_receiver_is_woken() {
    model(|| {
        let (tx, rx) = queue(1, Overflow::Wait);
        let receiver = thread::spawn(move || {
            let first = block_on(rx.recv()).expect("an item, not the close");
            let second = block_on(rx.recv()).expect("an item, not the close");
            vec![first, second]
        });
        block_on(tx.send(1)).unwrap();
        block_on(tx.send(2)).unwrap();
        assert_eq!(receiver.join().unwrap(), vec![1, 2]);
    });
}

/// Producers waiting for room are woken as slots free up (no lost
/// wake-up, even with one wake-up in flight at a time and the hand-on
/// from a woken producer), and every item arrives.
#[test]
fn waiting_producers_are_woken() {
    model(|| {
        let (tx, rx) = queue(1, Overflow::Wait);
        tx.try_send(0).unwrap();
        let producers: Vec<_> = [1, 2]
            .into_iter()
            .map(|item| {
                let tx = tx.clone();
                thread::spawn(move || block_on(tx.send(item)).unwrap())
            })
            .collect();
        let got = (0..3)
            .map(|_| block_on(rx.recv()).expect("an item"))
            .collect();
        for producer in producers {
            producer.join().unwrap();
        }
        assert_once(got, vec![0, 1, 2]);
    });
}

/// Slots freed in a burst reach every waiting producer: with one wake-up
/// in flight at a time, the producer woken first hands a wake-up on, so the
/// second is not left asleep beside a free slot (the consumer frees both
/// slots, then waits for both producers before it receives again).
#[test]
fn a_burst_of_freed_slots_wakes_every_waiting_producer() {
    model(|| {
        let (tx, rx) = queue(2, Overflow::Wait);
        tx.try_send(0).unwrap();
        tx.try_send(1).unwrap();
        let producers: Vec<_> = [2, 3]
            .into_iter()
            .map(|item| {
                let tx = tx.clone();
                thread::spawn(move || block_on(tx.send(item)).unwrap())
            })
            .collect();
        let mut got = vec![rx.try_recv().unwrap(), rx.try_recv().unwrap()];
        for producer in producers {
            producer.join().unwrap();
        }
        got.extend(rx.drain());
        assert_once(got, vec![0, 1, 2, 3]);
    });
}

/// A close racing a waiting send and a waiting receive: the send either
/// lands (and is received or drained) or comes back with its item, the
/// receiver ends with `None` after what was queued, and nobody sleeps
/// through the close.
#[test]
fn close_racing_send_and_recv_conserves_items() {
    model(|| {
        let (tx, rx) = queue(1, Overflow::Wait);
        tx.try_send(0).unwrap();
        let tx2 = tx.clone();
        let producer = thread::spawn(move || match block_on(tx2.send(1)) {
            Ok(None) => None,
            Err(err) if err.is_closed() => Some(err.into_inner()),
            Ok(Some(_)) | Err(_) => panic!("unexpected outcome"),
        });
        let rx2 = rx.clone();
        let consumer = thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(item) = block_on(rx2.recv()) {
                got.push(item);
            }
            got
        });
        tx.close();
        let mut all: Vec<u32> = producer.join().unwrap().into_iter().collect();
        all.extend(consumer.join().unwrap());
        all.extend(rx.drain());
        assert_once(all, vec![0, 1]);
    });
}

/// `drain` racing a receiver and a sender: each item goes to exactly one
/// place (received, drained, or handed back to the sender).
#[test]
fn drain_racing_recv_and_send_conserves_items() {
    model(|| {
        let (tx, rx) = queue(2, Overflow::Reject);
        tx.try_send(0).unwrap();
        let rx2 = rx.clone();
        let consumer = thread::spawn(move || rx2.try_recv().ok());
        let producer = thread::spawn(move || match tx.try_send(1) {
            Ok(_) => None,
            Err(TrySendError::Closed(item)) => Some(item),
            Err(err) => panic!("unexpected {err:?}"),
        });
        let mut all = rx.drain();
        all.extend(consumer.join().unwrap());
        all.extend(producer.join().unwrap());
        // A push that landed after the drain's sweep is still queued.
        all.extend(rx.drain());
        assert_once(all, vec![0, 1]);
    });
}

/// A permit reserved before the last sender drops keeps the queue open for
/// its one item: the receiver gets the item, then the close.
#[test]
fn permit_outlives_the_last_sender() {
    model(|| {
        let (tx, rx) = queue(1, Overflow::Wait);
        let permit = tx.try_reserve().unwrap();
        let sender = thread::spawn(move || {
            drop(tx);
            permit.send(5).unwrap();
        });
        assert_eq!(block_on(rx.recv()), Some(5));
        assert_eq!(block_on(rx.recv()), None);
        sender.join().unwrap();
    });
}
