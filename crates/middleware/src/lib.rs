//! Tower middleware for resilience, with typed errors that become the right
//! HTTP response.
//!
//! # The problem
//!
//! A service has to protect itself from its callers and from its
//! dependencies: refuse what it cannot handle *quickly and informatively*
//! (429 or 503 with `Retry-After`, not a hung socket), bound how long any
//! request may take, stop taking new work when it shuts down, and on the
//! client side retry transient failures without amplifying an outage.
//! Polly and resilience4j ship that as one pipeline: rate limiter, total
//! timeout, retry, circuit breaker, bulkhead, attempt timeout.
//!
//! # The naive tower stack, and its walls
//!
//! ```text
//! ServiceBuilder::new()
//!     .layer(HandleErrorLayer::new(downcast_everything)) // errors are BoxError
//!     .buffer(1024)                                     // RateLimit is not Clone (tower#794)
//!     .rate_limit(100, Duration::from_secs(1))          // queues in poll_ready, never says "retry after"
//!     .timeout(Duration::from_secs(10))                 // does not cover poll_ready (tower#648)
//!     .load_shed()                                      // needed because...
//!     .concurrency_limit(64)                            // ...this queues forever (tower#793)
//! ```
//!
//! Each line is a workaround for the one below it, the client side has no
//! retry policy with backoff and budget (tower#682) and no circuit breaker
//! at all, and every rejection reaches the application as a `BoxError` to
//! be recovered by a chain of downcasts.
//!
//! # How this crate fixes it
//!
//! Each layer is tower-shaped (`Foo`, `FooLayer`, `foo::future::ResponseFuture`,
//! one cargo feature each) and follows three rules:
//!
//! - **Reject, don't queue.** A refusal is decided in `poll_ready` *before*
//!   the inner service is polled, so a refusing layer never holds an inner
//!   readiness slot it will not use (the trick of tower's `LoadShed`); the
//!   service reports ready and `call` resolves at once to a typed error.
//!   Nothing fails in `poll_ready`, so nothing poisons a stack.
//! - **Share state across clones.** Every clone of a layer or service draws
//!   on the same limiter, permits, breaker or shutdown, so the stack can be
//!   cloned per connection and per request (as axum and hyper do) with no
//!   `Buffer` in front.
//! - **One flat, typed error.** Every layer fails with [`Error<E>`]:
//!   `RateLimited`, `Overloaded`, `CircuitOpen`, `TimedOut`, `ShuttingDown`
//!   (each with the retry-after the caller needs), or `Inner(E)`, the
//!   application's own error, untouched. A layer over another layer passes
//!   its `Error<E>` through instead of nesting it (see [`LayerError`]), so a
//!   whole stack fails with one `Error<E>`. Under the `axum` feature it is
//!   an `IntoResponse` (429; 503 with `Retry-After`; 504), and
//!   [`ErrorResponseLayer`] makes the stack infallible for `Router::layer`.
//!
//! | layer | feature | refuses with |
//! |---|---|---|
//! | [`RateLimit`], [`KeyedRateLimit`]: GCRA, shared, exact retry-after | `rate-limit` | [`Error::RateLimited`] |
//! | [`Timeout`] (readiness + call), [`AttemptTimeout`] (call) | `timeout` | [`Error::TimedOut`] |
//! | [`Bulkhead`]: concurrency limit that rejects (optionally waits a bounded time) | `bulkhead` | [`Error::Overloaded`] |
//! | [`CircuitBreaker`]: count/time windows, failure and slow-call rates, half-open trials | `circuit-breaker` | [`Error::CircuitOpen`] |
//! | [`Drain`]: a shutdown guard per in-flight request | `drain` | [`Error::ShuttingDown`] |
//! | [`Retry`]: `evenkeel_retry::Backoff`, optional `RetryBudget`, retry-after aware [`retry::Policy`] | `retry` | (the last attempt's error) |
//!
//! [`preset::ServerLayer`] and [`preset::ClientLayer`] build each side's
//! whole stack in the recommended order in one call.
//!
//! # Example
//!
//! A server stack in the recommended order, on a plain `service_fn` (it
//! needs the default `full` feature set):
//!
#![cfg_attr(feature = "full", doc = "```")]
#![cfg_attr(not(feature = "full"), doc = "```ignore")]
//! use std::time::Duration;
//! use evenkeel_middleware::{BulkheadLayer, DrainLayer, Error, RateLimitLayer, TimeoutLayer};
//! use evenkeel_shutdown::Shutdown;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let shutdown = Shutdown::new();
//! let svc = ServiceBuilder::new()
//!     .layer(RateLimitLayer::per_second(100))              // 1. refuse excess rate first: cheapest
//!     .layer(TimeoutLayer::new(Duration::from_secs(10)))   // 2. bound everything below, waiting included
//!     .layer(BulkheadLayer::new(64))                       // 3. bound concurrency
//!     .layer(DrainLayer::new(shutdown.clone()))            // 4. count in-flight requests for the drain
//!     .service_fn(|name: String| async move { Ok::<_, std::io::Error>(format!("hello {name}")) });
//!
//! assert_eq!(svc.clone().oneshot("ada".into()).await.unwrap(), "hello ada");
//!
//! shutdown.drain(Duration::from_secs(30)).await;
//! match svc.oneshot("late".into()).await {
//!     Err(e @ Error::ShuttingDown { .. }) => assert_eq!(e.status().unwrap(), 503),
//!     other => panic!("expected a refusal, got {other:?}"),
//! }
//! # }
//! ```
//!
//! The same stack in one call is
//! `ServerLayer::new(shutdown).rate_limit(..).timeout(..).max_concurrency(..)`
//! (see [`preset`]); on an axum `Router`, add [`ErrorResponseLayer`] in
//! front: `.layer((ErrorResponseLayer::new(), server))`.
//!
//! # The recommended order
//!
//! Outermost first. **Server side**: rate limit → total timeout → bulkhead
//! → drain → handler. The rate limiter refuses first because refusing is
//! cheapest there and says exactly when to come back; the total timeout
//! then bounds everything below it, including waiting for a bulkhead
//! permit; the bulkhead bounds concurrency; the drain sits innermost so
//! only requests that will really run hold a shutdown guard.
//!
//! **Client side**: total timeout → retry (with a budget) → circuit breaker
//! → attempt timeout → transport. The total timeout bounds all attempts and
//! backoff sleeps together; the retry sits above the breaker so an open
//! circuit fails the whole call fast instead of being retried; the breaker
//! sits above the attempt timeout so a timed-out attempt counts as a
//! failure; the attempt timeout bounds each try.
//!
//! # Features
//!
//! `full` (default) enables every layer: `rate-limit`, `timeout`,
//! `bulkhead`, `circuit-breaker`, `retry` (depends on `evenkeel-retry`),
//! `drain` (depends on `evenkeel-shutdown`). `axum` adds `IntoResponse`
//! for [`Error`] and [`ErrorResponseLayer`] (with your own mapping through
//! [`ErrorResponseLayer::with_mapper`]). `tracing` emits the layers' events
//! (rate-limit rejections and table sweeps...) as `tracing` events, beside
//! the listeners each layer's builder takes (`on_event`).

mod admit;
pub mod error;
#[cfg(any(feature = "bulkhead", feature = "drain", feature = "circuit-breaker"))]
pub mod hold;
mod ready_call;
mod sync;
pub mod wrap;

#[cfg(feature = "axum")]
mod response;

#[cfg(feature = "bulkhead")]
pub mod bulkhead;
#[cfg(feature = "circuit-breaker")]
pub mod circuit_breaker;
#[cfg(feature = "drain")]
pub mod drain;
pub mod preset;
#[cfg(feature = "rate-limit")]
pub mod rate_limit;
#[cfg(feature = "retry")]
pub mod retry;
#[cfg(feature = "timeout")]
pub mod timeout;

pub use error::{Error, LayerError};
#[cfg(any(feature = "bulkhead", feature = "drain", feature = "circuit-breaker"))]
pub use hold::{Hold, HoldBody, ResponseHold};
pub use wrap::{WrapError, WrapErrorFuture, WrapErrorLayer};

#[cfg(feature = "axum")]
pub use response::{
    DefaultMapper, ErrorResponse, ErrorResponseFuture, ErrorResponseLayer, MapErrorResponse,
};

#[cfg(feature = "bulkhead")]
pub use bulkhead::{Bulkhead, BulkheadLayer};
#[cfg(feature = "circuit-breaker")]
pub use circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
#[cfg(feature = "drain")]
pub use drain::{Drain, DrainLayer};
#[cfg(feature = "rate-limit")]
pub use rate_limit::{KeyedRateLimit, KeyedRateLimitLayer, RateLimit, RateLimitLayer};
#[cfg(feature = "retry")]
pub use retry::{Retry, RetryLayer};
#[cfg(feature = "timeout")]
pub use timeout::{AttemptTimeout, AttemptTimeoutLayer, Timeout, TimeoutLayer};
