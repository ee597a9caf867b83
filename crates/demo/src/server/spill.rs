//! The spill file: where accepted jobs go when the drain runs out of time.
//!
//! At the drain deadline (or on a second signal) every job still queued or
//! running is written here, one JSON object per line:
//!
//! ```json
//! {"id":"5f0c2a9e1b7d3c48","attempts":1,"payload":{"n":7},"work_ms":20,"fail_rate":0.0,"downstream":false,"panic":false,"max_attempts":4}
//! ```
//!
//! At start the server loads the file back and queues those jobs before it
//! takes new ones, each under its old id, with its attempt count kept.
//!
//! # Crash safety
//!
//! The file is written to `<file>.tmp`, flushed to disk, then renamed over
//! `<file>`: a rename is atomic, so a crash mid-write leaves either the old
//! file or the new one, never half of one. The loaded file is left in place
//! while the restored jobs run and is replaced (or removed, when nothing is
//! left to spill) only at the next shutdown; a process killed with
//! `SIGKILL` in between therefore leaves the file behind and the next start
//! runs those jobs again. Delivery is at-least-once: a job can run twice,
//! but an accepted job is never silently gone.
//!
//! A line that does not parse stops the start with an error naming the
//! line, rather than dropping the job it held.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::job::{JobId, JobSpec};

/// One line of the spill file.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SpilledJob {
    /// The id the client got in its 202; kept across restarts.
    pub id: JobId,
    /// Attempts started before the spill.
    #[serde(default)]
    pub attempts: u32,
    /// The job itself.
    #[serde(flatten)]
    pub spec: JobSpec,
}

/// Writes `jobs` to `path` atomically, or removes `path` when `jobs` is
/// empty (nothing is owed to the next start).
///
/// # Errors
///
/// Any I/O error; the previous file, if any, is then left untouched.
///
/// ```
/// use evenkeel_demo::server::{load_spill, write_spill, JobId, JobSpec, SpilledJob};
///
/// let path = std::env::temp_dir().join(format!("spill-doc-{}.jsonl", std::process::id()));
/// let job = SpilledJob {
///     id: JobId::random(),
///     attempts: 1,
///     spec: JobSpec { payload: serde_json::json!({"n": 1}), work_ms: 5, fail_rate: 0.0,
///                     downstream: false, panic: false, max_attempts: 3 },
/// };
/// write_spill(&path, &[job.clone()]).unwrap();
/// assert_eq!(load_spill(&path).unwrap(), vec![job]);
/// write_spill(&path, &[]).unwrap();
/// assert!(load_spill(&path).unwrap().is_empty());
/// ```
pub fn write(path: &Path, jobs: &[SpilledJob]) -> io::Result<()> {
    if jobs.is_empty() {
        return match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let tmp = tmp_path(path);
    {
        let mut out = BufWriter::new(File::create(&tmp)?);
        for job in jobs {
            serde_json::to_writer(&mut out, job)?;
            out.write_all(b"\n")?;
        }
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)
}

/// Reads the spill file at `path`; a missing file is an empty spill.
///
/// # Errors
///
/// An I/O error, or [`io::ErrorKind::InvalidData`] naming the first line
/// that is not a spilled job. Blank lines are skipped.
pub fn load(path: &Path) -> io::Result<Vec<SpilledJob>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut jobs = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let job = serde_json::from_str(&line).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}:{}: not a spilled job: {e}", path.display(), index + 1),
            )
        })?;
        jobs.push(job);
    }
    Ok(jobs)
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}
