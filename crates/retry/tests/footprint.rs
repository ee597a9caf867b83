//! How many bytes the success path carries: the retry future is built,
//! returned and moved into the caller's future, so every byte of it is
//! copied at least twice on a call that succeeds at once (see the
//! `overhead` bench's notes). These tests keep the sizes from creeping up.

use std::future::{Ready, ready};
use std::mem::size_of_val;
use std::time::Duration;

use evenkeel_retry::{Backoff, retry};

fn succeed() -> Ready<Result<u64, &'static str>> {
    ready(Ok(1))
}

/// Prints the sizes (run with `--nocapture` to read them).
#[test]
fn sizes() {
    let backoff = Backoff::exponential(Duration::from_millis(1)).max_attempts(3);
    println!("Backoff: {}", size_of_val(&backoff));
    let fut = retry(backoff, succeed);
    println!("retry future: {}", size_of_val(&fut));
    let backon = {
        use backon::{ExponentialBuilder, Retryable};
        (succeed).retry(ExponentialBuilder::default())
    };
    println!("backon future: {}", size_of_val(&backon));
}
