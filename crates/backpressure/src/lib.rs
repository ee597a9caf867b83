//! Bounded work queues that push back instead of running out of memory.
//!
//! # The problem
//!
//! A service that accepts work faster than it can do it must say "not now"
//! at the door, not buffer without bound and fall over later. A bounded
//! queue between intake and workers turns overload into an explicit,
//! observable decision (wait, reject, or drop) and tells the caller every
//! time, handing back the item it did not take.
//!
//! # The naive version and how it fails
//!
//! The textbook worker pool shares one `tokio::sync::mpsc::Receiver` among
//! N workers through `Arc<Mutex<Receiver>>`:
//!
//! ```
//! use std::sync::Arc;
//! use tokio::sync::{Mutex, mpsc};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let (tx, rx) = mpsc::channel::<u64>(128);
//! let rx = Arc::new(Mutex::new(rx));
//! for _ in 0..4 {
//!     let rx = Arc::clone(&rx);
//!     tokio::spawn(async move {
//!         loop {
//!             // The guard lives to the end of the statement, so the lock
//!             // is held across `recv().await`: while one worker waits for
//!             // a job, the others wait for the lock.
//!             let Some(job) = rx.lock().await.recv().await else { break };
//!             let _ = job * 2; // real work here
//!         }
//!     });
//! }
//! # drop(tx);
//! # }
//! ```
//!
//! Only one worker at a time can even be *waiting* for work, so hand-offs
//! serialize and adding workers stops adding throughput. The other common
//! shortcut, an unbounded channel, hides overload until the process runs
//! out of memory.
//! And neither answers the questions a job server has: may I admit this
//! request before building the job? what do I do with what is still queued
//! at shutdown? how long did items wait?
//!
//! # How this crate fixes it
//!
//! - The queue is MPMC: receivers are clones, each waits on its own, and
//!   each item goes to exactly one of them. No lock across an `.await`.
//!   Items sit in [`concurrent-queue`]'s lock-free ring (the one
//!   `async-channel`, the channel tokio's tutorial points to, is built on).
//! - It is bounded, and what a full queue does is a policy chosen once:
//!   [`Overflow::Wait`], [`Reject`](Overflow::Reject) or
//!   [`DropOldest`](Overflow::DropOldest). Every item the queue does not
//!   keep comes back to the caller, in an `Err` or as the evicted item.
//! - Admission can happen before the item exists:
//!   [`Sender::try_reserve`] returns a [`Permit`] or "full", so a server
//!   answers 503 before doing any work.
//! - Producers waiting for room are served first come, first served: a
//!   slot freed for a woken producer is not taken by a newcomer.
//! - [`close`](Sender::close) stops intake from either side and wakes
//!   blocked producers with their items; receivers still get what was
//!   queued; [`Receiver::drain`] returns the rest for spilling.
//! - [`Stats`]: length, high water, counters, and queue wait (count, sum,
//!   max, histogram).
//! - Optional weight budget (bytes, say) on top of the count bound, and
//!   optional queue-delay shedding ([`Codel`], as in Facebook's "Fail at
//!   Scale") for standing queues.
//! - [`WorkerPool`] runs N workers over a [`Receiver`] and reports what
//!   they did: the textbook exercise, done right.
//! - [`Receiver::into_stream`] turns a receiver into a
//!   [`futures_core::Stream`] ([`RecvStream`]) for `StreamExt` combinators.
//! - With the `sink` feature, `Sender::into_sink` turns a sender into a
//!   `futures::Sink` (`SendSink`) for `SinkExt::send_all` and
//!   `StreamExt::forward`: `poll_ready` reserves a slot as the overflow
//!   policy says, and every refused item comes back in the error.
//!
//! # Example
//!
//! ```
//! use evenkeel_backpressure::{Overflow, Queue, TrySendError, WorkerPool};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let (tx, rx) = Queue::builder(128).overflow(Overflow::Reject).build().unwrap();
//! let pool = WorkerPool::spawn(rx.clone(), 4, |job: u64| async move {
//!     let _ = job * 2; // real work here
//! })
//! .unwrap();
//!
//! for job in 0..100 {
//!     match tx.try_send(job) {
//!         Ok(_) => {}
//!         Err(TrySendError::Full(_job)) => { /* answer 503 with Retry-After */ }
//!         Err(err) => panic!("closed: {err}"),
//!     }
//! }
//! tx.close(); // intake stops; workers finish what is queued, then exit
//! let report = pool.join().await;
//! assert_eq!(report.processed + rx.stats().rejected, 100);
//! # }
//! ```
//!
//! # How admission works
//!
//! Items travel through a lock-free ring bounded to the capacity, but the
//! decision to admit is taken first, on a lock-free count of free slots: a
//! send takes a slot, then pushes; a receiver pops, then gives the slot
//! back. A [`Permit`] is a slot taken before the item exists. So queued
//! items plus outstanding permits never exceed the capacity, a permit's
//! push always finds room, and a permit dropped unsent gives its slot back.
//!
//! Because admission is decided on the slots, the ring never fills and no
//! sender ever waits on it. So the queue does not go through
//! `async-channel`'s send and receive, which notify their lists of blocked
//! senders and receivers under a mutex on every item: a push wakes a
//! receiver only if one is asleep, a freed slot wakes a producer only if one
//! is asleep and no wake-up is already on its way to one.
//!
//! # Cancellation
//!
//! [`Receiver::recv`] and [`Receiver::recv_many`] are cancel-safe: a dropped
//! future takes no item. [`Sender::send`] owns its item, so dropping it
//! while it waits for room drops the item (as with tokio's `mpsc`); nothing
//! is enqueued and no slot leaks. In a `select!`, race
//! [`Sender::reserve`] instead (it owns nothing) and send through the
//! permit, or bound the wait with [`Sender::send_timeout`], which hands the
//! item back.
//!
//! # Performance
//!
//! The bookkeeping (slot accounting on split counters, a few relaxed
//! counters striped per thread on the consumer side, two reads of a
//! [`Clock`] for queue wait) is a fixed per-item cost, partly paid back by
//! not taking `async-channel`'s two list locks per item.
//! `benches/throughput.rs` measures a 16-worker [`WorkerPool`] against raw
//! `async-channel` workers and the textbook pool, with criterion and in
//! paired rounds that cancel the drift of a shared machine; the README has
//! the figures. In short, on a 2-core VM: level with raw `async-channel`
//! at about 3 µs of work per item, 0.90x to 0.93x at about 0.3 µs, ahead
//! of it with no work (on all but the VM's slow stretches), and 2.4x to
//! 4.5x the textbook pool.
//!
//! # Clocks
//!
//! Queue wait is stamped with [`Clock::Auto`] unless the builder says
//! otherwise: tokio's clock on a current-thread runtime, the only kind a
//! test can pause, so wait stats and [`Codel`] shedding follow
//! `tokio::time::advance` exactly there; the CPU's time-stamp counter
//! (through [`quanta`], about 9 ns a read against about 24 ns for the OS
//! clock on the benchmark VM) everywhere else. [`Builder::clock`] picks one
//! explicitly; [`Builder::track_wait`] turns the reads off.
//!
//! # Choosing capacity 0
//!
//! A queue of capacity 0 could never hold an item. [`Builder::build`]
//! refuses it with [`Error::ZeroCapacity`]; [`bounded`], which returns the
//! halves directly, treats 0 as 1 (the smallest queue there is), as
//! documented on it.
//!
//! [`concurrent-queue`]: https://docs.rs/concurrent-queue

mod builder;
mod clock;
mod codel;
mod error;
mod permit;
mod pool;
mod receiver;
mod sender;
mod shared;
mod signal;
#[cfg(feature = "sink")]
mod sink;
mod slots;
mod stats;
mod stream;
mod sync;

pub use builder::{Builder, Overflow, Queue};
pub use clock::Clock;
pub use codel::Codel;
pub use error::{Error, SendError, TrySendError};
pub use permit::Permit;
pub use pool::{PoolReport, WorkerPool};
pub use receiver::{Receiver, TryRecvError};
pub use sender::Sender;
#[cfg(feature = "sink")]
pub use sink::SendSink;
pub use stats::{Stats, WAIT_BUCKET_BOUNDS, WaitStats};
pub use stream::RecvStream;

// Compiles and runs the README's example as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Creates a queue of `capacity` items that makes producers wait for room
/// ([`Overflow::Wait`]), and returns its two halves.
///
/// `capacity` 0 is treated as 1: a queue must hold at least one item, and
/// this constructor returns the halves directly rather than a `Result`. Use
/// [`Queue::builder`] to get [`Error::ZeroCapacity`] instead, or to choose
/// another policy. Capacities above [`tokio::sync::Semaphore::MAX_PERMITS`]
/// are clamped to it.
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::bounded;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (tx, rx) = bounded(2);
/// tx.send("a").await.unwrap();
/// assert_eq!(rx.recv().await, Some("a"));
///
/// let (tx, _rx) = bounded::<u8>(0);
/// assert_eq!(tx.capacity(), 1);
/// # }
/// ```
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let capacity = capacity.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
    match Queue::builder(capacity).build() {
        Ok(halves) => halves,
        // The capacity was clamped into the builder's accepted range and no
        // other option is set, so `build` has nothing to refuse; still, the
        // smallest queue is a safe answer to a refusal we did not foresee.
        Err(_) => single_slot(),
    }
}

fn single_slot<T>() -> (Sender<T>, Receiver<T>) {
    let shared = sync::Arc::new(shared::Shared::new(
        1,
        Overflow::Wait,
        None,
        Some(clock::TimeSource::new(Clock::Auto)),
        None,
    ));
    (
        Sender::new(sync::Arc::clone(&shared)),
        Receiver::new(shared),
    )
}
