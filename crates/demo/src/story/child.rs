//! The job server as a child process of the story.
//!
//! The story starts `evenkeel-demo serve` from its own executable
//! (`std::env::current_exe`), so the demo needs exactly one binary. The
//! server is asked to listen on `127.0.0.1:0`; the kernel picks a free port
//! and the server prints `listening on <addr>` on stdout, which the story
//! waits for (up to a timeout, and giving up at once if the child exits).
//!
//! Both output streams are read line by line into memory by two tasks: the
//! story later searches them for the final accounting record, and shows the
//! tail of stderr when something goes wrong.
//!
//! # No process left behind
//!
//! The child is spawned with tokio's `kill_on_drop`: whatever path the story
//! takes out of scope (an error, a panic, Ctrl+C dropping the whole story
//! future), dropping [`ServerProcess`] sends SIGKILL. The graceful path
//! sends SIGTERM through `nix` and waits for the exit.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::ServerAccounting;

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `evenkeel-demo serve`.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) addr: SocketAddr,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

/// The address in a line containing `listening on <addr>` (plain or inside
/// a JSON log line, with or without `http://`): how the story learns the
/// port a child bound with `--addr 127.0.0.1:0`.
///
/// # Example
///
/// ```
/// use evenkeel_demo::story::listening_addr;
///
/// let addr = listening_addr("listening on 127.0.0.1:4100").unwrap();
/// assert_eq!(addr.port(), 4100);
/// let json = r#"{"fields":{"message":"listening on http://127.0.0.1:4101"}}"#;
/// assert_eq!(listening_addr(json).unwrap().port(), 4101);
/// assert_eq!(listening_addr("starting"), None);
/// ```
pub fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let rest = rest.trim_start_matches("http://");
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

impl ServerProcess {
    /// Starts `exe serve ARGS` and waits for its `listening on` line.
    pub(crate) async fn start(exe: &Path, args: &[String]) -> anyhow::Result<Self> {
        let mut child = Command::new(exe)
            .arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {} serve", exe.display()))?;
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = oneshot::channel();
        // Both streams may carry the line (stdout is the agreement; a log line
        // on stderr is accepted too); whichever sees it first hands it over.
        let tx = Arc::new(Mutex::new(Some(tx)));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(tokio::spawn(collect(
                out,
                Arc::clone(&stdout),
                Arc::clone(&tx),
            )));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(tokio::spawn(collect(err, Arc::clone(&stderr), tx)));
        }
        let mut server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stdout,
            stderr,
            readers,
        };
        tokio::select! {
            addr = rx => {
                let Ok(addr) = addr else {
                    let status = server.child.wait().await.ok();
                    bail!(server.failure("closed its output without printing `listening on <addr>`", status));
                };
                server.addr = addr;
            }
            status = server.child.wait() => {
                bail!(server.failure("exited before printing `listening on <addr>`", status.ok()));
            }
            () = tokio::time::sleep(START_TIMEOUT) => {
                bail!(server.failure("did not print `listening on <addr>` in time", None));
            }
        }
        Ok(server)
    }

    /// A readable account of a failed start, with the tail of stderr.
    fn failure(&self, what: &str, status: Option<ExitStatus>) -> String {
        let status = status.map_or_else(String::new, |s| format!(" ({s})"));
        format!(
            "`evenkeel-demo serve` {what}{status}. Is the server implemented in this build?\n\
             last lines on its stderr:\n{}",
            self.stderr_tail(12)
        )
    }

    /// The base URL, `http://addr`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The last `n` lines the server wrote on stderr, indented.
    pub(crate) fn stderr_tail(&self, n: usize) -> String {
        let lines = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        let start = lines.len().saturating_sub(n);
        let mut tail = String::new();
        for line in &lines[start..] {
            tail.push_str("    ");
            tail.push_str(line);
            tail.push('\n');
        }
        tail
    }

    /// Every line the server wrote, stdout first, then stderr.
    pub(crate) fn output(&self) -> Vec<String> {
        let mut all = self.stdout();
        all.extend(
            self.stderr
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .cloned(),
        );
        all
    }

    /// The lines the server wrote on stdout.
    pub(crate) fn stdout(&self) -> Vec<String> {
        self.stdout
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The server's final accounting record: the one on stdout (where the
    /// server prints it as its last word) if there is one, else the last
    /// one in its logs on stderr (which may carry fewer fields).
    pub(crate) fn accounting(&self) -> Option<ServerAccounting> {
        ServerAccounting::find(self.stdout().iter().map(String::as_str))
            .or_else(|| ServerAccounting::find(self.output().iter().map(String::as_str)))
    }

    /// Sends SIGTERM.
    pub(crate) fn terminate(&self) -> anyhow::Result<()> {
        let pid = self
            .child
            .id()
            .context("the server has already been reaped")?;
        let pid = Pid::from_raw(i32::try_from(pid).context("pid out of range")?);
        kill(pid, Signal::SIGTERM).context("cannot send SIGTERM to the server")
    }

    /// Kills the server with SIGKILL (no drain, no last word) and waits for
    /// it to be gone.
    pub(crate) async fn kill9(&mut self) -> anyhow::Result<ExitStatus> {
        self.child
            .start_kill()
            .context("cannot SIGKILL the server")?;
        Ok(self.child.wait().await?)
    }

    /// Waits up to `limit` for the exit, then for the output readers to hit
    /// end of file (so the last lines, the accounting record among them, are
    /// in). Kills the server if it does not exit in time.
    pub(crate) async fn wait(&mut self, limit: Duration) -> anyhow::Result<ExitStatus> {
        let status = if let Ok(status) = tokio::time::timeout(limit, self.child.wait()).await {
            status?
        } else {
            self.child.start_kill()?;
            self.child.wait().await?;
            bail!("the server did not exit within {limit:?} and was killed");
        };
        for reader in self.readers.drain(..) {
            // A reader only copies lines; a failure there loses log lines, not jobs.
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
        Ok(status)
    }
}

/// Reads lines from a child's stream into `sink`, handing the first
/// `listening on` address to the sender in `addr`.
async fn collect(
    stream: impl AsyncRead + Unpin,
    sink: Arc<Mutex<Vec<String>>>,
    addr: Arc<Mutex<Option<oneshot::Sender<SocketAddr>>>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(found) = listening_addr(&line)
            && let Some(tx) = addr.lock().unwrap_or_else(PoisonError::into_inner).take()
        {
            // The story may have stopped waiting; then nobody needs the address.
            let _ = tx.send(found);
        }
        sink.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }
}
