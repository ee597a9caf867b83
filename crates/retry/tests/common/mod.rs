//! Helpers shared by the runner tests: a recording flaky operation and
//! timing arithmetic.

#![allow(dead_code, unreachable_pub)] // each test file uses its own subset

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The instants at which an operation was called.
pub type CallLog = Arc<std::sync::Mutex<Vec<Instant>>>;

/// An operation that fails `failures` times, then succeeds, recording the
/// (virtual) instant of every call.
pub fn flaky(
    failures: u32,
) -> (
    CallLog,
    impl FnMut() -> std::future::Ready<Result<u32, &'static str>>,
) {
    let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&calls);
    let op = move || {
        let mut log = log.lock().unwrap(); // test code: a poisoned lock is a failed test
        log.push(Instant::now());
        let n = u32::try_from(log.len()).unwrap();
        std::future::ready(if n > failures {
            Ok(n)
        } else {
            Err("transient")
        })
    };
    (calls, op)
}

pub fn gaps(calls: &[Instant]) -> Vec<Duration> {
    calls.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Rounds up to tokio's timer granularity (1 ms).
pub fn tick(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap())
}
