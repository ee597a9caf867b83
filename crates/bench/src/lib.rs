//! Shared pieces of the evenkeel benchmarks that live in this package.
//!
//! # Why a package of its own
//!
//! A crate's benches are built with its dev-dependencies, and the library
//! crates' tests need tokio's `test-util` feature (paused time). Cargo
//! turns that feature on for the benches too, so they would measure a tokio
//! build no service runs. That matters for the worker-pool throughput
//! comparison: on the 2-core benchmark VM, the same code measured about 8 %
//! faster for raw `async-channel` and about 5 % slower for evenkeel with
//! `test-util` compiled in (different inlining in tokio's scheduler, not
//! anything either queue does). This package depends on tokio without it.
//! Run a bench here on its own (`cargo bench -p evenkeel-bench`, or `cargo
//! xtask bench backpressure`): building it in the same Cargo invocation as
//! a library crate's tests (`--workspace`) unifies the features again.
//!
//! The benchmarks are in `benches/`, one file per crate measured.

use std::hint::black_box;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

/// A fixed amount of CPU work: `n` rounds of a dependent arithmetic chain.
///
/// Counted in rounds, not timed against the clock: on a shared machine a
/// worker thread that is descheduled mid-spin would otherwise "finish" its
/// work while not running at all, which flatters designs that run fewer
/// threads at once.
#[derive(Clone, Copy, Debug)]
pub struct Work(u64);

impl Work {
    /// Rounds that take about `d` on this machine: the fastest of several
    /// timed runs, so a run slowed by other load does not inflate it.
    #[must_use]
    pub fn calibrate(d: Duration) -> Self {
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
    pub fn run(self) {
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
pub fn runtime() -> Runtime {
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
pub fn run<F: Future<Output = ()> + Send + 'static>(rt: &Runtime, fut: F) {
    rt.block_on(async { tokio::spawn(fut).await })
        .expect("bench task panicked"); // invariant: contenders do not panic
}

/// `true` when the bench binary was started by `cargo bench` (criterion
/// measures), `false` under `cargo test --all-targets` (each routine runs
/// once, so benches cut their item counts).
#[must_use]
pub fn benching() -> bool {
    std::env::args().any(|a| a == "--bench")
}
