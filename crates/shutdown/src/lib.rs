//! Coordinated graceful shutdown for tokio services.
//!
//! # The pattern
//!
//! A service that is asked to stop should stop taking new work, finish the
//! work it already accepted, and exit within a deadline, with an exit code
//! that says why it stopped.
//!
//! # The naive version and how it fails
//!
//! The textbook version is a `watch::channel(false)` plus a `select!` on
//! `changed()` in every worker. It has three traps:
//!
//! - a receiver subscribed after the send never sees the change and waits
//!   forever;
//! - `select!` picks at random between a ready work item and the shutdown
//!   branch, so queued work is abandoned;
//! - `tokio::signal::ctrl_c()` catches only SIGINT, while Docker and
//!   Kubernetes send SIGTERM and then SIGKILL after a grace period.
//!
//! # How this crate fixes it
//!
//! This crate will provide a cloneable `Shutdown` handle whose trigger is
//! observed by handles made before or after it, drain guards that keep the
//! drain open while accepted work finishes, a drain with a deadline that
//! reports what was still outstanding, a signal listener for binaries that
//! escalates on a second signal, and a `Reason` that maps to a conventional
//! exit code. The implementation lands with its own issue; this crate is
//! empty until then.
