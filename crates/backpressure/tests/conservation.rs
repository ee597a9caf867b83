//! Conservation as a property: every item sent is received, handed back, or
//! returned as evicted, exactly once, whatever the interleaving and policy.

use std::sync::{Arc, Mutex};

use evenkeel_backpressure::{Overflow, Permit, Queue, SendError};
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
    Yield,
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
        2 => Just(Op::Yield),
    ]
}

fn overflow() -> impl Strategy<Value = Overflow> {
    prop_oneof![
        Just(Overflow::Wait),
        Just(Overflow::Reject),
        Just(Overflow::DropOldest),
        Just(Overflow::DropNewest),
    ]
}

/// Where each item ended up.
#[derive(Default)]
struct Ledger {
    received: Vec<u32>,
    handed_back: Vec<u32>,
    evicted: Vec<u32>,
    /// Refusals under `DropNewest` (counted as dropped by the queue).
    dropped_newest: u64,
}

impl Ledger {
    fn settle(&mut self, overflow: Overflow, result: Result<Option<u32>, SendError<u32>>) {
        match result {
            Ok(None) => {}
            Ok(Some(old)) => self.evicted.push(old),
            Err(err) => {
                if overflow == Overflow::DropNewest && matches!(err, SendError::Full(_)) {
                    self.dropped_newest += 1;
                }
                self.handed_back.push(err.into_inner());
            }
        }
    }
}

async fn run(capacity: usize, overflow: Overflow, ops: Vec<Op>) {
    let (tx, rx) = Queue::builder(capacity).overflow(overflow).build().unwrap();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
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
                    ledger.lock().unwrap().settle(overflow, result);
                }));
            }
            Op::TrySend => {
                let result = tx.try_send(next_id).map_err(SendError::from);
                next_id += 1;
                ledger.lock().unwrap().settle(overflow, result);
            }
            Op::Recv => {
                if let Ok(item) = rx.try_recv() {
                    ledger.lock().unwrap().received.push(item);
                }
            }
            Op::RecvMany(limit) => {
                if !rx.is_empty() {
                    let mut buf = Vec::new();
                    rx.recv_many(&mut buf, limit).await;
                    ledger.lock().unwrap().received.extend(buf);
                }
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
                    ledger.lock().unwrap().settle(overflow, result);
                }
            }
            Op::PermitDrop => drop(permits.pop()),
            Op::Close => {
                tx.close();
            }
            Op::Yield => tokio::task::yield_now().await,
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
    let mut all: Vec<u32> = ledger
        .received
        .iter()
        .chain(&ledger.handed_back)
        .chain(&ledger.evicted)
        .copied()
        .collect();
    all.sort_unstable();
    let expected: Vec<u32> = (0..next_id).collect();
    assert_eq!(all, expected, "every item accounted for exactly once");

    let s = rx.stats();
    assert_eq!(s.len, 0);
    assert_eq!(s.enqueued, s.dequeued + s.evicted);
    assert_eq!(s.dequeued, ledger.received.len() as u64);
    assert_eq!(s.evicted, ledger.evicted.len() as u64);
    assert_eq!(s.dropped, s.evicted + ledger.dropped_newest);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// sent = received + handed back + evicted (the counted drops), exactly
    /// once each, for every policy and random interleaving of send,
    /// try_send, recv, recv_many, reserve/permit and close; the capacity is
    /// never exceeded and the stats agree with the ledger.
    #[test]
    fn every_item_is_accounted_for(
        capacity in 1usize..5,
        overflow in overflow(),
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(run(capacity, overflow, ops));
    }
}
