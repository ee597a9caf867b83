//! Conservation as a property: every item sent is received, handed back, or
//! returned as evicted, exactly once, whatever the interleaving and policy.

use std::sync::{Arc, Mutex};

use std::time::Duration;

use evenkeel_backpressure::{Codel, Overflow, Permit, Queue, SendError};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Op {
    /// `send` in its own task (it may wait for room).
    Send,
    TrySend,
    Recv,
    RecvMany(usize),
    Reserve,
    PermitSend,
    PermitDrop,
    Close,
    /// `drain` mid-run (closes, takes what is queued).
    Drain,
    /// `send_timeout` in its own task.
    SendTimeout(u64),
    Yield,
    /// Moves the paused clock (lets queue-delay shedding kick in).
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Send),
        4 => Just(Op::TrySend),
        4 => Just(Op::Recv),
        1 => (1usize..4).prop_map(Op::RecvMany),
        1 => Just(Op::Reserve),
        1 => Just(Op::PermitSend),
        1 => Just(Op::PermitDrop),
        1 => Just(Op::Close),
        1 => Just(Op::Drain),
        2 => (1u64..50).prop_map(Op::SendTimeout),
        2 => Just(Op::Yield),
        1 => (1u64..150).prop_map(Op::Advance),
    ]
}

/// Every overflow policy: each generated case runs under all of them.
const POLICIES: [Overflow; 3] = [Overflow::Wait, Overflow::Reject, Overflow::DropOldest];

/// Where each item ended up.
#[derive(Default)]
struct Ledger {
    received: Vec<u32>,
    handed_back: Vec<u32>,
    evicted: Vec<u32>,
    /// Items handed to the queue-delay shed callback.
    shed: Vec<u32>,
}

impl Ledger {
    fn settle(&mut self, result: Result<Option<u32>, SendError<u32>>) {
        match result {
            Ok(None) => {}
            Ok(Some(old)) => self.evicted.push(old),
            Err(err) => self.handed_back.push(err.into_inner()),
        }
    }
}

async fn run(capacity: usize, overflow: Overflow, codel: bool, ops: Vec<Op>) {
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut builder = Queue::builder(capacity).overflow(overflow);
    if codel {
        let sink = Arc::clone(&ledger);
        builder = builder.codel(Codel::default(), move |item| {
            sink.lock().unwrap().shed.push(item);
        });
    }
    let (tx, rx) = builder.build().unwrap();
    let mut next_id = 0u32;
    let mut tasks = Vec::new();
    let mut permits: Vec<Permit<u32>> = Vec::new();
    for op in ops {
        match op {
            Op::Send => {
                let (tx, ledger, id) = (tx.clone(), Arc::clone(&ledger), next_id);
                next_id += 1;
                tasks.push(tokio::spawn(async move {
                    let result = tx.send(id).await;
                    ledger.lock().unwrap().settle(result);
                }));
            }
            Op::TrySend => {
                let result = tx.try_send(next_id).map_err(SendError::from);
                next_id += 1;
                ledger.lock().unwrap().settle(result);
            }
            Op::Recv => {
                if let Ok(item) = rx.try_recv() {
                    ledger.lock().unwrap().received.push(item);
                }
            }
            Op::RecvMany(limit) => {
                // `recv_many` may wait (e.g. if shedding takes the only
                // item); it is cancel-safe, so racing it against a yield
                // loses nothing.
                let mut buf = Vec::new();
                tokio::select! {
                    biased;
                    _ = rx.recv_many(&mut buf, limit) => {}
                    () = tokio::task::yield_now() => {}
                }
                ledger.lock().unwrap().received.extend(buf);
            }
            Op::Reserve => {
                if let Ok(permit) = tx.try_reserve() {
                    permits.push(permit);
                }
            }
            Op::PermitSend => {
                if let Some(permit) = permits.pop() {
                    let result = permit.send(next_id).map(|()| None);
                    next_id += 1;
                    ledger.lock().unwrap().settle(result);
                }
            }
            Op::PermitDrop => drop(permits.pop()),
            Op::Close => {
                tx.close();
            }
            Op::Drain => {
                let drained = rx.drain();
                ledger.lock().unwrap().received.extend(drained);
            }
            Op::SendTimeout(ms) => {
                let (tx, ledger, id) = (tx.clone(), Arc::clone(&ledger), next_id);
                next_id += 1;
                tasks.push(tokio::spawn(async move {
                    let result = tx.send_timeout(id, Duration::from_millis(ms)).await;
                    ledger.lock().unwrap().settle(result);
                }));
            }
            Op::Yield => tokio::task::yield_now().await,
            Op::Advance(ms) => tokio::time::advance(Duration::from_millis(ms)).await,
        }
        assert!(rx.len() <= capacity, "capacity exceeded");
        let s = rx.stats();
        assert!(s.high_water <= capacity);
    }
    drop(permits);
    let rest = rx.drain();
    ledger.lock().unwrap().received.extend(rest);
    for task in tasks {
        task.await.unwrap();
    }
    // Items a woken sender pushed before the close landed are still queued.
    let rest = rx.drain();

    let mut ledger = ledger.lock().unwrap();
    ledger.received.extend(rest);
    settle_up(&ledger, &rx.stats(), next_id);
}

/// Checks the ledger against the ids handed out and the queue's counters.
fn settle_up(ledger: &Ledger, s: &evenkeel_backpressure::Stats, next_id: u32) {
    let mut all: Vec<u32> = ledger
        .received
        .iter()
        .chain(&ledger.handed_back)
        .chain(&ledger.evicted)
        .chain(&ledger.shed)
        .copied()
        .collect();
    all.sort_unstable();
    let expected: Vec<u32> = (0..next_id).collect();
    assert_eq!(all, expected, "every item accounted for exactly once");

    assert_eq!(s.len, 0);
    assert_eq!(s.enqueued, s.dequeued + s.evicted + s.shed);
    assert_eq!(s.shed, ledger.shed.len() as u64);
    assert_eq!(s.dequeued, ledger.received.len() as u64);
    assert_eq!(s.evicted, ledger.evicted.len() as u64);
    assert_eq!(s.dropped, s.evicted);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// sent = received + handed back + evicted + shed (the counted drops),
    /// exactly once each, under every overflow policy (each case runs under
    /// all of them), with and without queue-delay shedding, over random
    /// interleavings of send, send_timeout, try_send, recv, recv_many,
    /// reserve/permit, close, drain and clock advances; the capacity is
    /// never exceeded and the stats agree with the ledger.
    #[test]
    fn every_item_is_accounted_for(
        capacity in 1usize..5,
        codel in any::<bool>(),
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        for overflow in POLICIES {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap()
                .block_on(run(capacity, overflow, codel, ops.clone()));
        }
    }
}
