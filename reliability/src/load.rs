//! Load against a running server, and the accounting that follows it.
//!
//! [`flood`] runs concurrent clients that post jobs until told to stop and
//! remembers the id of every job that got a 202: those are promises. After
//! the server has been stopped (gracefully, forcibly, or with SIGKILL),
//! [`account`] asks a server started on the same data directory about
//! every promised id, until each has reached `succeeded` or `dead` or the
//! patience runs out: a job still unknown or unfinished then is **lost**.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::server::{PATIENCE, Server, client, request};

/// What a flood saw.
#[derive(Debug, Default)]
pub(crate) struct Flooded {
    /// Ids of jobs answered 202.
    pub(crate) accepted: Vec<String>,
    /// Answers by status code (0 for no answer: connection refused or reset).
    pub(crate) statuses: BTreeMap<u16, u64>,
    /// Latency of each 202, and of each refusal (429/503).
    pub(crate) accept_latency: Vec<Duration>,
    pub(crate) refuse_latency: Vec<Duration>,
}

/// Posts `job` from `clients` concurrent clients until `stop` is set.
/// Clients whose requests fail (the server is gone) pause 5 ms between
/// tries so they do not spin.
pub(crate) async fn flood(
    addr: SocketAddr,
    clients: usize,
    job: Value,
    stop: Arc<AtomicBool>,
) -> Flooded {
    let out = Arc::new(Mutex::new(Flooded::default()));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (out, stop, job) = (Arc::clone(&out), Arc::clone(&stop), job.clone());
        tasks.push(tokio::spawn(async move {
            let client = client();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let answer = request(&client, addr, Method::POST, "/jobs", Some(&job)).await;
                let took = started.elapsed();
                let mut out = out.lock().await;
                if let Ok(a) = answer {
                    *out.statuses.entry(a.status.as_u16()).or_default() += 1;
                    if a.status.as_u16() == 202 {
                        if let Some(id) = a.json.get("id").and_then(Value::as_str) {
                            out.accepted.push(id.to_owned());
                        }
                        out.accept_latency.push(took);
                    } else if matches!(a.status.as_u16(), 429 | 503) {
                        out.refuse_latency.push(took);
                    }
                } else {
                    *out.statuses.entry(0).or_default() += 1;
                    drop(out);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    Arc::try_unwrap(out).map_or_else(|_| Flooded::default(), Mutex::into_inner)
}

/// The fate of the promised jobs.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Accounting {
    pub(crate) accepted: u64,
    pub(crate) succeeded: u64,
    pub(crate) dead: u64,
    /// Unknown to the server, or not finished within the patience.
    pub(crate) lost: u64,
    /// Finished jobs that took more than one attempt (for jobs that never
    /// fail on their own, each is a run repeated after a crash).
    pub(crate) ran_more_than_once: u64,
}

/// Asks `server` about every id until each is finished or `patience` ends.
pub(crate) async fn account(server: &Server, ids: &[String], patience: Duration) -> Accounting {
    let mut pending: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut acc = Accounting {
        accepted: ids.len() as u64,
        ..Accounting::default()
    };
    let deadline = Instant::now() + patience;
    while !pending.is_empty() && Instant::now() < deadline {
        let round: Vec<&str> = pending.iter().copied().collect();
        for id in round {
            let Ok(answer) = server.get(&format!("/jobs/{id}")).await else {
                continue;
            };
            let state = answer.json.get("state").and_then(Value::as_str);
            let attempts = answer.json.get("attempts").and_then(Value::as_u64);
            match state {
                Some("succeeded") => acc.succeeded += 1,
                Some("dead") => acc.dead += 1,
                _ => continue,
            }
            if attempts.is_some_and(|a| a > 1) {
                acc.ran_more_than_once += 1;
            }
            pending.remove(id);
        }
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    acc.lost = pending.len() as u64;
    acc
}

/// The default patience for accounting.
pub(crate) const ACCOUNT_PATIENCE: Duration = PATIENCE;

/// The `q`-quantile of `values` (sorted in place).
pub(crate) fn quantile(values: &mut [Duration], q: f64) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((values.len() - 1) as f64 * q).round();
    // The rank is between 0 and len - 1 by construction.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    values.get(rank as usize).copied()
}
