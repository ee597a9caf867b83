//! The evenkeel demo: a worker-pool job server that composes every evenkeel
//! crate.
//!
//! Clients post jobs over HTTP; a bounded queue admits them or answers 503
//! with `Retry-After`; supervised workers process them, calling a flaky
//! downstream through retries, timeouts and a circuit breaker; and a signal
//! starts a phased drain that finishes or spills every accepted job, so that
//! nothing accepted is lost. The server lands with its own issue; until then
//! `cargo xtask demo` says so and exits non-zero.

pub mod server;

pub mod downstream;
pub mod load;
pub mod story;
