//! One-call stacks in the recommended order: [`ServerLayer`] and
//! [`ClientLayer`].
//!
//! **Server**: rate limit → total timeout → bulkhead → drain → your
//! service. Refuse excess rate first (cheapest, exact retry-after); bound
//! everything below by one deadline, waiting for a permit included; bound
//! concurrency; count only requests that will really run for the drain.
//!
//! **Client**: total timeout → retry (with a budget) → circuit breaker →
//! attempt timeout → transport. One deadline over all attempts and sleeps;
//! retries above the breaker, so an open circuit fails the call fast
//! instead of being retried; the breaker above the attempt timeout, so a
//! timed-out attempt counts as a failure.
//!
//! Both presets wrap the inner service's error once (as
//! [`WrapError`](crate::WrapError) does), so any error type works and the
//! whole stack fails with one [`Error<E>`](crate::Error), `E` being the
//! inner service's error. On an axum `Router`, put
//! [`ErrorResponseLayer`](crate::ErrorResponseLayer) (feature `axum`) in
//! front: `.layer((ErrorResponseLayer::new(), server))`.

#[cfg(all(feature = "retry", feature = "circuit-breaker", feature = "timeout"))]
mod client;
#[cfg(all(
    feature = "rate-limit",
    feature = "timeout",
    feature = "bulkhead",
    feature = "drain"
))]
mod server;
#[cfg(all(
    feature = "rate-limit",
    feature = "timeout",
    feature = "bulkhead",
    feature = "drain"
))]
mod server_service;

#[cfg(all(feature = "retry", feature = "circuit-breaker", feature = "timeout"))]
pub use client::{ClientLayer, ClientService};
#[cfg(all(
    feature = "rate-limit",
    feature = "timeout",
    feature = "bulkhead",
    feature = "drain"
))]
pub use server::ServerLayer;
#[cfg(all(
    feature = "rate-limit",
    feature = "timeout",
    feature = "bulkhead",
    feature = "drain"
))]
pub use server_service::{ServerFuture, ServerService};
