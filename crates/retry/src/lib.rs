//! Retries and timeouts that never panic, never exceed their caps, and never
//! stampede.
//!
//! # The pattern
//!
//! A transient failure is worth another try, after a pause that grows with
//! each failure and is randomised so that many clients do not retry in
//! lockstep. Every limit (attempts, delay, total time, share of traffic spent
//! on retries) must hold, and the caller must be able to stop it.
//!
//! # The naive version and how it fails
//!
//! The textbook `retry_with_backoff` doubles a delay with no cap (a
//! `Duration` overflow panics after enough attempts), has no jitter (so
//! clients synchronise into waves), retries permanent errors too, and cannot
//! be cancelled by shutdown.
//!
//! # How this crate fixes it
//!
//! This crate will provide a `Backoff` schedule that is an
//! `Iterator<Item = Duration>` with caps applied after jitter, a retry runner
//! with a classifier, per-attempt timeouts, a deadline, cancellation and a
//! retry budget, and a `timeout` whose error keeps "it failed" apart from
//! "it took too long". The implementation lands with its own issue; this
//! crate is empty until then.
