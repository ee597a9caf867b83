//! The synchronization primitives the lock-free core is written against:
//! std's in every normal build, loom's under `cfg(loom)`.
//!
//! The slot count ([`Slots`](crate::slots::Slots)), the wake-up signal
//! ([`Signal`](crate::signal::Signal)) and the handle counts in `shared`
//! take their atomics, `Arc` and `Mutex` from here, so the model tests in
//! `tests/loom.rs` (built with `RUSTFLAGS="--cfg loom"`) explore every
//! interleaving of exactly the code that ships. Normal builds never see
//! loom: the module is a set of re-exports of `std`.
//!
//! The `Notify` a signal sleeps on is tokio's in normal builds and a model
//! of it on loom's mutex under loom (`notify.rs`): tokio's own would run,
//! but loom could not see the ordering its wake-ups carry and would report
//! executions that cannot happen. A task sleeping on it is parked by
//! `loom::future::block_on` until its waker runs, so a wake-up that never
//! comes shows up as a deadlock.

#[cfg(loom)]
mod notify;

#[cfg(loom)]
pub(crate) use notify::Notify;
#[cfg(not(loom))]
pub(crate) use tokio::sync::Notify;

#[cfg(not(loom))]
pub(crate) use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, AtomicUsize, fence},
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, AtomicUsize, fence},
};
