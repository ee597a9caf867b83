//! The final accounting record: the last thing the server says.
//!
//! It goes to stdout as one line, because it is an output of the process,
//! not a log: a supervisor script or the demo story reads it to check that
//! nothing accepted was lost. With `--log-format json` it is one JSON
//! object with integer fields (`accepted`, `restored`, `succeeded`, `dead`,
//! `released`, `remaining`, `lost`, `retries`, `drain_ms`, `exit_code`) and
//! the `drain` outcome; with `text` the same fields as `key=value` pairs.
//! `remaining` is the number of jobs left in the store for the next start
//! (ready, delayed or leased). `lost` is
//! `restored + accepted - succeeded - dead - remaining`, and must be 0; it
//! is left out for a shared store (PostgreSQL), where other servers finish
//! jobs too. The record is deliberately *not* also logged through
//! `tracing`: a reader looking for "the" final record must find exactly
//! one.

use serde::Serialize;

use super::books::Accounting;
use super::config::LogFormat;
use super::run::{DrainOutcome, say};

#[derive(Serialize)]
struct FinalRecord {
    message: &'static str,
    #[serde(flatten)]
    accounting: Accounting,
    remaining: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    lost: Option<u64>,
    drain: DrainOutcome,
    drain_ms: u64,
    exit_code: i32,
}

/// What the final record reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Closing {
    pub(crate) accounting: Accounting,
    pub(crate) remaining: u64,
    pub(crate) shared: bool,
    pub(crate) drain: DrainOutcome,
    pub(crate) drain_ms: u64,
    pub(crate) exit_code: i32,
}

/// Prints the final accounting record on stdout.
pub(crate) fn final_record(format: LogFormat, c: Closing) {
    let a = c.accounting;
    let lost = (!c.shared)
        .then(|| (a.restored + a.accepted).saturating_sub(a.succeeded + a.dead + c.remaining));
    let record = FinalRecord {
        message: "final accounting",
        accounting: a,
        remaining: c.remaining,
        lost,
        drain: c.drain,
        drain_ms: c.drain_ms,
        exit_code: c.exit_code,
    };
    match format {
        LogFormat::Json => say(&serde_json::to_string(&record).unwrap_or_default()),
        LogFormat::Text => say(&format!(
            "final accounting: accepted={} restored={} succeeded={} dead={} released={} remaining={} lost={} retries={} drain={} drain_ms={} exit_code={}",
            a.accepted,
            a.restored,
            a.succeeded,
            a.dead,
            a.released,
            c.remaining,
            lost.map_or_else(|| "n/a".to_owned(), |l| l.to_string()),
            a.retries,
            match c.drain {
                DrainOutcome::Complete => "complete",
                DrainOutcome::TimedOut => "timed_out",
                DrainOutcome::Forced => "forced",
            },
            c.drain_ms,
            c.exit_code,
        )),
    }
}
