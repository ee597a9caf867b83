//! The suite's sections and what they share: each returns a [`Section`]:
//! what was run, what held, what failed (with enough to reproduce it), and
//! the figure that matters, lost. Overload, bad input and panicking workers
//! live here; the signal sections in `signals`, the downstream faults in
//! `downstream`, the data directory in `disk`, slow clients in `slow`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::load::{ACCOUNT_PATIENCE, Accounting, account, flood, quantile};
use crate::server::{Launch, Scratch, Server};

/// One section's results.
#[derive(Debug, Default)]
pub(crate) struct Section {
    pub(crate) name: &'static str,
    /// What one run does, in a sentence.
    pub(crate) what: String,
    pub(crate) runs: u64,
    pub(crate) jobs: u64,
    pub(crate) lost: u64,
    /// Failures, each with its reproduction (seed, variant).
    pub(crate) failures: Vec<String>,
    /// Further figures: (label, value).
    pub(crate) figures: Vec<(String, String)>,
    /// Open findings that do not break the promise (every 202 finished)
    /// but are wrong all the same, each with its reproduction.
    pub(crate) findings: Vec<String>,
}

impl Section {
    pub(crate) fn held(&self) -> bool {
        self.failures.is_empty() && self.lost == 0
    }

    /// Adds one run's accepted and lost jobs; a run that lost any is a
    /// failure named by `run` (its reproduction: number, seed, variant).
    pub(crate) fn add_jobs(&mut self, run: &str, acc: &Accounting) {
        self.jobs += acc.accepted;
        self.lost += acc.lost;
        if acc.lost > 0 {
            self.failures.push(format!(
                "{run}: {} of {} accepted jobs lost",
                acc.lost, acc.accepted
            ));
        }
    }
}

/// A job that never fails on its own and takes `work_ms`.
pub(crate) fn steady_job(work_ms: u64) -> Value {
    json!({"payload": {"from": "reliability"}, "work_ms": work_ms, "fail_rate": 0.0})
}

/// Restarts on `launch`'s data directory, accounts for `ids`, stops the
/// restarted server gracefully; its final record must say lost = 0.
pub(crate) async fn restart_and_account(
    launch: &Launch,
    ids: &[String],
) -> anyhow::Result<Accounting> {
    let mut server = Server::start(launch).await?;
    let acc = account(&server, ids, ACCOUNT_PATIENCE).await;
    server.signal(Signal::SIGTERM)?;
    server.wait(ACCOUNT_PATIENCE).await?;
    // The restarted server's own books must balance as well.
    match server
        .final_record()
        .and_then(|r| r.get("lost").and_then(Value::as_u64))
    {
        Some(0) => Ok(acc),
        Some(n) => anyhow::bail!("the restarted server's final record claimed lost = {n}"),
        None => anyhow::bail!(
            "the restarted server printed no final accounting record (its last lines: {})",
            server.last_lines(3)
        ),
    }
}

/// Overload: ten times what the workers can finish, for `secs` seconds.
pub(crate) async fn overload(bin: &std::path::Path, secs: u64) -> Section {
    let mut section = Section {
        name: "Overload",
        what: format!(
            "2 workers at 20 ms a job can finish about 100 jobs/s; 64 clients post as fast as \
             they are answered (well over 10x that) for {secs} s; the server must shed with \
             503/429, keep accepted latency bounded, and keep its RSS flat"
        ),
        runs: 1,
        ..Section::default()
    };
    let outcome = async {
        let scratch = Scratch::new("overload")?;
        let launch = Launch {
            bin: bin.to_owned(),
            data_dir: scratch.path().join("data"),
            flags: vec!["--workers".into(), "2".into()],
        };
        let mut server = Server::start(&launch).await?;
        let at_rest = server.rss_kib().unwrap_or(0);
        let stop_flag = Arc::new(AtomicBool::new(false));
        let load = tokio::spawn(flood(
            server.addr,
            64,
            steady_job(20),
            Arc::clone(&stop_flag),
        ));
        let started = Instant::now();
        let mut samples = Vec::new();
        while started.elapsed() < Duration::from_secs(secs) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            samples.push(server.rss_kib().unwrap_or(0));
        }
        stop_flag.store(true, Ordering::Relaxed);
        let mut flooded = load.await?;
        let healthy = server.get("/healthz").await.map(|a| a.status.as_u16());
        let after = server.rss_kib().unwrap_or(0);
        server.signal(Signal::SIGTERM)?;
        server.wait(Duration::from_secs(60)).await?;
        let acc = restart_and_account(&launch, &flooded.accepted).await?;
        anyhow::Ok((
            at_rest,
            samples,
            after,
            healthy,
            flooded.statuses.clone(),
            {
                let p50 = quantile(&mut flooded.accept_latency, 0.5);
                let p99 = quantile(&mut flooded.accept_latency, 0.99);
                let r99 = quantile(&mut flooded.refuse_latency, 0.99);
                (p50, p99, r99)
            },
            acc,
        ))
    }
    .await;
    match outcome {
        Ok(measured) => judge_overload(&mut section, measured),
        Err(e) => section.failures.push(format!("{e:#}")),
    }
    section
}

/// What the overload run measured.
type OverloadMeasure = (
    u64,
    Vec<u64>,
    u64,
    anyhow::Result<u16>,
    std::collections::BTreeMap<u16, u64>,
    (Option<Duration>, Option<Duration>, Option<Duration>),
    Accounting,
);

fn judge_overload(section: &mut Section, measured: OverloadMeasure) {
    let (at_rest, samples, after, healthy, statuses, (p50, p99, r99), acc) = measured;
    section.jobs = acc.accepted;
    section.lost = acc.lost;
    let half = samples.len() / 2;
    let first = samples[..half].iter().copied().max().unwrap_or(0);
    let second = samples[half..].iter().copied().max().unwrap_or(0);
    let peak = first.max(second);
    let shed: u64 = statuses
        .iter()
        .filter(|(s, _)| matches!(**s, 429 | 503))
        .map(|(_, n)| n)
        .sum();
    if shed == 0 {
        section
            .failures
            .push("no request was shed under 10x load".into());
    }
    if healthy.as_ref().ok() != Some(&200) {
        section
            .failures
            .push(format!("/healthz after the overload: {healthy:?}"));
    }
    // Flat: the second half may not grow past the first by more
    // than a quarter plus 4 MiB of allocator slack.
    if second > first + first / 4 + 4096 {
        section.failures.push(format!(
            "RSS grew under sustained overload: first half peak {first} KiB, second half {second} KiB"
        ));
    }
    let fmt = |d: Option<Duration>| {
        d.map_or("–".into(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3))
    };
    section.figures.extend([
        ("answers by status".into(), format!("{statuses:?}")),
        (
            "202 latency p50 / p99".into(),
            format!("{} / {}", fmt(p50), fmt(p99)),
        ),
        ("refusal latency p99".into(), fmt(r99)),
        (
            "RSS at rest / peak under overload / after".into(),
            format!("{at_rest} KiB / {peak} KiB / {after} KiB"),
        ),
    ]);
}

/// Bad input: the fixed regression list, then `count` generated cases of
/// `seed`; each answered with its documented status and code (a JSON error
/// body), `/healthz` 200 after every case, and every 202 accounted for.
pub(crate) async fn bad_input(bin: &std::path::Path, seed: u64, count: u64) -> Section {
    use crate::bad_input::oracle::{MAX_ATTEMPTS, MAX_BODY};
    /// Generated failures listed one by one; the rest are counted.
    const SHOWN: usize = 25;
    let mut section = Section {
        name: "Bad input",
        what: format!(
            "a fixed list of malformed requests, then {count} generated from seed {seed}: \
             valid jobs mutated by byte flips, truncation, wrong types, numbers out of range, \
             unknown fields, nesting, invalid UTF-8, content types, sizes around --max-body \
             ({MAX_BODY} bytes), header floods and huge values, duplicated content-length, \
             wrong methods and paths, sent over raw TCP; each must get the status and code \
             the demo documents (a JSON `error` body), a mutation that is still a valid job \
             a 202, `/healthz` 200 after every case, a plain job 202 every \
             {} cases, and every 202 must finish",
            crate::bad_input::run::PROBE_EVERY
        ),
        runs: 1,
        ..Section::default()
    };
    let outcome = async {
        let scratch = Scratch::new("bad-input")?;
        let launch = Launch {
            bin: bin.to_owned(),
            data_dir: scratch.path().join("data"),
            flags: [
                "--max-body",
                &MAX_BODY.to_string(),
                "--max-attempts",
                &MAX_ATTEMPTS.to_string(),
                // A body that stops arriving is cut off quickly.
                "--body-read-timeout",
                "300ms",
                // Cases go one at a time: the queue never fills.
                "--queue-capacity",
                "100000",
                "--retry-initial",
                "10ms",
                "--retry-max",
                "100ms",
            ]
            .map(str::to_owned)
            .to_vec(),
        };
        let mut server = Server::start(&launch).await?;
        let fixed = crate::bad_input::fixed(&server, &mut section.failures).await;
        let tally = crate::bad_input::run::generated(&server, seed, count).await;
        server.signal(Signal::SIGTERM)?;
        server.wait(Duration::from_secs(30)).await?;
        if let Some(n) = server
            .final_record()
            .and_then(|r| r.get("lost").and_then(Value::as_u64))
            .filter(|n| *n > 0)
        {
            section
                .failures
                .push(format!("the server's final record claimed lost = {n}"));
        }
        let acc = restart_and_account(&launch, &tally.ids).await?;
        anyhow::Ok((fixed, tally, acc))
    }
    .await;
    match outcome {
        Ok((fixed, tally, acc)) => {
            section.jobs = fixed + count;
            section.lost = acc.lost;
            section.figures.push((
                "inputs tried".into(),
                format!("{fixed} fixed + {count} generated (seed {seed})"),
            ));
            section.figures.extend(tally.lines());
            section.figures.push((
                "mutations that were still valid jobs: answered 202".into(),
                format!("{} of {}", tally.valid_accepted, tally.valid),
            ));
            section.figures.push((
                "202s accounted (valid mutations and probes): succeeded / dead / lost".into(),
                format!("{} / {} / {}", acc.succeeded, acc.dead, acc.lost),
            ));
            let more = tally.failures.len().saturating_sub(SHOWN);
            section
                .failures
                .extend(tally.failures.into_iter().take(SHOWN));
            if more > 0 {
                section
                    .failures
                    .push(format!("and {more} more generated cases failed"));
            }
        }
        Err(e) => section.failures.push(format!("{e:#}")),
    }
    section
}

/// Faults inside the server: workers that panic at random. The panicking
/// jobs must end dead, the others succeed, and nothing may be lost.
pub(crate) async fn worker_panics(bin: &std::path::Path, seed: u64) -> Section {
    let mut section = Section {
        name: "Faults: workers that panic",
        what: "16 clients post jobs, a quarter of them jobs whose first attempt panics in its \
               worker; the server must keep serving (`/healthz`), and after 2 s it is stopped \
               gracefully and restarted: every 202 must end succeeded or dead"
            .into(),
        runs: 1,
        ..Section::default()
    };
    let outcome = async {
        let scratch = Scratch::new("panics")?;
        let launch = Launch {
            bin: bin.to_owned(),
            data_dir: scratch.path().join("data"),
            flags: vec!["--max-attempts".into(), "2".into()],
        };
        let mut server = Server::start(&launch).await?;
        let stop_flag = Arc::new(AtomicBool::new(false));
        let steady = tokio::spawn(flood(
            server.addr,
            12,
            steady_job(5),
            Arc::clone(&stop_flag),
        ));
        let panicky = json!({"payload": {"seed": seed}, "work_ms": 5, "panic": true});
        let bad = tokio::spawn(flood(server.addr, 4, panicky, Arc::clone(&stop_flag)));
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop_flag.store(true, Ordering::Relaxed);
        let (steady, bad) = (steady.await?, bad.await?);
        let healthy = server.get("/healthz").await.map(|a| a.status.as_u16());
        server.signal(Signal::SIGTERM)?;
        server.wait(Duration::from_secs(40)).await?;
        let ids: Vec<String> = steady
            .accepted
            .iter()
            .chain(&bad.accepted)
            .cloned()
            .collect();
        let acc = restart_and_account(&launch, &ids).await?;
        anyhow::Ok((acc, healthy, bad.accepted.len() as u64))
    }
    .await;
    match outcome {
        Ok((acc, healthy, panicking)) => {
            section.jobs = acc.accepted;
            section.lost = acc.lost;
            if healthy.as_ref().ok() != Some(&200) {
                section
                    .failures
                    .push(format!("/healthz while workers panic: {healthy:?}"));
            }
            section.figures.extend([
                ("panicking jobs accepted".into(), panicking.to_string()),
                (
                    "succeeded / dead".into(),
                    format!("{} / {}", acc.succeeded, acc.dead),
                ),
            ]);
        }
        Err(e) => section.failures.push(format!("{e:#}")),
    }
    section
}
