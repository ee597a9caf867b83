//! How many bytes the success path carries. A retry future is built,
//! returned and moved into the caller's future, and a tower layer copies a
//! `Backoff` into every request: every byte is copied on a call that
//! succeeds at once, which is what that call pays for being retryable (see
//! the `overhead` bench's notes). These tests keep the sizes from creeping
//! back up. The figures are for 64-bit targets.
#![cfg(target_pointer_width = "64")]

use std::future::{Ready, ready};
use std::mem::{size_of, size_of_val};
use std::time::Duration;

use evenkeel_retry::{Backoff, Jitter, retry};

fn succeed() -> Ready<Result<u64, &'static str>> {
    ready(Ok(1))
}

/// A `Backoff` is its 56-byte configuration and one pointer (its progress
/// and generator are boxed at the first delay): 64 bytes, one cache line,
/// whatever its settings.
#[test]
fn a_backoff_is_one_cache_line() {
    assert_eq!(size_of::<Backoff>(), 64);
    let busy = Backoff::linear(Duration::from_millis(1), Duration::from_millis(2))
        .jitter(Jitter::Proportional(20))
        .seed(7)
        .max_elapsed(Duration::from_secs(9));
    assert_eq!(size_of_val(&busy), 64);
}

/// The default classifier and notifier are zero-sized: the retry future of
/// an operation returning a ready `Result<u64, &str>` is the backoff plus
/// the runner's own 128 bytes (limits, the attempt in flight, the last
/// error), not a byte more.
#[test]
fn the_default_retry_future_carries_no_hook_bytes() {
    let fut = retry(Backoff::exponential(Duration::from_millis(1)), succeed);
    assert_eq!(size_of_val(&fut), 192);
}
