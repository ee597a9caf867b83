//! Pins the `middleware` lesson: tower's `ConcurrencyLimit` queues an
//! overload for seconds and a client without a breaker sends every call to
//! a dead dependency; evenkeel's `RateLimit` + `Bulkhead` refuse at once
//! with typed errors, and its `CircuitBreaker` fails calls fast.

use std::time::Duration;

use evenkeel_examples::middleware::{Scenario, naive, with_evenkeel};

/// `ConcurrencyLimit` never refuses: under a 10x overload it serves all
/// 1,000 requests, but the last one waits 8.91 s for its handler, 900
/// requests wait at once, and 890 answers take longer than a second.
#[tokio::test(start_paused = true)]
async fn naive_concurrency_limit_queues_the_overload() {
    let o = naive(&Scenario::default()).await.overload;
    assert_eq!(
        (o.requests, o.served, o.rate_limited, o.overloaded),
        (1_000, 1_000, 0, 0)
    );
    assert_eq!(o.max_retry_after, None);
    assert_eq!(o.max_wait_before_handler, Duration::from_millis(8_910));
    assert_eq!(o.max_waiting, 900);
    assert_eq!(o.answered_after_1s, 890);
}

/// `RateLimit` + `Bulkhead` answer every request at once: each is served
/// or refused with a typed error carrying a retry-after; no request waits
/// for its handler, the slowest answer is the handler's own time, and the
/// handler still works at full capacity (10 at once for the whole second).
#[tokio::test(start_paused = true)]
async fn evenkeel_layers_refuse_at_once() {
    let s = Scenario::default();
    let o = with_evenkeel(&s).await.overload;
    assert_eq!(o.served + o.rate_limited + o.overloaded, o.requests);
    assert!(o.rate_limited > 0 && o.overloaded > 0, "{o:?}");
    assert_eq!(
        o.max_retry_after,
        Some(s.handler_time),
        "the bulkhead's hint is the longest"
    );
    assert_eq!(o.max_wait_before_handler, Duration::ZERO);
    assert!(o.max_waiting <= 1, "{o:?}");
    assert_eq!(o.slowest_answer, s.handler_time);
    assert_eq!(o.answered_after_1s, 0);
    assert_eq!(o.served, 100);
}

/// Without a breaker, every call reaches the dead dependency and every
/// caller during the outage waits for its failure.
#[tokio::test(start_paused = true)]
async fn naive_client_keeps_calling_a_dead_dependency() {
    let d = naive(&Scenario::default()).await.dependency;
    assert_eq!(d.reached_dependency, 500);
    assert_eq!((d.succeeded, d.failed_slowly, d.failed_fast), (200, 300, 0));
    assert_eq!(d.time_waiting_for_failures, Duration::from_secs(150));
}

/// The breaker opens after the first failures and fails calls fast: under
/// a quarter as many calls reach the dead dependency and wait for its
/// failure, and once the dependency is back a trial call closes
/// the breaker again (calls succeed after the outage).
#[tokio::test(start_paused = true)]
async fn evenkeel_breaker_sheds_calls_to_a_dead_dependency() {
    let s = Scenario::default();
    let naive = naive(&s).await.dependency;
    let d = with_evenkeel(&s).await.dependency;
    assert_eq!(d.succeeded + d.failed_slowly + d.failed_fast, d.calls);
    assert!(d.failed_fast > 0, "{d:?}");
    assert!(d.reached_dependency < naive.reached_dependency, "{d:?}");
    assert!(d.failed_slowly * 4 < naive.failed_slowly, "{d:?}");
    assert!(
        d.time_waiting_for_failures * 4 < naive.time_waiting_for_failures,
        "{d:?}"
    );
    assert!(
        d.succeeded + 100 >= naive.succeeded,
        "the breaker closed again: {d:?}"
    );
}
