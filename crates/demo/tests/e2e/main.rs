//! End-to-end tests of `evenkeel-demo serve`: the real binary, on an
//! ephemeral port, driven over HTTP, stopped with real signals.
//!
//! Each test starts its own server process with scaled-down settings (a
//! few workers, a small queue, work measured in tens of milliseconds,
//! drain deadlines of a second or two), so the whole file runs in seconds.
//! See `harness` for how the tests wait without sleeping.

mod api;
mod crash;
mod downstream;
mod harness;
mod jobs;
mod overflow;
mod restore;
mod shutdown;
mod store_failure;
