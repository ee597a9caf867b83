//! The synchronisation primitives the hand-written state machines use,
//! swapped for loom's under `cfg(loom)` so the model tests
//! (`tests/loom_*.rs`) can explore their interleavings. Normal builds see
//! `std` only. A plain re-export module, as tokio's `loom` shim.

// With only some layers enabled, some re-exports go unused.
#![allow(unused_imports)]

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};
