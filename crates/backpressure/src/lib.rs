//! Bounded work queues that push back instead of running out of memory.
//!
//! # The pattern
//!
//! A service that accepts work faster than it can do it must say "not now"
//! at the door, not buffer without bound and fall over later. A bounded
//! queue between intake and workers turns overload into an explicit,
//! observable decision: wait, reject, or drop, and always tell the caller.
//!
//! # The naive version and how it fails
//!
//! The textbook worker pool shares one `mpsc::Receiver` among N workers
//! through `Arc<Mutex<Receiver>>`. The lock is held across `recv().await`,
//! so hand-offs serialize and adding workers stops adding throughput. An
//! unbounded channel, the other common shortcut, hides overload until the
//! process runs out of memory.
//!
//! # How this crate fixes it
//!
//! This crate will build a job server's queue layer on a well-kept MPMC
//! channel (`async-channel`): explicit overflow policies, reserve-then-send
//! admission, close-and-drain that hands every remaining item back, and
//! stats. The implementation lands with its own issue; this crate is empty
//! until then.
