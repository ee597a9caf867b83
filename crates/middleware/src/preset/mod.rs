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
//! Both presets fail with one flat [`Error<E>`](crate::Error): the inner
//! service's error must be a [`LayerError`](crate::LayerError), so an
//! application error is wrapped once as `Error::Inner` and a stack of this
//! crate's layers under a preset passes its `Error<E>` through instead of
//! nesting it (`Error<Error<E>>`). For an error type without a
//! `LayerError` impl, put [`WrapErrorLayer`](crate::WrapErrorLayer) under
//! the preset. On an axum `Router`, put
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
