//! The synchronisation primitives the crate's lock-free state is built on,
//! in one place so that model tests can swap them.
//!
//! Normal builds re-export `std`'s atomics, `Arc` and `Mutex`. Under
//! `--cfg loom` (the model tests in `tests/loom*.rs`, never a normal build)
//! the same names come from `loom`, which then explores every interleaving
//! of the code that uses them, as tokio checks its own primitives.
#![allow(unused_imports, reason = "each layer uses a different subset")]

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Mutex};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex};
