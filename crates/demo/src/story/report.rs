//! How the story talks: scene headings, ✓/✗ checks, and the final report.
//!
//! Every claim the story makes is a check: it prints `✓` or `✗` with the
//! evidence, and a single `✗` makes the whole story exit non-zero. The story
//! never prints a figure it did not measure: an absent metric or record is
//! shown as absent.

use std::fmt::Display;
use std::process::ExitStatus;
use std::time::Duration;

use super::{Reconciliation, ServerAccounting};

/// The checks made so far.
#[derive(Debug, Default)]
pub(crate) struct Checks {
    failed: Vec<String>,
    passed: usize,
}

impl Checks {
    /// Prints and records one check.
    pub(crate) fn check(&mut self, ok: bool, what: impl Display) {
        if ok {
            self.passed += 1;
            println!("   ✓ {what}");
        } else {
            println!("   ✗ {what}");
            self.failed.push(what.to_string());
        }
    }

    /// The failed checks' descriptions.
    pub(crate) fn failed(&self) -> &[String] {
        &self.failed
    }

    /// How many passed.
    pub(crate) fn passed(&self) -> usize {
        self.passed
    }
}

/// A scene heading.
pub(crate) fn scene(number: u32, title: &str) {
    println!(
        "\n── {number}. {title} {}",
        "─".repeat(60usize.saturating_sub(title.len()))
    );
}

/// A line of narration.
pub(crate) fn say(text: impl Display) {
    println!("   {text}");
}

/// What an exit status means for this server.
pub(crate) fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => "0 (complete drain)".to_owned(),
        (Some(code), _) => format!("{code} (drain cut short: jobs left in the store)"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "unknown".to_owned(),
    }
}

/// Everything the final report shows.
#[derive(Debug)]
pub(crate) struct Final<'a> {
    pub(crate) ours: &'a Reconciliation,
    pub(crate) server: Option<ServerAccounting>,
    pub(crate) breaker: &'a str,
    pub(crate) drain: Duration,
    pub(crate) exit: ExitStatus,
}

/// Prints the final report of the SIGTERM scene.
pub(crate) fn print_final(f: &Final<'_>) {
    let server = |pick: fn(&ServerAccounting) -> u64| {
        f.server
            .as_ref()
            .map_or_else(|| "no record".to_owned(), |a| pick(a).to_string())
    };
    println!();
    println!("   ┌──────────────────────┬──────────────┬──────────────┐");
    println!("   │                      │ story's count│ server says  │");
    println!("   ├──────────────────────┼──────────────┼──────────────┤");
    let row = |name: &str, ours: String, theirs: String| {
        println!("   │ {name:<20} │ {ours:>12} │ {theirs:>12} │");
    };
    row(
        "accepted",
        f.ours.accepted.to_string(),
        server(|a| a.accepted),
    );
    row(
        "succeeded",
        f.ours.succeeded.to_string(),
        server(|a| a.succeeded),
    );
    row("dead", f.ours.dead.to_string(), server(|a| a.dead));
    row(
        "left in the store",
        f.ours.in_store.to_string(),
        server(|a| a.remaining),
    );
    row(
        "lost",
        f.ours.lost.len().to_string(),
        server(ServerAccounting::unaccounted),
    );
    row("retries", "-".to_owned(), server(|a| a.retries));
    println!("   └──────────────────────┴──────────────┴──────────────┘");
    println!("   breaker transitions  {}", f.breaker);
    println!(
        "   drain time           {:.2}s (SIGTERM to exit)",
        f.drain.as_secs_f64()
    );
    println!("   exit code            {}", describe_exit(f.exit));
}
