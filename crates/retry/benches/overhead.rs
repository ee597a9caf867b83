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
//! Profiled with `perf record -g` on the bench binary, filter
//! `first_attempt_success/evenkeel` (and the tower layer's row in
//! evenkeel-middleware's `overhead` bench, which copies a `Backoff` into
//! every request).
//!
//! - Before: 28 % of the runner's samples were in `Backoff::exponential`
//!   and `Backoff::max_attempts`, called out of line (no `#[inline]` on
//!   small non-generic functions of another crate), each writing a
//!   104-byte `Backoff` through memory and stalling on store forwarding;
//!   then the 248-byte retry future was copied into the caller's future.
//!   The retry logic itself (a few branches in `poll`) was about 5 %.
//! - Fixed: the builders are `#[inline]`, so the schedule is built in place
//!   in the caller's future; the default classifier and notifier are
//!   zero-sized function items instead of `fn` pointers (16 bytes and two
//!   indirect calls fewer); `Backoff` keeps only its configuration inline
//!   (56 bytes of plain integers plus one pointer: 64 bytes instead of
//!   104) and boxes its progress and generator at the first delay, so
//!   nothing is allocated, seeded or read from the clock before the first
//!   failure. The small settings are packed into integers: a `bool` or
//!   enum niche in the middle of the block made LLVM copy an `Option` of the
//!   layer's configuration around that byte with overlapping unaligned
//!   moves, and those loads stalled (a third of the layer's `call` samples).
//! - Sizes (64-bit; `tests/footprint.rs` pins the first two): `Backoff`
//!   104 -> 64 bytes; this bench's retry future 248 -> 192 bytes (backon's
//!   is 256); evenkeel-middleware's `Retry` service over a zero-sized inner
//!   service 136 -> 96 bytes and its response future 192 -> 160 bytes.
//! - After: the runner's remaining samples are its `poll` (about 14 %) and
//!   the future's drop (4 %); the rest is the bench loop and criterion.
//!   backon's profile, same run: its `poll` 34 %, `memmove` of its future
//!   24 %, building its exponential backoff 14 %.
//! - Measured (`-- --warm-up-time 1 --measurement-time 2`, the binaries of
//!   before and after run interleaved, three rounds, load average 4-6):
//!   before 38.7 / 39.1 / 56.3 ns against backon's 36.2 / 36.0 / 52.6 ns
//!   (1.07x, 1.09x, 1.07x); after 23.6 / 18.4 / 32.7 ns against backon's
//!   51.7 / 53.6 / 72.4 ns (0.46x, 0.34x, 0.45x). backon's own figure moved
//!   between the two binaries although its code did not (code placement;
//!   only ratios within one run mean anything).
//! - The tower layer (evenkeel-middleware) went from 26.9 / 39.8 / 38.9 ns
//!   to 22.1 / 25.5 / 38.4 ns in the same rounds; tower's retry, which
//!   carries only a zero-sized policy in that bench, compiles to almost
//!   nothing (0.3 to 1.4 ns, depending on the binary's code placement).
//!   What is left there is the layer's own copy of its configuration into
//!   each request's future, in evenkeel-middleware.

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
