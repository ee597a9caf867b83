//! Per-call overhead of each layer and of both presets against the bare
//! service and against tower's own timeout + load-shed + concurrency-limit
//! stack; and the rate limiter's check against governor's, in one run.
//!
//! Every service is driven the way axum and hyper drive one: clone the
//! stack, `poll_ready`, `call`, poll the response future (which completes
//! at once: the inner service answers immediately, so what is measured is
//! the layers' own cost). Timers need a runtime context, so the whole run
//! happens inside an entered current-thread tokio runtime (except the bare
//! limiter checks; see `rate_limiters`).
//!
//! Run: `cargo bench -p evenkeel-middleware --bench overhead`.
//!
//! # What profiling found (perf)
//!
//! - Rate-limit check: about half the time is the clock read (the CPU's
//!   counter through `quanta`, off current-thread runtimes), most of the rest
//!   the GCRA compare-and-swap. Checking in `poll_ready` and spending in
//!   `call` reads the clock twice; inside a runtime with tokio's `test-util`
//!   that clock is the pausable one, which is why the layer rows are slower
//!   than the bare check here.
//! - Server preset (`preset_server` against
//!   `tower_timeout_loadshed_concurrency`, `perf record` on this binary
//!   with `--profile-time`): the ready path is atomics. Per request the
//!   preset pays the service clone's `Arc` (tower's stack clones one too,
//!   its `PollSemaphore`), one clock reading (shared by the rate limiter
//!   and the timeout; tower reads one for its `Sleep`), the rate limiter's
//!   compare-and-swap, the bulkhead permit (an `Arc` clone and a
//!   compare-and-swap; its release takes tokio's semaphore lock: tower's
//!   concurrency limit pays exactly the same), and the drain guard
//!   (`evenkeel-shutdown`: an `Arc` clone and a counter, and both undone at
//!   release, about an eighth of the ready path). The last two rows have no
//!   counterpart in tower's stack, which neither rate-limits nor drains.
//!   On the pending path, tokio's timer wheel (registering and cancelling
//!   the `Sleep`: `reregister`, `clear_entry`, the waker) dominates both
//!   stacks equally: both register one timer, only when the response is
//!   not ready on its first poll (tower also builds its `Sleep`, a clock
//!   reading and a runtime handle, on every call).
//! - Changed after profiling: the total timeout keeps its start and
//!   computes the deadline only when a timer is armed (a ready response no
//!   longer pays the saturating addition), and the hold's non-generic
//!   paths are `#[inline]` (they were calls across the crate boundary);
//!   when readiness had to wait (a bulkhead wait, an inner service not
//!   ready), the timer it registered goes on with the response instead of
//!   a second registration (not exercised by these rows, where readiness
//!   never waits). About 4% off the ready path (fastest samples 171-172 ns
//!   before, 164-165 ns after, alternated), nothing measurable on the
//!   pending one. Moving the circuit breaker's call into `HoldBody`
//!   (issue 19) did not change either row.
//! - Measuring on a shared 2-core machine: criterion's mean for one row
//!   swings between runs (ratios from 0.9x to 2.1x for the same binary),
//!   while the fastest sample of a run is stable to about 2%. Fastest
//!   samples over three runs each: ready 164-166 ns against tower's
//!   116-118 ns (1.40-1.43x), pending 299-310 ns against 219-226 ns
//!   (1.37x).
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented `pub fn benches`"
)]

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::num::NonZeroU32;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use evenkeel_middleware::circuit_breaker::Breaker;
use evenkeel_middleware::preset::{ClientLayer, ServerLayer};
use evenkeel_middleware::rate_limit::RateLimiter;
use evenkeel_middleware::{
    AttemptTimeoutLayer, BulkheadLayer, CircuitBreakerLayer, DrainLayer, RateLimitLayer,
    RetryLayer, TimeoutLayer,
};
use evenkeel_retry::Backoff;
use evenkeel_shutdown::Shutdown;
use tower::{Layer, Service, ServiceBuilder};

/// The bare service: answers at once.
#[derive(Clone, Copy)]
struct Echo;

impl Service<u64> for Echo {
    type Response = u64;
    type Error = Infallible;
    type Future = Ready<Result<u64, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: u64) -> Self::Future {
        ready(Ok(req))
    }
}

/// A service whose response is pending on its first poll and ready on the
/// second, like any handler that does I/O: timers are armed on this path.
#[derive(Clone, Copy)]
struct YieldOnce;

/// The response future of [`YieldOnce`].
struct YieldFuture {
    value: u64,
    yielded: bool,
}

impl Future for YieldFuture {
    type Output = Result<u64, Infallible>;

    fn poll(mut self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        if std::mem::replace(&mut self.yielded, true) {
            Poll::Ready(Ok(self.value))
        } else {
            Poll::Pending
        }
    }
}

impl Service<u64> for YieldOnce {
    type Response = u64;
    type Error = Infallible;
    type Future = YieldFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, value: u64) -> YieldFuture {
        YieldFuture {
            value,
            yielded: false,
        }
    }
}

/// tower's own retry policy for the peer row: retries nothing (the bench's
/// calls all succeed) and clones the request, as any retry must be able to.
#[derive(Clone, Copy)]
struct NeverRetry;

impl<Res, E> tower::retry::Policy<u64, Res, E> for NeverRetry {
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut u64, _: &mut Result<Res, E>) -> Option<Self::Future> {
        None
    }

    fn clone_request(&mut self, req: &u64) -> Option<u64> {
        Some(*req)
    }
}

/// Clone, ready, call, and poll until done (at most twice), as a server
/// does per request.
fn one_call<S>(svc: &S, cx: &mut Context<'_>) -> bool
where
    S: Service<u64> + Clone,
{
    let mut svc = svc.clone();
    if svc.poll_ready(cx).is_pending() {
        return false;
    }
    let mut fut = pin!(svc.call(black_box(7)));
    if let Poll::Ready(out) = fut.as_mut().poll(cx) {
        return out.is_ok();
    }
    matches!(fut.poll(cx), Poll::Ready(Ok(_)))
}

fn bench_layer<S>(c: &mut Criterion, group: &str, name: &str, svc: &S)
where
    S: Service<u64> + Clone,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(
        one_call(svc, &mut cx),
        "{name} must answer on the first poll"
    );
    c.benchmark_group(group)
        .bench_function(name, |b| b.iter(|| one_call(svc, &mut cx)));
}

/// Every layer and stack over `inner`, in benchmark group `group`.
fn stacks<S>(c: &mut Criterion, group: &str, inner: S)
where
    S: Service<u64, Response = u64, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
    // The drain and the bulkhead hold their guard until the response is
    // complete; a plain number is complete on arrival.
    S::Response: evenkeel_middleware::ResponseHold<Held = S::Response>,
{
    let second = Duration::from_secs(1);
    let g = group;

    bench_layer(c, g, "bare", &inner);
    let admit_all = || RateLimiter::with_burst(1_000_000_000, second, u32::MAX);
    let rate_limit = RateLimitLayer::new(admit_all()).layer(inner.clone());
    bench_layer(c, g, "rate_limit", &rate_limit);
    bench_layer(
        c,
        g,
        "timeout_total",
        &TimeoutLayer::new(second).layer(inner.clone()),
    );
    let attempt = AttemptTimeoutLayer::new(second).layer(inner.clone());
    bench_layer(c, g, "timeout_attempt", &attempt);
    bench_layer(
        c,
        g,
        "bulkhead",
        &BulkheadLayer::new(1024).layer(inner.clone()),
    );
    let breaker =
        CircuitBreakerLayer::new(Breaker::builder().build().unwrap()).layer(inner.clone());
    bench_layer(c, g, "circuit_breaker", &breaker);
    let drain = DrainLayer::new(Shutdown::new()).layer(inner.clone());
    bench_layer(c, g, "drain", &drain);
    let backoff = Backoff::exponential(Duration::from_millis(10)).max_attempts(3);
    bench_layer(
        c,
        g,
        "retry",
        &RetryLayer::new(backoff).layer(inner.clone()),
    );
    bench_layer(
        c,
        g,
        "tower_retry",
        &tower::retry::RetryLayer::new(NeverRetry).layer(inner.clone()),
    );

    let server = ServerLayer::new(Shutdown::new())
        .rate_limit(admit_all())
        .timeout(second)
        .max_concurrency(1024);
    bench_layer(c, g, "preset_server", &server.layer(inner.clone()));
    bench_layer(
        c,
        g,
        "preset_client",
        &ClientLayer::new().layer(inner.clone()),
    );

    let tower_stack = ServiceBuilder::new()
        .timeout(second)
        .load_shed()
        .concurrency_limit(1024)
        .service(inner);
    bench_layer(c, g, "tower_timeout_loadshed_concurrency", &tower_stack);
}

fn layers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    // The response is ready at once: the layers' admission costs alone.
    stacks(c, "per_call_ready", Echo);
    // The response is pending once: timers are armed, as for real handlers.
    stacks(c, "per_call_pending", YieldOnce);
}

/// Outside a runtime context on purpose: the dev-dependencies turn on
/// tokio's `test-util`, under which `tokio::time::Instant::now()` inside a
/// runtime consults the pausable clock (a lock); outside one, and in any
/// build without `test-util`, it is `std::time::Instant::now()`, the clock
/// governor reads here too.
fn rate_limiters(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limit_check");

    // Admit path: a limit far above what the loop can reach.
    let ours = RateLimiter::with_burst(1_000_000_000, Duration::from_secs(1), u32::MAX);
    let quota = governor::Quota::per_second(NonZeroU32::new(1_000_000_000).unwrap())
        .allow_burst(NonZeroU32::MAX);
    let theirs = governor::RateLimiter::direct(quota);
    assert!(ours.check().is_ok() && theirs.check().is_ok());
    group.bench_function("evenkeel_admit", |b| {
        b.iter(|| black_box(ours.check()).is_ok());
    });
    group.bench_function("governor_admit", |b| {
        b.iter(|| black_box(theirs.check()).is_ok());
    });

    // Reject path: one per hour, already spent.
    let ours = RateLimiter::new(1, Duration::from_secs(3600));
    let theirs = governor::RateLimiter::direct(governor::Quota::per_hour(NonZeroU32::MIN));
    assert!(ours.check().is_ok() && theirs.check().is_ok());
    assert!(ours.check().is_err() && theirs.check().is_err());
    group.bench_function("evenkeel_reject", |b| {
        b.iter(|| black_box(ours.check()).is_err());
    });
    group.bench_function("governor_reject", |b| {
        b.iter(|| black_box(theirs.check()).is_err());
    });
    // What a layer needs on rejection is the retry-after: ours returns it
    // from the check; governor's `NotUntil` needs a second clock reading.
    let clock = governor::clock::DefaultClock::default();
    group.bench_function("governor_reject_with_retry_after", |b| {
        b.iter(|| match theirs.check() {
            Ok(()) => Duration::ZERO,
            Err(not_until) => {
                black_box(not_until.wait_time_from(governor::clock::Clock::now(&clock)))
            }
        });
    });
    group.finish();

    // The clocks themselves: the limiter reads tokio's (pausable in tests),
    // governor reads std's.
    let mut group = c.benchmark_group("clock");
    group.bench_function("tokio_instant_now", |b| b.iter(tokio::time::Instant::now));
    group.bench_function("std_instant_now", |b| b.iter(std::time::Instant::now));
    group.finish();
}

criterion_group!(benches, layers, rate_limiters);
criterion_main!(benches);
