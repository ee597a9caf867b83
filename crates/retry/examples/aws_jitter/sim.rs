//! The contention simulation behind the `aws_jitter` example (and its test).
//!
//! AWS's "Exponential Backoff And Jitter" article races N clients to write
//! one record guarded by optimistic concurrency: each client reads the
//! record's version, spends a little time preparing its write, then commits
//! only if the version has not moved; a conflict is retried with backoff.
//! Here every client runs [`evenkeel_retry::retry`] on the same exponential
//! schedule, differing only in its jitter kind (seeded per client), in tokio's
//! paused time, so the results are exact and take no wall-clock time.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use evenkeel_retry::{Backoff, Jitter, retry};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep};

/// How long a client holds its read before committing (its conflict window).
pub(crate) const WORK: Duration = Duration::from_millis(5);
/// The schedule's first delay.
pub(crate) const BASE: Duration = Duration::from_millis(10);
/// The schedule's cap.
pub(crate) const CAP: Duration = Duration::from_secs(1);

/// What one run of the race cost.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outcome {
    /// Write attempts made by all clients together (the work done).
    pub(crate) calls: u64,
    /// Virtual time until the last client committed.
    pub(crate) completion: Duration,
}

/// The contended record: its version, and a count of every write attempt.
#[derive(Debug, Default)]
struct Record {
    version: Cell<u64>,
    calls: Cell<u64>,
}

/// One optimistic write: read, prepare for [`WORK`], commit if unchanged.
async fn write(record: Rc<Record>) -> Result<(), ()> {
    let seen = record.version.get();
    sleep(WORK).await;
    record.calls.set(record.calls.get() + 1);
    if record.version.get() == seen {
        record.version.set(seen + 1);
        Ok(())
    } else {
        Err(())
    }
}

/// Races `clients` writers using `jitter`. Must run on a current-thread
/// runtime with paused time, inside a `LocalSet`.
pub(crate) async fn race(clients: u64, jitter: Jitter) -> Outcome {
    let record = Rc::new(Record::default());
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for client in 0..clients {
        let record = Rc::clone(&record);
        let backoff = Backoff::exponential(BASE)
            .max_delay(CAP)
            .jitter(jitter)
            // The experiment runs every client until it wins.
            .without_max_attempts()
            .seed(client);
        tasks.spawn_local(async move { retry(backoff, || write(Rc::clone(&record))).await });
    }
    while tasks.join_next().await.is_some() {}
    Outcome {
        calls: record.calls.get(),
        completion: start.elapsed(),
    }
}
