//! Lesson `middleware`: tower's `ConcurrencyLimit` and a bare client beside
//! `evenkeel-middleware`'s `RateLimit`, `Bulkhead` and `CircuitBreaker`.
//!
//! Part 1 overloads a server ten times over for a second; part 2 calls a
//! dependency that is down for three seconds.
//! Run it with `cargo xtask lesson middleware`.

use evenkeel_examples::middleware::{Outcome, Scenario, naive, with_evenkeel};

// The clock is tokio's paused clock: sleeps advance virtual time at once,
// so the lesson is instant and its numbers are exact.
#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let s = Scenario::default();
    println!("Lesson: middleware. Refuse fast and typed, instead of answering late.");
    println!("Clock: tokio's paused clock (times are virtual and exact).\n");

    let naive = naive(&s).await;
    let evenkeel = with_evenkeel(&s).await;

    println!(
        "1. {} requests at {}/s; the server takes {} at once for {:?} each ({}/s)",
        s.requests,
        s.arrivals_per_sec(),
        s.max_concurrency,
        s.handler_time,
        s.capacity_per_sec()
    );
    println!(
        "   naive:    tower's ConcurrencyLimit({})",
        s.max_concurrency
    );
    print_overload(&naive);
    println!(
        "   evenkeel: RateLimit({}/s) then Bulkhead({})",
        s.rate_per_sec, s.max_concurrency
    );
    print_overload(&evenkeel);

    println!(
        "\n2. A call every {:?}, {} calls; the dependency is down for {:?}, failing each call after {:?}",
        s.interarrival * 10,
        s.calls,
        s.outage,
        s.failure_time
    );
    println!("   naive:    no breaker (tower has none)");
    print_dependency(&naive);
    println!(
        "   evenkeel: CircuitBreaker (opens at 50% failures of the last 10 calls, {:?} open, then 1 trial)",
        s.open_duration
    );
    print_dependency(&evenkeel);

    println!(
        "\nWhy: ConcurrencyLimit makes excess callers wait in poll_ready for as long as it takes, so\n\
         under overload the queue and the wait grow together and nobody is told to back off; and\n\
         without a breaker every call waits for the dead dependency to fail. evenkeel's layers\n\
         decide in poll_ready and answer in call at once, with a typed Error (RateLimited,\n\
         Overloaded, CircuitOpen) that carries the retry-after and maps to 429/503."
    );
    println!(
        "\nExercise: in examples/src/middleware.rs, set `open_duration` to 100 ms in\n\
         `Scenario::default` and run the lesson again. Expect the breaker to let a trial call through\n\
         ten times as often during the outage, so more calls wait out the dead dependency's 500 ms,\n\
         and to close sooner after it recovers: the open duration trades wasted calls for recovery time."
    );
}

fn print_overload(o: &Outcome) {
    let l = &o.overload;
    println!(
        "      served {}, refused {} as rate limited (429) and {} as overloaded (503), longest retry-after hint {}",
        l.served,
        l.rate_limited,
        l.overloaded,
        l.max_retry_after
            .map_or_else(|| "(none)".to_string(), |d| format!("{d:?}"))
    );
    println!(
        "      longest wait before the handler {:?}, up to {} requests waiting at once",
        l.max_wait_before_handler, l.max_waiting
    );
    println!(
        "      slowest answer {:?}, {} answers slower than 1 s",
        l.slowest_answer, l.answered_after_1s
    );
}

fn print_dependency(o: &Outcome) {
    let d = &o.dependency;
    println!(
        "      {} calls reached the dependency; {} succeeded, {} failed after waiting, {} failed fast",
        d.reached_dependency, d.succeeded, d.failed_slowly, d.failed_fast
    );
    println!(
        "      callers spent {:?} in all waiting for failures",
        d.time_waiting_for_failures
    );
}
