//! The log's flusher: a thread that makes the frames the writer wrote
//! durable (one `fdatasync` for everything written since the last) and
//! only then answers their commands.
//!
//! With the flush on the writer thread, the writer could do nothing while
//! the disk worked: under the end-to-end load the writer spent about a
//! third of each cycle waiting in `fdatasync`, the commands that arrived
//! meanwhile waited for the next cycle, and the machine sat partly idle.
//! Now the writer applies a batch, writes its frame (a `pwrite` into the
//! page cache) and hands its answers here, then goes on with the next
//! batch while this thread flushes: the flush of one batch overlaps the
//! apply of the next, and everything written during a flush shares the
//! next one, so the group commit forms by itself.
//!
//! # What an answer promises
//!
//! The flusher takes every batch handed to it so far and flushes once;
//! a flush that starts after a frame was written covers it. It answers
//! batches in the order they were handed, so an answer also covers every
//! earlier batch, including the ones whose effect it saw (an idempotent
//! enqueue that found a job enqueued a moment before, a claim of that job).
//! A batch that changed nothing is handed too when others are in flight,
//! so that it is not answered before what it saw is durable.
//!
//! # When a flush fails
//!
//! Every batch of that round and every batch handed afterwards is answered
//! with the failure, until the writer, which finds the failure at its next
//! batch, has undone those batches in memory ([`Core::rollback`]) and
//! reopened the files ([`Flusher::reset`]). The writer learns how far the
//! log is durable from [`Progress`], to replay no further after a restart.
//!
//! [`Core::rollback`]: crate::server::store::core::Core::rollback

use std::fs::File;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
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

#[derive(Default)]
struct State {
    queue: Vec<Batch>,
    /// A round (flush and answers) is in progress.
    busy: bool,
    stop: bool,
    file: Option<Arc<dyn Flush>>,
    progress: Progress,
}

struct Shared {
    state: Mutex<State>,
    /// The flusher waits here for batches.
    work: Condvar,
    /// The writer waits here for the flusher to be idle.
    idle: Condvar,
    stats: Arc<CommitStats>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned lock is consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The flusher thread; see the module docs. Dropping it answers what is
/// handed (flushing it) and stops the thread.
pub(super) struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Flusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flusher").finish_non_exhaustive()
    }
}

impl Flusher {
    /// Starts the thread, flushing `file`.
    pub(super) fn spawn(file: Arc<dyn Flush>, stats: Arc<CommitStats>) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                file: Some(file),
                ..State::default()
            }),
            work: Condvar::new(),
            idle: Condvar::new(),
            stats,
        });
        let thread = std::thread::Builder::new()
            .name("job-store-flush".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || run(&shared)
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Hands over a batch to answer once it (and everything before it) is
    /// durable.
    pub(super) fn hand(&self, batch: Batch) {
        let mut state = self.shared.lock();
        state.queue.push(batch);
        drop(state);
        self.shared.work.notify_one();
    }

    /// Whether every batch handed so far is answered as durable (none
    /// waits, and no flush failed).
    pub(super) fn all_durable(&self) -> bool {
        let state = self.shared.lock();
        state.queue.is_empty() && !state.busy && state.progress.failed.is_none()
    }

    /// How far it has come, without waiting.
    pub(super) fn progress(&self) -> Progress {
        self.shared.lock().progress.clone()
    }

    /// Waits until every batch handed so far is answered; how far it came.
    pub(super) fn drain(&self) -> Progress {
        let mut state = self.shared.lock();
        while !state.queue.is_empty() || state.busy {
            state = self
                .shared
                .idle
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        state.progress.clone()
    }

    /// After a failure: flushes `file` from now on (the reopened log) and
    /// forgets the failure. Call it drained.
    pub(super) fn reset(&self, file: Arc<dyn Flush>) {
        let mut state = self.shared.lock();
        state.file = Some(file);
        state.progress.failed = None;
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.work.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The flusher thread: take everything handed, flush once, answer.
fn run(shared: &Shared) {
    let mut timing = Timing::default();
    loop {
        let mut state = shared.lock();
        while state.queue.is_empty() && !state.stop {
            state = shared
                .work
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        if state.queue.is_empty() {
            timing.report();
            return; // stopped, nothing left
        }
        let batches = std::mem::take(&mut state.queue);
        state.busy = true;
        let failed = state.progress.failed.clone();
        let file = state.file.clone();
        drop(state);

        let needs_flush = batches.iter().any(|b| b.frame.is_some());
        let started = Instant::now();
        let result = match (failed, needs_flush) {
            (Some(reason), _) => Err(reason),
            (None, false) => Ok(()),
            (None, true) => match &file {
                Some(file) => file
                    .flush()
                    .map_err(|e| crate::server::store::StoreError::storage(e).to_string()),
                None => Err("the job store log is closed".to_owned()),
            },
        };
        if needs_flush {
            timing.add(started.elapsed());
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
        if needs_flush && result.is_ok() {
            shared.stats.record(commands);
            timing.commands += commands as u64;
        }

        let mut state = shared.lock();
        match result {
            Ok(()) => {
                state.progress.batch = last;
                if mark.is_some() {
                    state.progress.mark = mark;
                }
            }
            Err(reason) => {
                if state.progress.failed.is_none() {
                    tracing::error!(error = %reason, "job store: flushing the log failed; its commands are refused");
                }
                state.progress.failed = Some(reason);
            }
        }
        state.busy = false;
        drop(state);
        shared.idle.notify_all();
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

    /// A log whose flushes are counted, can be held (to hand batches
    /// while one is in progress) and can be made to fail.
    #[derive(Default)]
    struct FakeLog {
        entered: AtomicUsize,
        flushes: AtomicUsize,
        fail: AtomicBool,
        hold: Mutex<()>,
    }

    impl Flush for FakeLog {
        fn flush(&self) -> io::Result<()> {
            self.entered.fetch_add(1, Ordering::SeqCst);
            let _held = self.hold.lock().unwrap();
            self.flushes.fetch_add(1, Ordering::SeqCst);
            if self.fail.load(Ordering::SeqCst) {
                return Err(io::Error::other("injected flush failure"));
            }
            Ok(())
        }
    }

    impl FakeLog {
        /// Waits until `n` flushes have begun.
        fn wait_entered(&self, n: usize) {
            while self.entered.load(Ordering::SeqCst) < n {
                std::thread::yield_now();
            }
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
        let flusher = Flusher::spawn(log.clone(), Arc::default()).unwrap();
        let (tx, rx) = mpsc::channel();
        (log, flusher, tx, rx)
    }

    #[test]
    fn batches_are_answered_after_a_flush_in_order_and_share_flushes() {
        let (log, flusher, tx, rx) = flusher();
        // Hold the first flush, hand three more batches meanwhile: they
        // wait for one more flush together, not one each.
        let held = log.hold.lock().unwrap();
        flusher.hand(batch(1, Some(10), &tx));
        log.wait_entered(1);
        for n in 2..=4 {
            flusher.hand(batch(n, Some(10 * n), &tx));
        }
        assert!(rx.try_recv().is_err(), "nothing answered before its flush");
        drop(held);
        let progress = flusher.drain();
        let answers: Vec<_> = rx.try_iter().collect();
        assert_eq!(answers, (1..=4).map(|n| (n, Ok(()))).collect::<Vec<_>>());
        assert_eq!(log.flushes.load(Ordering::SeqCst), 2);
        assert_eq!(progress.batch, 4);
        assert_eq!(
            progress.mark,
            Some(Mark {
                generation: 1,
                end: 40
            })
        );
    }

    #[test]
    fn a_batch_that_changed_nothing_waits_for_the_flush_before_it_and_adds_none() {
        let (log, flusher, tx, rx) = flusher();
        let held = log.hold.lock().unwrap();
        flusher.hand(batch(1, Some(10), &tx));
        log.wait_entered(1);
        flusher.hand(batch(2, None, &tx));
        assert!(
            rx.try_recv().is_err(),
            "the read-only batch waits for batch 1"
        );
        drop(held);
        flusher.drain();
        assert_eq!(
            rx.try_iter().collect::<Vec<_>>(),
            [(1, Ok(())), (2, Ok(()))]
        );
        assert_eq!(log.flushes.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_failed_flush_refuses_its_batches_and_later_ones_until_reset() {
        let (log, flusher, tx, rx) = flusher();
        flusher.hand(batch(1, Some(10), &tx));
        assert_eq!(flusher.drain().batch, 1);
        log.fail.store(true, Ordering::SeqCst);
        flusher.hand(batch(2, Some(20), &tx));
        let progress = flusher.drain();
        assert_eq!(progress.batch, 1, "batch 2 is not durable");
        assert_eq!(
            progress.mark,
            Some(Mark {
                generation: 1,
                end: 10
            })
        );
        assert!(progress.failed.as_deref().unwrap().contains("injected"));
        // Idle, but not all durable: a batch that changed nothing must not
        // be answered as if what it saw were on disk.
        assert!(!flusher.all_durable());
        // The disk is fine again, but nothing is flushed or answered as
        // durable until the writer has undone the failed batches.
        log.fail.store(false, Ordering::SeqCst);
        flusher.hand(batch(3, Some(30), &tx));
        flusher.drain();
        let answers: Vec<_> = rx.try_iter().collect();
        assert_eq!(answers[0], (1, Ok(())));
        assert!(matches!(&answers[1], (2, Err(e)) if e.contains("injected")));
        assert!(matches!(&answers[2], (3, Err(e)) if e.contains("injected")));
        assert_eq!(log.flushes.load(Ordering::SeqCst), 2);

        flusher.reset(log.clone());
        flusher.hand(batch(4, Some(5), &tx));
        let progress = flusher.drain();
        assert_eq!(rx.try_recv().unwrap(), (4, Ok(())));
        assert_eq!(progress.batch, 4);
        assert_eq!(progress.failed, None);
        assert!(flusher.all_durable());
    }

    #[test]
    fn dropping_it_answers_what_was_handed() {
        let (_log, flusher, tx, rx) = flusher();
        for n in 1..=3 {
            flusher.hand(batch(n, Some(n), &tx));
        }
        drop(flusher);
        assert_eq!(rx.try_iter().count(), 3);
    }
}
