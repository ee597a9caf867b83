//! Lesson `crash`: kill -9 a job server mid-load, restart it, and count
//! the accepted jobs that never ran.
//!
//! # The problem
//!
//! A graceful shutdown (the `shutdown` and `worker-pool` lessons) needs the
//! process's cooperation: a handler runs, intake stops, the queue drains or
//! is handed back. SIGKILL (`kill -9`, the OOM killer, a power cut, a node
//! lost) asks for none: the process is gone between two instructions, and
//! whatever existed only in its memory is gone with it. A server that said
//! "accepted" for a job has made a promise that must outlive the process.
//!
//! # The naive version
//!
//! [`Store::Memory`]: the server answers `accepted` the moment a job is in
//! its in-memory queue, and a worker works through the queue. Killed
//! mid-load, it restarts with an empty queue: every accepted job that had
//! not run yet is lost, and nothing anywhere says so.
//!
//! # The durable version
//!
//! [`Store::Redb`]: the same server, but a job is committed to a redb table
//! (with [`redb::Durability::Immediate`]: an fsync before `commit`
//! returns) *before* the server answers `accepted`; once the job has run,
//! it is moved to the `done` table in one transaction; on start, the server
//! takes up whatever is still waiting. Every accepted job runs after the
//! restart.
//!
//! The price is **at-least-once**: a job that ran but whose `done` record
//! was not yet committed when the kill came runs again after the restart.
//! The lesson kills the server the instant it reports a job has run, so it
//! usually catches one in that window (`ran twice`). Jobs must therefore
//! be idempotent, or carry a key their effect can be checked against.
//! Recording `done` *before* running the job instead gives at-most-once:
//! nothing runs twice, and a job recorded but not yet run when the kill
//! comes is lost.
//!
//! The other price is latency: every `accepted` waits for its own fsync,
//! so the redb server answers more slowly and has usually not answered
//! every job when the kill comes. A job it never answered was never
//! promised; the client sends it again. The demo pays one fsync for a
//! whole batch of accepts instead (group commit).
//!
//! # How the lesson runs it
//!
//! [`run`] starts the server as a child process (see [`Server`] for the
//! line protocol), sends it [`Config::jobs`] jobs, and the moment the
//! server reports its [`Config::kill_after`]-th job run, sends it SIGKILL.
//! It then starts a second server on the same data directory with its
//! stdin closed (no new jobs), which exits once it has run what it found,
//! and counts: accepted, run before the kill, recovered, run after the
//! restart, lost, run twice. The data directory is a fresh temporary one,
//! removed at the end.
//!
//! The demo's job server (`evenkeel-demo serve`) does this for real: a
//! `JobStore` trait with in-memory, redb and PostgreSQL backends, leases
//! with attempt numbers (so a dead worker's job runs again, and a stale
//! worker's late answer is refused), and group commit (one fsync for a
//! whole batch of accepts). Read `crates/demo/src/server/store/`, starting
//! with `mod.rs`.

mod server;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub use server::{Server, Store};

/// The scenario: how many jobs the client sends, when the kill comes, and
/// how long a job takes.
///
/// ```
/// let c = evenkeel_examples::crash::Config::default();
/// assert_eq!((c.jobs, c.kill_after), (40, 5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Jobs the client sends, all at once.
    pub jobs: u64,
    /// The kill comes the moment this many jobs have run (at least 1, and
    /// fewer than `jobs`, so that the kill is mid-load).
    pub kill_after: u64,
    /// How long one job's work takes.
    pub work: Duration,
}

impl Default for Config {
    /// 40 jobs of 20 ms, killed after the 5th: the 35 jobs still waiting
    /// would need 0.7 s to run, far longer than the kill takes to land.
    fn default() -> Self {
        Config {
            jobs: 40,
            kill_after: 5,
            work: Duration::from_millis(20),
        }
    }
}

/// What the client saw across the kill and the restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    /// The store the server used.
    pub store: Store,
    /// Jobs the client sent.
    pub sent: u64,
    /// Jobs the first server answered `accepted` before it died. (Jobs sent
    /// but not answered are the client's to send again.)
    pub accepted: u64,
    /// Distinct jobs run by the first server.
    pub ran_before_kill: u64,
    /// The signal that ended the first server (9 for SIGKILL).
    pub killed_by: Option<i32>,
    /// Jobs the restarted server found waiting in its store.
    pub recovered: u64,
    /// Distinct jobs run by the restarted server.
    pub ran_after_restart: u64,
    /// Accepted jobs that never ran, in either life.
    pub lost: u64,
    /// Jobs that ran in both lives (at-least-once).
    pub ran_twice: u64,
}

/// Runs the scenario against a server of `store` kind, started as
/// `program` with [`Server::args`] (a program that hands such a command
/// line to [`Server::from_args`] and [`Server::run`]). Returns the account
/// once the restarted server has exited.
///
/// The lesson's example is such a program: it serves when started with a
/// server's command line, and runs the lesson against itself otherwise.
///
/// ```no_run
/// use evenkeel_examples::crash::{Config, Server, Store, run};
///
/// fn main() -> anyhow::Result<()> {
///     if let Some(server) = Server::from_args(std::env::args_os().skip(1)) {
///         return server?.run();
///     }
///     let account = run(&std::env::current_exe()?, Store::Redb, Config::default())?;
///     assert_eq!(account.lost, 0);
///     Ok(())
/// }
/// ```
///
/// # Errors
///
/// If `config` does not put the kill mid-load, a server cannot be started
/// or speaks out of protocol, or the restarted server fails.
pub fn run(program: &Path, store: Store, config: Config) -> anyhow::Result<Account> {
    ensure!(
        config.kill_after >= 1 && config.kill_after < config.jobs,
        "kill_after ({}) must be at least 1 and fewer than jobs ({})",
        config.kill_after,
        config.jobs
    );
    let dir = DataDir::new(store)?;
    let server = Server {
        store,
        dir: dir.0.clone(),
        work: config.work,
    };

    // First life: send every job; kill -9 the moment the `kill_after`-th has
    // run. Stdin stays open until then, so the server never runs dry.
    let mut first = spawn(program, &server)?;
    let mut stdin = first.stdin.take().context("the server's stdin is piped")?;
    for id in 0..config.jobs {
        writeln!(stdin, "{id}").context("send a job")?;
    }
    stdin.flush().context("send the jobs")?;
    let before = watch(&mut first, Some(config.kill_after))?;
    drop(stdin);
    let status = first.wait().context("wait for the killed server")?;
    ensure!(
        before.ran.len() as u64 >= config.kill_after,
        "the first server exited ({status}) before the kill"
    );

    // Second life: the same data directory, stdin closed at once (no new
    // jobs), so it exits once it has run what it found.
    let mut second = spawn(program, &server)?;
    drop(second.stdin.take());
    let after = watch(&mut second, None)?;
    let status_after = second.wait().context("wait for the restarted server")?;
    ensure!(
        status_after.success(),
        "the restarted server failed: {status_after}"
    );

    let ran = |id: &&u64| before.ran.contains(id) || after.ran.contains(id);
    Ok(Account {
        store,
        sent: config.jobs,
        accepted: before.accepted.len() as u64,
        ran_before_kill: before.ran.len() as u64,
        killed_by: status.signal(),
        recovered: after.recovered,
        ran_after_restart: after.ran.len() as u64,
        lost: before.accepted.iter().filter(|id| !ran(id)).count() as u64,
        ran_twice: before.ran.intersection(&after.ran).count() as u64,
    })
}

/// What one life of the server reported.
#[derive(Debug, Default)]
struct Life {
    accepted: BTreeSet<u64>,
    ran: BTreeSet<u64>,
    recovered: u64,
}

fn spawn(program: &Path, server: &Server) -> anyhow::Result<Child> {
    Command::new(program)
        .args(server.args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("start {}", program.display()))
}

/// Reads the server's lines until its stdout closes; with `kill_after`,
/// sends it SIGKILL the moment that many jobs have run. Lines the server
/// wrote before it died are still in the pipe and are read too.
fn watch(child: &mut Child, kill_after: Option<u64>) -> anyhow::Result<Life> {
    let stdout = child
        .stdout
        .take()
        .context("the server's stdout is piped")?;
    let pid = Pid::from_raw(i32::try_from(child.id()).context("pid out of range")?);
    let mut seen = Life::default();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("read the server's output")?;
        let Some((what, n)) = line.split_once(' ') else {
            bail!("the server said {line:?}");
        };
        let n = n
            .parse()
            .with_context(|| format!("the server said {line:?}"))?;
        match what {
            "accepted" => drop(seen.accepted.insert(n)),
            "recovered" => seen.recovered = n,
            "ran" => {
                seen.ran.insert(n);
                if Some(seen.ran.len() as u64) == kill_after {
                    // kill -9: no handler runs, nothing is flushed or saved.
                    kill(pid, Signal::SIGKILL).context("kill -9 the server")?;
                }
            }
            _ => bail!("the server said {line:?}"),
        }
    }
    Ok(seen)
}

/// A fresh directory under the system's temp dir, removed on drop.
struct DataDir(PathBuf);

impl DataDir {
    fn new(store: Store) -> anyhow::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("evenkeel-crash-{}-{store}-{n}", std::process::id()));
        // A leftover from an earlier process with the same pid is stale.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        Ok(DataDir(dir))
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
