//! The log's flusher: makes the frames the writer wrote durable (one
//! `fdatasync` for everything written since the last) and only then
//! answers their commands. It runs on the writer thread: after each batch
//! the writer hands it the batch's answers and flushes.
//!
//! # Why on the writer thread
//!
//! The flush used to run on a thread of its own, so that the writer could
//! apply the next batch while the disk worked. Under the end-to-end load
//! (32 keep-alive connections on two cores) that hop cost more than the
//! overlap bought: each batch woke the flusher and each flush put it back
//! to sleep, and the writer itself parked and was woken between batches.
//! With the flush here, the writer is busy in `fdatasync` for most of a
//! round under load, the commands that arrive meanwhile are waiting for it
//! when it comes back (they share the next flush: the group commit forms
//! by itself), and it sleeps only when there is nothing to do. Measured in
//! interleaved `evenkeel-reliability e2e` rounds: 40–42 µs of the server's
//! CPU per accepted job instead of 49–50, and 26–28k instead of 24k jobs a
//! second; at 256 connections, where the batches were large anyway, no
//! change.
//!
//! # What an answer promises
//!
//! [`Flusher::flush`] flushes once for every batch handed since the last
//! flush; a flush that starts after a frame was written covers it. It
//! answers batches in the order they were handed, so an answer also covers
//! every earlier batch, including the ones whose effect it saw (an
//! idempotent enqueue that found a job enqueued a moment before, a claim of
//! that job). A batch that changed nothing is handed too when others wait,
//! so that it is not answered before what it saw is durable.
//!
//! # When a flush fails
//!
//! Every batch of that flush and every batch handed afterwards is answered
//! with the failure, until the writer has undone those batches in memory
//! ([`Core::rollback`]) and reopened the files ([`Flusher::reset`]). The
//! writer learns how far the log is durable from [`Progress`], to replay no
//! further after a restart.
//!
//! [`Core::rollback`]: crate::server::store::core::Core::rollback

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::CommitStats;
use super::writer::{Failure, Reply};

/// Makes what was written to the log durable.
pub(super) trait Flush: Send + Sync + 'static {
    fn flush(&self) -> io::Result<()>;
}

impl Flush for File {
    fn flush(&self) -> io::Result<()> {
        self.sync_data()
    }
}

/// Where a frame of the log ends: its generation and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Mark {
    pub(super) generation: u64,
    pub(super) end: u64,
}

/// One batch of the writer, waiting to be answered.
pub(super) struct Batch {
    /// The writer's number for it (they rise).
    pub(super) number: u64,
    /// Where its frame ends; `None` when it changed nothing.
    pub(super) frame: Option<Mark>,
    pub(super) replies: Vec<Reply>,
}

/// How far the flusher has come.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Progress {
    /// Every batch numbered up to this one is durable and answered.
    pub(super) batch: u64,
    /// The end of the last frame made durable.
    pub(super) mark: Option<Mark>,
    /// Why a flush failed; batches after `batch` were answered with it.
    pub(super) failed: Option<String>,
}

/// The writer's flusher; see the module docs. Dropping it flushes and
/// answers what is handed.
pub(super) struct Flusher {
    /// Handed, not yet flushed.
    queue: Vec<Batch>,
    file: Arc<dyn Flush>,
    progress: Progress,
    stats: Arc<CommitStats>,
    timing: Timing,
}

impl std::fmt::Debug for Flusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flusher")
            .field("queued", &self.queue.len())
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

impl Flusher {
    /// A flusher of `file`.
    pub(super) fn new(file: Arc<dyn Flush>, stats: Arc<CommitStats>) -> Self {
        Self {
            queue: Vec::new(),
            file,
            progress: Progress::default(),
            stats,
            timing: Timing::default(),
        }
    }

    /// Hands over a batch to answer once it (and everything before it) is
    /// durable: at the next [`flush`](Self::flush).
    pub(super) fn hand(&mut self, batch: Batch) {
        self.queue.push(batch);
    }

    /// Whether every batch handed so far is answered as durable (none
    /// waits, and no flush failed).
    pub(super) fn all_durable(&self) -> bool {
        self.queue.is_empty() && self.progress.failed.is_none()
    }

    /// Makes every batch handed so far durable with one flush (none when
    /// none of them wrote a frame) and answers them in order, or answers
    /// them with the failure; how far it came.
    pub(super) fn flush(&mut self) -> &Progress {
        if self.queue.is_empty() {
            return &self.progress;
        }
        let batches = std::mem::take(&mut self.queue);
        let needs_flush = batches.iter().any(|b| b.frame.is_some());
        let started = Instant::now();
        let result = match (&self.progress.failed, needs_flush) {
            (Some(reason), _) => Err(reason.clone()),
            (None, false) => Ok(()),
            (None, true) => self
                .file
                .flush()
                .map_err(|e| crate::server::store::StoreError::storage(e).to_string()),
        };
        if needs_flush {
            self.timing.add(started.elapsed());
        }
        let failure = result
            .as_ref()
            .err()
            .map(|reason| Failure::new(reason.clone()));
        let last = batches.last().map_or(0, |b| b.number);
        let mark = batches.iter().rev().find_map(|b| b.frame);
        let mut commands = 0;
        for batch in batches {
            commands += batch.replies.len();
            for reply in batch.replies {
                reply(failure.as_ref());
            }
        }
        match result {
            Ok(()) => {
                if needs_flush {
                    self.stats.record(commands);
                    self.timing.commands += commands as u64;
                }
                self.progress.batch = last;
                if mark.is_some() {
                    self.progress.mark = mark;
                }
            }
            Err(reason) => {
                if self.progress.failed.is_none() {
                    tracing::error!(error = %reason, "job store: flushing the log failed; its commands are refused");
                }
                self.progress.failed = Some(reason);
            }
        }
        &self.progress
    }

    /// After a failure: flushes `file` from now on (the reopened log) and
    /// forgets the failure. Call it flushed.
    pub(super) fn reset(&mut self, file: Arc<dyn Flush>) {
        self.file = file;
        self.progress.failed = None;
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.flush();
        self.timing.report();
    }
}

/// How often the flusher logs its timing (at `debug`).
const TIMING_EVERY: Duration = Duration::from_secs(5);

/// The flushes' count, commands and time, logged at `debug`.
#[derive(Debug)]
struct Timing {
    since: Instant,
    flushes: u64,
    commands: u64,
    time: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            since: Instant::now(),
            flushes: 0,
            commands: 0,
            time: Duration::ZERO,
        }
    }
}

impl Timing {
    fn add(&mut self, took: Duration) {
        self.flushes += 1;
        self.time += took;
        if self.since.elapsed() >= TIMING_EVERY {
            self.report();
            *self = Self::default();
        }
    }

    fn report(&self) {
        if self.flushes == 0 {
            return;
        }
        tracing::debug!(
            flushes = self.flushes,
            commands = self.commands,
            mean_commands = self.commands / self.flushes,
            mean_flush_us = u64::try_from(self.time.as_micros()).unwrap_or(u64::MAX) / self.flushes,
            "job store flush timing"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::mpsc;

    use super::*;

    /// A log whose flushes are counted and can be made to fail.
    #[derive(Default)]
    struct FakeLog {
        flushes: AtomicUsize,
        fail: AtomicBool,
    }

    impl Flush for FakeLog {
        fn flush(&self) -> io::Result<()> {
            self.flushes.fetch_add(1, Ordering::SeqCst);
            if self.fail.load(Ordering::SeqCst) {
                return Err(io::Error::other("injected flush failure"));
            }
            Ok(())
        }
    }

    impl FakeLog {
        fn flushes(&self) -> usize {
            self.flushes.load(Ordering::SeqCst)
        }
    }

    type Answer = (u64, Result<(), String>);
    type Answers = mpsc::Receiver<Answer>;

    fn batch(number: u64, end: Option<u64>, tx: &mpsc::Sender<Answer>) -> Batch {
        let tx = tx.clone();
        Batch {
            number,
            frame: end.map(|end| Mark { generation: 1, end }),
            replies: vec![Box::new(move |failure: Option<&Failure>| {
                let _ = tx.send((
                    number,
                    failure.map_or(Ok(()), |f| Err(f.error().to_string())),
                ));
            })],
        }
    }

    fn flusher() -> (Arc<FakeLog>, Flusher, mpsc::Sender<Answer>, Answers) {
        let log = Arc::new(FakeLog::default());
        let flusher = Flusher::new(log.clone(), Arc::default());
        let (tx, rx) = mpsc::channel();
        (log, flusher, tx, rx)
    }

    #[test]
    fn batches_handed_share_one_flush_and_are_answered_after_it_in_order() {
        let (log, mut flusher, tx, rx) = flusher();
        for n in 1..=4 {
            flusher.hand(batch(n, Some(10 * n), &tx));
        }
        assert!(rx.try_recv().is_err(), "nothing answered before its flush");
        assert!(!flusher.all_durable());
        let progress = flusher.flush().clone();
        let answers: Vec<_> = rx.try_iter().collect();
        assert_eq!(answers, (1..=4).map(|n| (n, Ok(()))).collect::<Vec<_>>());
        assert_eq!(log.flushes(), 1);
        assert_eq!(progress.batch, 4);
        assert_eq!(
            progress.mark,
            Some(Mark {
                generation: 1,
                end: 40
            })
        );
        assert!(flusher.all_durable());
        // Nothing handed: nothing to flush.
        flusher.flush();
        assert_eq!(log.flushes(), 1);
    }

    #[test]
    fn a_batch_that_changed_nothing_waits_for_the_flush_before_it_and_adds_none() {
        let (log, mut flusher, tx, rx) = flusher();
        flusher.hand(batch(1, Some(10), &tx));
        flusher.hand(batch(2, None, &tx));
        assert!(
            rx.try_recv().is_err(),
            "the read-only batch waits for batch 1"
        );
        flusher.flush();
        assert_eq!(
            rx.try_iter().collect::<Vec<_>>(),
            [(1, Ok(())), (2, Ok(()))]
        );
        assert_eq!(log.flushes(), 1);
        // Alone, it is answered without a flush.
        flusher.hand(batch(3, None, &tx));
        assert_eq!(flusher.flush().batch, 3);
        assert_eq!(rx.try_recv().unwrap(), (3, Ok(())));
        assert_eq!(log.flushes(), 1);
    }

    #[test]
    fn a_failed_flush_refuses_its_batches_and_later_ones_until_reset() {
        let (log, mut flusher, tx, rx) = flusher();
        flusher.hand(batch(1, Some(10), &tx));
        assert_eq!(flusher.flush().batch, 1);
        log.fail.store(true, Ordering::SeqCst);
        flusher.hand(batch(2, Some(20), &tx));
        let progress = flusher.flush().clone();
        assert_eq!(progress.batch, 1, "batch 2 is not durable");
        assert_eq!(
            progress.mark,
            Some(Mark {
                generation: 1,
                end: 10
            })
        );
        assert!(progress.failed.as_deref().unwrap().contains("injected"));
        // Nothing waits, but not all durable: a batch that changed nothing
        // must not be answered as if what it saw were on disk.
        assert!(!flusher.all_durable());
        // The disk is fine again, but nothing is flushed or answered as
        // durable until the writer has undone the failed batches.
        log.fail.store(false, Ordering::SeqCst);
        flusher.hand(batch(3, Some(30), &tx));
        flusher.flush();
        let answers: Vec<_> = rx.try_iter().collect();
        assert_eq!(answers[0], (1, Ok(())));
        assert!(matches!(&answers[1], (2, Err(e)) if e.contains("injected")));
        assert!(matches!(&answers[2], (3, Err(e)) if e.contains("injected")));
        assert_eq!(log.flushes(), 2);

        flusher.reset(log.clone());
        flusher.hand(batch(4, Some(5), &tx));
        let progress = flusher.flush().clone();
        assert_eq!(rx.try_recv().unwrap(), (4, Ok(())));
        assert_eq!(progress.batch, 4);
        assert_eq!(progress.failed, None);
        assert!(flusher.all_durable());
    }

    #[test]
    fn dropping_it_flushes_and_answers_what_was_handed() {
        let (log, mut flusher, tx, rx) = flusher();
        for n in 1..=3 {
            flusher.hand(batch(n, Some(n), &tx));
        }
        drop(flusher);
        assert_eq!(rx.try_iter().count(), 3);
        assert_eq!(log.flushes(), 1);
    }
}
