//! What a `TaskGroup` costs over the tools it is built from.
//!
//! Each benchmark spawns a batch of trivial tasks and joins them all, so the
//! figure is dominated by spawn + join bookkeeping, the part this crate adds
//! to. Two comparisons, in the same run and on the same runtime:
//!
//! - `spawn_join/*`: `TaskGroup` (no limit) against a raw `JoinSet` and a
//!   `TaskTracker` (the target is within 1.3x of `JoinSet`);
//! - `limited/*`: `TaskGroup::with_limit(8)` against the `JoinSet` +
//!   `Semaphore` wrapper people write by hand.
//!
//! Run with `cargo bench -p evenkeel-tasks --bench group`. On a busy
//! machine, compare the figures of one run with each other, not with
//! another run's.
//!
//! # What profiling found
//!
//! - A group names every task (the name travels with its outcome) and keeps
//!   its stats; the rest is tokio's `JoinSet`, which it wraps. With a limit,
//!   waiting tasks sit in the group's queue in spawn order, where a
//!   semaphore acquire inside each task promises no order.

#![allow(missing_docs)] // `criterion_group!` generates an undocumented public fn.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use evenkeel_tasks::TaskGroup;
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::task::TaskTracker;

/// Tasks per batch.
const BATCH: u64 = 1_000;
/// The limit used by the `limited` group.
const LIMIT: usize = 8;

/// A current-thread runtime: it measures the bookkeeping itself, and is far
/// less disturbed than a multi-threaded one when other processes compete
/// for the cores (a shared CI machine).
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the benchmark runtime builds")
}

async fn joinset() -> u64 {
    let mut set = JoinSet::new();
    for i in 0..BATCH {
        set.spawn(async move { Ok::<u64, ()>(black_box(i)) });
    }
    let mut sum = 0;
    while let Some(Ok(Ok(v))) = set.join_next().await {
        sum += v;
    }
    sum
}

async fn tracker() -> u64 {
    let tracker = TaskTracker::new();
    for i in 0..BATCH {
        drop(tracker.spawn(async move { Ok::<u64, ()>(black_box(i)) }));
    }
    tracker.close();
    tracker.wait().await;
    BATCH
}

async fn group(limit: Option<usize>) -> u64 {
    let mut group = match limit {
        Some(n) => TaskGroup::<u64, ()>::with_limit(n),
        None => TaskGroup::<u64, ()>::new(),
    };
    for i in 0..BATCH {
        group.spawn("task", async move { Ok(black_box(i)) });
    }
    let mut sum = 0;
    while let Some(Ok(v)) = group.join_next().await {
        sum += v;
    }
    sum
}

async fn joinset_semaphore() -> u64 {
    let semaphore = Arc::new(Semaphore::new(LIMIT));
    let mut set = JoinSet::new();
    for i in 0..BATCH {
        let semaphore = Arc::clone(&semaphore);
        set.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            Ok::<u64, ()>(black_box(i))
        });
    }
    let mut sum = 0;
    while let Some(Ok(Ok(v))) = set.join_next().await {
        sum += v;
    }
    sum
}

fn spawn_join(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("spawn_join");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("joinset", |b| b.to_async(&rt).iter(joinset));
    g.bench_function("task_tracker", |b| b.to_async(&rt).iter(tracker));
    g.bench_function("task_group", |b| b.to_async(&rt).iter(|| group(None)));
    g.finish();
}

fn limited(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("limited");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("joinset_semaphore", |b| {
        b.to_async(&rt).iter(joinset_semaphore);
    });
    g.bench_function("task_group_limit", |b| {
        b.to_async(&rt).iter(|| group(Some(LIMIT)));
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = spawn_join, limited
}
criterion_main!(benches);
