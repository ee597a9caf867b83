//! Live progress of a load run: an indicatif bar on a terminal, plain lines
//! elsewhere.
//!
//! A bar redraws in place, which is what a person at a terminal wants and
//! exactly what a CI log or a pipe does not (it fills the log with carriage
//! returns). So `Auto` asks whether stderr is a terminal and picks the bar or
//! one plain summary line per second. Either way a background task samples
//! the shared atomic counters; the request tasks never wait on the display.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::stats::Collector;

/// How a load run shows its progress (on stderr).
///
/// # Example
///
/// ```
/// use evenkeel_demo::load::ProgressMode;
///
/// assert_eq!(ProgressMode::default(), ProgressMode::Auto);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar on a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Always the indicatif bar.
    Bar,
    /// One plain line per second.
    Lines,
    /// Nothing.
    Off,
}

/// The running display; [`finish`](Self::finish) stops it.
#[derive(Debug)]
pub(crate) struct Progress {
    done: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts showing `collector` for a run of `length` labelled `label`.
    pub(crate) fn start(
        mode: ProgressMode,
        label: String,
        length: Duration,
        collector: Arc<Collector>,
    ) -> Self {
        let done = CancellationToken::new();
        let bar = match mode {
            ProgressMode::Off => None,
            ProgressMode::Lines => Some(false),
            ProgressMode::Bar => Some(true),
            ProgressMode::Auto => Some(std::io::stderr().is_terminal()),
        };
        let task = bar.map(|bar| {
            let done = done.clone();
            tokio::spawn(async move {
                if bar {
                    show_bar(&label, length, &collector, &done).await;
                } else {
                    show_lines(&label, &collector, &done).await;
                }
            })
        });
        Self { done, task }
    }

    /// Stops the display and waits for it to clear.
    pub(crate) async fn finish(mut self) {
        self.done.cancel();
        if let Some(task) = self.task.take() {
            // The display task only draws; if it panicked there is nothing to recover.
            let _ = task.await;
        }
    }
}

/// One line of counts, shared by both displays.
fn counts(collector: &Collector) -> String {
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    format!(
        "sent {} accepted {} rejected {} errors {} backoffs {}",
        load(&collector.sent),
        load(&collector.accepted),
        load(&collector.rejected),
        load(&collector.transport_errors),
        load(&collector.backoffs),
    )
}

async fn show_bar(label: &str, length: Duration, collector: &Collector, done: &CancellationToken) {
    let total = u64::try_from(length.as_millis()).unwrap_or(u64::MAX);
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{prefix:>10} [{bar:24}] {elapsed:>3} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(label.to_owned());
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            () = done.cancelled() => break,
            _ = tick.tick() => {}
        }
        let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        bar.set_position(elapsed.min(total));
        bar.set_message(counts(collector));
    }
    bar.set_position(total);
    bar.finish_and_clear();
}

async fn show_lines(label: &str, collector: &Collector, done: &CancellationToken) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // The first tick of an interval completes at once; skip it.
    tick.tick().await;
    loop {
        tokio::select! {
            () = done.cancelled() => break,
            _ = tick.tick() => {}
        }
        eprintln!(
            "[{label}] {:>5.1}s {}",
            started.elapsed().as_secs_f64(),
            counts(collector)
        );
    }
}
