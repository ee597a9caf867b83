//! The final accounting record: the last thing the server says.
//!
//! It goes to stdout as one line, because it is an output of the process,
//! not a log: a supervisor script or the demo story reads it to check that
//! nothing accepted was lost. With `--log-format json` it is one JSON
//! object with integer fields (`accepted`, `restored`, `succeeded`, `dead`,
//! `spilled`, `lost`, `retries`, `drain_ms`, `exit_code`) and the `drain`
//! outcome; with `text` the same fields as `key=value` pairs. It is
//! deliberately *not* also logged through `tracing`: a reader looking for
//! "the" final record must find exactly one.

use serde::Serialize;

use super::config::LogFormat;
use super::run::{DrainOutcome, say};
use super::table::Accounting;

#[derive(Serialize)]
struct FinalRecord {
    message: &'static str,
    #[serde(flatten)]
    accounting: Accounting,
    lost: u64,
    drain: DrainOutcome,
    drain_ms: u64,
    exit_code: i32,
}

/// Prints the final accounting record on stdout.
pub(crate) fn final_record(
    format: LogFormat,
    accounting: Accounting,
    drain: DrainOutcome,
    drain_ms: u64,
    exit_code: i32,
) {
    let record = FinalRecord {
        message: "final accounting",
        accounting,
        lost: accounting.unaccounted(),
        drain,
        drain_ms,
        exit_code,
    };
    match format {
        LogFormat::Json => say(&serde_json::to_string(&record).unwrap_or_default()),
        LogFormat::Text => say(&format!(
            "final accounting: accepted={} restored={} succeeded={} dead={} spilled={} lost={} retries={} drain={} drain_ms={drain_ms} exit_code={exit_code}",
            accounting.accepted,
            accounting.restored,
            accounting.succeeded,
            accounting.dead,
            accounting.spilled,
            record.lost,
            accounting.retries,
            match drain {
                DrainOutcome::Complete => "complete",
                DrainOutcome::TimedOut => "timed_out",
                DrainOutcome::Forced => "forced",
            },
        )),
    }
}
