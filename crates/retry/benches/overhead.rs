//! What retrying costs when nothing goes wrong, and what each retry costs.
//!
//! Three contenders per case: a direct call (the floor), this crate's
//! `retry`, and backon's `Retryable::retry`, all on a current-thread tokio
//! runtime.
//!
//! - `first_attempt_success`: the operation succeeds at once; this is the
//!   overhead every call pays for being retryable.
//! - `ten_zero_delay_retries`: the operation fails ten times, then succeeds,
//!   with a zero delay; divide by ten for the per-retry cost.
//!
//! Run with `cargo bench -p evenkeel-retry --bench overhead`.
//!
//! # What profiling found (perf, first-attempt success)
//!
//! - About 40 % of the runner's time was `memmove`: copying the retry future
//!   (352 bytes), not the retry logic. `Backoff` was halved from 208 to 104
//!   bytes (durations as nanoseconds, the generator boxed and made lazily).
//! - In the tower layer, sharing the configuration through an `Arc` cost four
//!   atomic operations per request and measured 2x slower; a by-value copy
//!   replaced it. No clock read, allocation or seeding happens before the
//!   first failure.
//! - What is left is moving a ~200-byte future; tower's retry, which carries
//!   only its policy, stays several times cheaper (BENCHMARKS.md has the row).

#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented `pub fn benches`"
)]

use std::hint::black_box;
use std::time::Duration;

use backon::{ConstantBuilder, ExponentialBuilder, Retryable};
use criterion::{Criterion, criterion_group, criterion_main};
use evenkeel_retry::{Backoff, retry};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("bench setup: a current-thread runtime builds")
}

/// An operation that succeeds at once (a ready future, like a cache hit).
fn succeed(x: u64) -> std::future::Ready<Result<u64, &'static str>> {
    std::future::ready(Ok(black_box(x)))
}

fn first_attempt_success(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("first_attempt_success");
    group.bench_function("direct", |b| {
        b.to_async(&rt).iter(|| async { succeed(1).await });
    });
    group.bench_function("evenkeel", |b| {
        b.to_async(&rt).iter(|| async {
            retry(
                Backoff::exponential(Duration::from_millis(1)).max_attempts(3),
                || succeed(1),
            )
            .await
        });
    });
    group.bench_function("backon", |b| {
        b.to_async(&rt).iter(|| async {
            (|| succeed(1))
                .retry(
                    ExponentialBuilder::default()
                        .with_min_delay(Duration::from_millis(1))
                        .with_max_times(2),
                )
                .await
        });
    });
    group.finish();
}

/// Fails `failures` times, then succeeds.
fn flaky(failures: u32) -> impl FnMut() -> std::future::Ready<Result<u32, &'static str>> {
    let mut calls = 0;
    move || {
        calls += 1;
        std::future::ready(if calls > failures {
            Ok(calls)
        } else {
            Err("transient")
        })
    }
}

fn ten_zero_delay_retries(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("ten_zero_delay_retries");
    group.bench_function("evenkeel", |b| {
        b.to_async(&rt).iter(|| async {
            retry(
                Backoff::constant(Duration::ZERO).max_attempts(20),
                flaky(10),
            )
            .await
        });
    });
    group.bench_function("backon", |b| {
        b.to_async(&rt).iter(|| async {
            flaky(10)
                .retry(
                    ConstantBuilder::default()
                        .with_delay(Duration::ZERO)
                        .with_max_times(19),
                )
                .await
        });
    });
    // backon's zero delay goes through tokio's timer, which rounds every
    // sleep up to the next 1 ms tick; with a yielding sleeper instead, this
    // measures backon's own machinery, like evenkeel's timer-free zero delay.
    group.bench_function("backon_yield_sleeper", |b| {
        b.to_async(&rt).iter(|| async {
            flaky(10)
                .retry(
                    ConstantBuilder::default()
                        .with_delay(Duration::ZERO)
                        .with_max_times(19),
                )
                .sleep(|_| tokio::task::yield_now())
                .await
        });
    });
    group.finish();
}

criterion_group!(benches, first_attempt_success, ten_zero_delay_retries);
criterion_main!(benches);
