//! The job server the `crash` lesson kills: one process, one intake thread,
//! one worker, and a store that is either a queue in memory or a redb file.
//!
//! It speaks lines. On stdin, one job id per line. On stdout:
//!
//! - `recovered <n>` once at start: jobs a previous life left in the store;
//! - `accepted <id>` once the job is stored (for redb: committed with an
//!   fsync), never before;
//! - `ran <id>` when the job's work has happened (its side effect, say an
//!   email sent). The worker records it done *after* this line.
//!
//! When stdin ends and the queue is empty, the server exits with status 0.
//! SIGKILL ends it anywhere at all, which is the point.
//!
//! The two stores differ in one thing only: where the job lives while it
//! waits. In both, the worker takes jobs from the same in-memory channel;
//! with redb that channel is no longer the only copy. Each job is written
//! to the `queue` table before it is accepted, and moved from `queue` to
//! `done` in one transaction after it has run, so at every instant an
//! accepted job is in exactly one of the two tables. On start, whatever is
//! still in `queue` goes to the worker first.

use std::ffi::OsString;
use std::fmt::Display;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use redb::{Database, Durability, ReadableTable, TableDefinition};

/// Accepted jobs not yet run: id → nothing (the id is the whole job here).
const QUEUE: TableDefinition<'_, u64, ()> = TableDefinition::new("queue");
/// Jobs that have run and been recorded.
const DONE: TableDefinition<'_, u64, ()> = TableDefinition::new("done");

/// Where the server keeps an accepted job until it has run.
///
/// ```
/// use evenkeel_examples::crash::Store;
///
/// assert_eq!("redb".parse::<Store>().unwrap(), Store::Redb);
/// assert_eq!(Store::Memory.to_string(), "memory");
/// assert!("postgres".parse::<Store>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// A queue in the process's memory: the naive server.
    Memory,
    /// A redb file in the data directory, every commit fsynced.
    Redb,
}

impl Display for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Store::Memory => "memory",
            Store::Redb => "redb",
        })
    }
}

impl FromStr for Store {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "memory" => Ok(Store::Memory),
            "redb" => Ok(Store::Redb),
            other => bail!("unknown store {other:?} (expected `memory` or `redb`)"),
        }
    }
}

/// One job server process: which store, where its data lives, how long a
/// job takes. [`Server::args`] and [`Server::from_args`] carry it across
/// the process boundary; [`Server::run`] is the child's whole life.
///
/// ```
/// use std::time::Duration;
/// use evenkeel_examples::crash::{Server, Store};
///
/// let server = Server { store: Store::Redb, dir: "/tmp/jobs".into(), work: Duration::from_millis(20) };
/// let back = Server::from_args(server.args()).expect("it is a server's command line");
/// assert_eq!(back.unwrap(), server);
/// // Any other command line is not a server's: the caller runs the lesson instead.
/// assert!(Server::from_args(Vec::new()).is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    /// Where accepted jobs wait.
    pub store: Store,
    /// The data directory (used by [`Store::Redb`] only).
    pub dir: PathBuf,
    /// How long one job's work takes.
    pub work: Duration,
}

impl Server {
    /// The first argument of a server's command line.
    pub const ARG: &'static str = "--crash-server";

    /// The command line (after the program) that starts this server.
    pub fn args(&self) -> Vec<OsString> {
        vec![
            Self::ARG.into(),
            self.store.to_string().into(),
            self.dir.clone().into(),
            self.work.as_millis().to_string().into(),
        ]
    }

    /// Reads a command line made by [`Server::args`]: `None` if it is not
    /// a server's (its first argument is not [`Server::ARG`]).
    ///
    /// # Errors
    ///
    /// If it is a server's command line but a part is missing or malformed.
    pub fn from_args(args: impl IntoIterator<Item = OsString>) -> Option<anyhow::Result<Server>> {
        let mut args = args.into_iter();
        if args.next()? != Self::ARG {
            return None;
        }
        let mut next = |what: &str| {
            args.next()
                .with_context(|| format!("{} needs {what}", Self::ARG))
        };
        Some((|| {
            let store = next("a store")?.to_string_lossy().parse()?;
            let dir = next("a data directory")?.into();
            let work = next("the work time in ms")?.to_string_lossy().into_owned();
            let work = work
                .parse()
                .map(Duration::from_millis)
                .with_context(|| format!("work time `{work}` is not a number of ms"))?;
            Ok(Server { store, dir, work })
        })())
    }

    /// Serves until stdin ends and every job has run (or until killed).
    ///
    /// # Errors
    ///
    /// If the store cannot be opened or written, stdin or stdout fails, or
    /// a line on stdin is not a job id.
    pub fn run(&self) -> anyhow::Result<()> {
        let jobs = Arc::new(Jobs::open(self.store, &self.dir)?);
        let (tx, rx) = mpsc::channel();
        let left = jobs.recover()?;
        say("recovered", left.len())?;
        for id in left {
            tx.send(id)?;
        }
        let intake = thread::spawn({
            let jobs = jobs.clone();
            move || intake(&jobs, &tx)
        });
        // The channel ends once intake has returned and it is empty.
        for id in rx {
            thread::sleep(self.work);
            say("ran", id)?;
            jobs.finish(id)?;
        }
        intake
            .join()
            .map_err(|_| anyhow!("the intake thread panicked"))?
    }
}

/// Reads job ids from stdin; each is stored, handed to the worker, and
/// only then acknowledged.
fn intake(jobs: &Jobs, tx: &mpsc::Sender<u64>) -> anyhow::Result<()> {
    for line in io::stdin().lock().lines() {
        let line = line.context("read stdin")?;
        let id = line
            .trim()
            .parse()
            .with_context(|| format!("not a job id: {line:?}"))?;
        jobs.accept(id)?;
        tx.send(id)?;
        say("accepted", id)?;
    }
    Ok(())
}

/// One line to the client.
fn say(what: &str, n: impl Display) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{what} {n}")?;
    out.flush()
}

/// The server's store. The in-memory one has nothing to write: the channel
/// to the worker is all there is.
enum Jobs {
    Memory,
    Redb(Database),
}

impl Jobs {
    fn open(store: Store, dir: &Path) -> anyhow::Result<Self> {
        if store == Store::Memory {
            return Ok(Jobs::Memory);
        }
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let path = dir.join("jobs.redb");
        let db = Database::create(&path).with_context(|| format!("open {}", path.display()))?;
        // Create both tables, so that reads never meet a missing one.
        let txn = db.begin_write()?;
        txn.open_table(QUEUE)?;
        txn.open_table(DONE)?;
        txn.commit()?;
        Ok(Jobs::Redb(db))
    }

    /// Jobs a previous life accepted and did not record as done.
    fn recover(&self) -> anyhow::Result<Vec<u64>> {
        let Jobs::Redb(db) = self else {
            return Ok(Vec::new());
        };
        let txn = db.begin_read()?;
        let queue = txn.open_table(QUEUE)?;
        let left = queue
            .iter()?
            .map(|entry| entry.map(|(id, _)| id.value()))
            .collect::<Result<_, _>>()?;
        Ok(left)
    }

    /// Stores job `id`; returns once it would survive a crash.
    fn accept(&self, id: u64) -> anyhow::Result<()> {
        let Jobs::Redb(db) = self else {
            return Ok(());
        };
        let mut txn = db.begin_write()?;
        // Immediate is redb's default; spelled out because it is the promise:
        // `commit` returns after an fsync.
        txn.set_durability(Durability::Immediate);
        txn.open_table(QUEUE)?.insert(id, ())?;
        txn.commit()?;
        Ok(())
    }

    /// Records job `id` as done: out of `queue` and into `done`, in one
    /// transaction, so a crash leaves it in exactly one of them.
    fn finish(&self, id: u64) -> anyhow::Result<()> {
        let Jobs::Redb(db) = self else {
            return Ok(());
        };
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        txn.open_table(QUEUE)?.remove(id)?;
        txn.open_table(DONE)?.insert(id, ())?;
        txn.commit()?;
        Ok(())
    }
}
