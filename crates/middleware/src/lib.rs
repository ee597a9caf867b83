//! Tower middleware for resilience, with typed errors that become the right
//! HTTP response.
//!
//! # The pattern
//!
//! A service protects itself and its dependencies with a stack of layers:
//! rate limit at the door, a total timeout, a bulkhead that rejects when
//! full, a drain that refuses new requests once shutdown begins; and on the
//! client side, retries with a budget, a circuit breaker, and an attempt
//! timeout.
//!
//! # The naive version and how it fails
//!
//! tower's own layers queue instead of rejecting, erase every error into
//! `BoxError` so handlers recover them by downcast chains, do not share
//! rate-limit state between clones, and ship no retry policy or circuit
//! breaker.
//!
//! # How this crate fixes it
//!
//! This crate will provide those layers in tower's own shape (`Foo`,
//! `FooLayer`, `future::ResponseFuture`), one feature each, with one typed
//! error that knows its HTTP status and retry-after. The implementation
//! lands with its own issue; this crate is empty until then.
