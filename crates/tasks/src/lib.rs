//! Structured concurrency for tokio: every spawned task is accounted for.
//!
//! # The pattern
//!
//! A task spawned with `tokio::spawn` and forgotten can outlive the request
//! that started it, panic where no one looks, or run unbounded in number.
//! Structured concurrency ties tasks to a group that owns them: the group
//! limits how many run, cancels the rest when one fails, turns panics into
//! errors that carry the task's name, and does not let a task escape when
//! the group is dropped. A supervisor restarts the long-lived ones.
//!
//! # The naive version and how it fails
//!
//! `JoinSet` has no concurrency limit and its `join_all` panics when a task
//! was cancelled; `TaskTracker` does not cancel on drop and its `close()`
//! does not stop new spawns; neither restarts a failed task, and task names
//! need `tokio_unstable`.
//!
//! # How this crate fixes it
//!
//! This crate will provide a named, limited `TaskGroup` with try-semantics
//! and panic capture, and a `Supervisor` with OTP restart policies and
//! strategies. The implementation lands with its own issue; this crate is
//! empty until then.
