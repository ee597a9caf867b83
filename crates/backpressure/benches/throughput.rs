//! Worker-pool throughput: this crate against the textbook pool, raw
//! `async-channel` and a single `tokio::sync::mpsc` consumer, in one run.
//!
//! Every contender moves the same items from one producer through a queue of
//! capacity 1024 to N workers (1, 4, 16), each doing a fixed amount of
//! CPU work per item (0, ~0.3 µs, ~3 µs, calibrated at start), on a 2-thread tokio runtime.
//! One iteration sends all items, closes the queue and waits for the workers
//! to finish, so the figure is end-to-end items per second.
//!
//! - `evenkeel`: [`WorkerPool`] over this crate's queue with its defaults
//!   (`Overflow::Wait`, queue-wait tracking on: two clock reads per item,
//!   from [`Clock::Auto`], which is the time-stamp counter on this
//!   multi-thread runtime).
//! - `evenkeel_tokio_clock`: the same reading tokio's clock
//!   ([`Clock::Tokio`], the OS clock here).
//! - `evenkeel_nowait`: the same with `track_wait(false)`.
//! - `textbook`: N tasks sharing `Arc<tokio::sync::Mutex<mpsc::Receiver>>`,
//!   the lock held across `recv().await`.
//! - `async_channel`: N tasks over a raw `async_channel::bounded(1024)`.
//! - `tokio_mpsc`: one consumer on `tokio::sync::mpsc::channel(1024)` (a
//!   single-consumer channel cannot have more), run at "1 worker" only.
//!
//! Under `cargo test --all-targets` criterion runs each routine once; the
//! item counts are then cut to a few hundred so the suite stays fast.
//!
//! # What profiling found (perf, 16 workers)
//!
//! - Per item, about 5-10 ns each: the two time-stamp reads for queue-wait
//!   statistics, the producer's fresh read of the striped `released` count
//!   when the queue looks full, the `SeqCst` fence before a push reads the
//!   receiver waiter count (needed: concurrent-queue's slot stamp is a
//!   Release store), and two relaxed adds for stats. `track_wait(false)`
//!   removes the first. None of the others could be dropped safely.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use evenkeel_backpressure::{Clock, Queue, Receiver, Sender, WorkerPool};
use tokio::runtime::Runtime;

const CAPACITY: usize = 1024;
const WORKERS: [usize; 3] = [1, 4, 16];

/// Work per item: label, about how long it takes, items per iteration when
/// benching.
const WORK: [(&str, Duration, u64); 3] = [
    ("work_0", Duration::ZERO, 100_000),
    ("work_0.3us", Duration::from_nanos(300), 40_000),
    ("work_3us", Duration::from_micros(3), 10_000),
];

/// A fixed amount of CPU work: `n` rounds of a dependent arithmetic chain.
///
/// Counted in rounds, not timed against the clock: on a shared machine a
/// worker thread that is descheduled mid-spin would otherwise "finish" its
/// work while not running at all, which flatters designs that run fewer
/// threads at once.
#[derive(Clone, Copy)]
struct Work(u64);

impl Work {
    /// Rounds that take about `d` on this machine: the fastest of several
    /// timed runs, so a run slowed by other load does not inflate it.
    #[must_use]
    fn calibrate(d: Duration) -> Self {
        const PROBE: u64 = 200_000;
        if d.is_zero() {
            return Self(0);
        }
        let fastest = (0..7)
            .map(|_| {
                let start = Instant::now();
                Self(PROBE).run();
                start.elapsed()
            })
            .min()
            .unwrap_or(Duration::from_millis(1));
        let per_round = fastest.as_secs_f64() / PROBE as f64;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rounds = (d.as_secs_f64() / per_round).round() as u64;
        Self(rounds.max(1))
    }

    /// Does the work.
    fn run(self) {
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..self.0 {
            x = black_box(x.rotate_left(5) ^ 0x2545_F491);
        }
        black_box(x);
    }
}

/// The runtime every contender runs on: multi-thread, 2 worker threads
/// (the benchmark machine has 2 cores).
///
/// # Panics
///
/// If the runtime cannot be built (no threads can be spawned).
#[must_use]
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("a bench needs a runtime") // invariant: plain runtime construction
}

/// Runs `fut` as a task on `rt` (so the producer, too, runs on the runtime
/// threads) and waits for it.
///
/// # Panics
///
/// If the task panics.
fn run<F: Future<Output = ()> + Send + 'static>(rt: &Runtime, fut: F) {
    rt.block_on(async { tokio::spawn(fut).await })
        .expect("bench task panicked"); // invariant: contenders do not panic
}

/// `true` when the bench binary was started by `cargo bench` (criterion
/// measures), `false` under `cargo test --all-targets` (each routine runs
/// once, so benches cut their item counts).
#[must_use]
fn benching() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// How a contender built on this crate tracks queue wait.
#[derive(Clone, Copy)]
enum Tracking {
    Default,
    TokioClock,
    Off,
}

async fn evenkeel(items: u64, workers: usize, work: Work, tracking: Tracking) {
    let (tx, rx) = queue(tracking);
    let pool = WorkerPool::spawn(rx, workers, move |i: u64| {
        work.run();
        black_box(i);
        std::future::ready(())
    })
    .expect("workers > 0"); // invariant: WORKERS holds no 0
    for i in 0..items {
        let _ = tx.send(i).await;
    }
    drop(tx);
    assert_eq!(pool.join().await.processed, items);
}

/// This crate's queue as a service would build it (built on the bench's
/// multi-thread runtime, so [`Clock::Auto`] picks the fast clock).
///
/// [`Clock::Tokio`] is the OS clock here as in a normal build: the crate's
/// tests turn on tokio's `test-util` feature, and Cargo turns it on for
/// benches too, but tokio takes its slower test path only once a test has
/// paused time. (Built without `test-util`, the paired ratios below came
/// out the same within the run-to-run spread.)
fn queue(tracking: Tracking) -> (Sender<u64>, Receiver<u64>) {
    let builder = Queue::builder(CAPACITY);
    let builder = match tracking {
        Tracking::Default => builder,
        Tracking::TokioClock => builder.clock(Clock::Tokio),
        Tracking::Off => builder.track_wait(false),
    };
    builder.build().expect("capacity > 0") // invariant: CAPACITY is 1024
}

async fn textbook(items: u64, workers: usize, work: Work) {
    let (tx, rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let rx = Arc::clone(&rx);
            tokio::spawn(async move {
                loop {
                    let Some(i) = rx.lock().await.recv().await else {
                        break;
                    };
                    work.run();
                    black_box(i);
                }
            })
        })
        .collect();
    for i in 0..items {
        let _ = tx.send(i).await;
    }
    drop(tx);
    for h in handles {
        let _ = h.await;
    }
}

async fn raw_async_channel(items: u64, workers: usize, work: Work) {
    let (tx, rx) = async_channel::bounded::<u64>(CAPACITY);
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let rx = rx.clone();
            tokio::spawn(async move {
                while let Ok(i) = rx.recv().await {
                    work.run();
                    black_box(i);
                }
            })
        })
        .collect();
    drop(rx);
    for i in 0..items {
        let _ = tx.send(i).await;
    }
    drop(tx);
    for h in handles {
        let _ = h.await;
    }
}

async fn tokio_mpsc(items: u64, work: Work) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
    let consumer = tokio::spawn(async move {
        while let Some(i) = rx.recv().await {
            work.run();
            black_box(i);
        }
    });
    for i in 0..items {
        let _ = tx.send(i).await;
    }
    drop(tx);
    let _ = consumer.await;
}

fn pools(c: &mut Criterion) {
    let benching = benching();
    let rt = runtime();
    for (label, per_item, bench_items) in WORK {
        let work = Work::calibrate(per_item);
        let items = if benching { bench_items } else { 200 };
        let mut group = c.benchmark_group(format!("pool/{label}"));
        group.throughput(Throughput::Elements(items));
        group.sample_size(10);
        for workers in WORKERS {
            for (name, tracking) in [
                ("evenkeel", Tracking::Default),
                ("evenkeel_tokio_clock", Tracking::TokioClock),
                ("evenkeel_nowait", Tracking::Off),
            ] {
                group.bench_with_input(BenchmarkId::new(name, workers), &workers, |b, &n| {
                    b.iter(|| run(&rt, evenkeel(items, n, work, tracking)));
                });
            }
            group.bench_with_input(
                BenchmarkId::new("async_channel", workers),
                &workers,
                |b, &n| {
                    b.iter(|| run(&rt, raw_async_channel(items, n, work)));
                },
            );
            group.bench_with_input(BenchmarkId::new("textbook", workers), &workers, |b, &n| {
                b.iter(|| run(&rt, textbook(items, n, work)));
            });
        }
        group.bench_function(BenchmarkId::new("tokio_mpsc", 1), |b| {
            b.iter(|| run(&rt, tokio_mpsc(items, work)));
        });
        group.finish();
    }
}

/// Rounds of the paired comparison, and runs of each contender per round.
const ROUNDS: usize = 15;
const RUNS_PER_ROUND: u32 = 3;

/// The paired comparison at 16 workers: on a shared VM whose speed drifts
/// by up to 2x over minutes, criterion's one-contender-after-another
/// figures can compare a fast minute with a slow one. Here each round runs
/// every contender back to back (rotating who goes first) and takes the
/// ratio within the round, so drift cancels; the medians of those ratios
/// are printed after criterion's report.
fn paired(rt: &Runtime, benching: bool) {
    let rounds = if benching { ROUNDS } else { 1 };
    println!(
        "\npaired rounds, 16 workers ({rounds} rounds, throughput ratios, median [min, max]):"
    );
    for (label, per_item, bench_items) in WORK {
        let work = Work::calibrate(per_item);
        let items = if benching { bench_items } else { 200 };
        let time = |contender: usize| {
            let start = Instant::now();
            for _ in 0..RUNS_PER_ROUND {
                match contender {
                    0 => run(rt, evenkeel(items, 16, work, Tracking::Default)),
                    1 => run(rt, raw_async_channel(items, 16, work)),
                    _ => run(rt, textbook(items, 16, work)),
                }
            }
            start.elapsed().as_secs_f64()
        };
        let mut vs_channel = Vec::with_capacity(rounds);
        let mut vs_textbook = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let mut secs = [0.0; 3];
            for k in 0..3 {
                let contender = (round + k) % 3;
                secs[contender] = time(contender);
            }
            // Same items each: the throughput ratio is the inverse time ratio.
            vs_channel.push(secs[1] / secs[0]);
            vs_textbook.push(secs[2] / secs[0]);
        }
        println!(
            "  {label}: evenkeel / async_channel {}, evenkeel / textbook {}",
            summary(&mut vs_channel),
            summary(&mut vs_textbook)
        );
    }
}

/// "median [min, max]" of `ratios`.
fn summary(ratios: &mut [f64]) -> String {
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    format!(
        "{median:.2}x [{:.2}, {:.2}]",
        ratios[0],
        ratios[ratios.len() - 1]
    )
}

criterion_group!(benches, pools);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    paired(&runtime(), benching());
}
