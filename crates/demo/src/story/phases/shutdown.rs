//! The last two scenes: SIGTERM under load (drain, deadline, spill, and
//! the id-by-id accounting), then the restart that finishes the spilled
//! jobs.
//!
//! While the drain runs the story keeps polling `GET /jobs/{id}` for every
//! accepted job it has not yet seen finish (ids arrive live from the load
//! generator's `on_accept` channel), so that when the server exits, each id
//! has either been seen `succeeded`/`dead` or must be in the spill file.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::super::child::ServerProcess;
use super::super::observe::Watcher;
use super::super::report::{Final, describe_exit, print_final, say, scene};
use super::super::{
    DRAIN_LIMIT, DRAIN_TIMEOUT, Reconciliation, Seen, ServerAccounting, outcomes_in_log, reconcile,
    spill_ids,
};
use super::Story;
use crate::load::client::get;
use crate::load::{self, JobMix, Mode, ProgressMode};

impl Story {
    /// SIGTERM mid-load; returns the ids found in the spill file.
    pub(super) async fn sigterm(
        &mut self,
        mut server: ServerProcess,
    ) -> anyhow::Result<Vec<String>> {
        scene(5, "SIGTERM under load: drain, deadline, spill");
        let base = server.url();
        say(format!(
            "40 jobs/s of slow work (400-800 ms); SIGTERM after 3s; drain deadline {DRAIN_TIMEOUT}"
        ));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mix = JobMix {
            work_ms: (400, 800),
            fail_rate: 0.05,
            downstream_share: 0.2,
        };
        let mut config = self.load_config(&base, "sigterm", Mode::Rate(40.0), 30, mix);
        config.on_accept = Some(tx);
        config.max_retries = 1;
        config.progress = ProgressMode::Off;
        let stop = CancellationToken::new();
        let task = tokio::spawn(load::run(config, stop.clone()));
        tokio::time::sleep(Duration::from_secs(3)).await;

        server.terminate()?;
        let signalled = Instant::now();
        say("SIGTERM sent");
        // The signal is asynchronous: ask until readiness flips, for at most
        // the pre-drain window (after it, the server may stop answering).
        let mut ready = None;
        while signalled.elapsed() < Duration::from_millis(500) {
            let url = format!("{base}/readyz");
            ready = get(&self.client, &url, Duration::from_millis(400))
                .await
                .map(|(status, _)| status);
            if ready == Some(503) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.checks.check(
            ready == Some(503),
            format!(
                "/readyz answered {} {:.0} ms after the signal (503 = not ready)",
                ready.map_or_else(|| "nothing".to_owned(), |s| s.to_string()),
                signalled.elapsed().as_secs_f64() * 1000.0
            ),
        );
        let mut ids = self.accepted.clone();
        let exit = {
            let wait = server.wait(DRAIN_LIMIT);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    status = &mut wait => break status?,
                    () = tokio::time::sleep(Duration::from_millis(50)) => {
                        while let Ok(id) = rx.try_recv() {
                            ids.push(id);
                        }
                        self.watcher.poll(&base, &ids).await;
                    }
                }
            }
        };
        let drain = signalled.elapsed();
        stop.cancel();
        let report = task.await.context("the load task failed")?;
        self.accepted.extend(report.accepted_ids);
        say(&report.summary);
        say(format!("server exited after {:.2}s", drain.as_secs_f64()));

        let output = server.output();
        for (id, seen) in outcomes_in_log(output.iter().map(String::as_str)) {
            self.watcher.seen.insert(id, seen);
        }
        let server_books = server.accounting();
        let spill_text = match std::fs::read_to_string(&self.spill_file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).context("cannot read the spill file"),
        };
        let spilled = spill_ids(&spill_text)
            .map_err(|line| anyhow::anyhow!("spill file line {line} is not a job with an id"))?;
        let spill_set: HashSet<String> = spilled.iter().cloned().collect();
        let mut ours = reconcile(&self.accepted, &self.watcher.seen, &spill_set);
        if let Some(books) = &server_books {
            ours.credit_server_totals(books);
        }
        print_final(&Final {
            ours: &ours,
            server: server_books,
            spill_lines: spilled.len(),
            breaker: &self.breaker,
            drain,
            exit,
        });
        self.judge_drain(&ours, server_books.as_ref(), &spilled, exit);
        Ok(spilled)
    }

    fn judge_drain(
        &mut self,
        ours: &Reconciliation,
        books: Option<&ServerAccounting>,
        spilled: &[String],
        exit: std::process::ExitStatus,
    ) {
        let c = &mut self.checks;
        c.check(
            books.is_some(),
            "the server printed its final accounting record",
        );
        if let Some(b) = books {
            c.check(
                b.unaccounted() == 0,
                format!(
                    "server books balance: {} = {} + {} + {}",
                    b.accepted, b.succeeded, b.dead, b.spilled
                ),
            );
            c.check(
                b.accepted == ours.accepted,
                format!(
                    "server accepted {} = {} ids this client got 202 for",
                    b.accepted, ours.accepted
                ),
            );
            c.check(
                b.spilled == spilled.len() as u64,
                "server's spilled count matches the spill file",
            );
        }
        let shown: Vec<&str> = ours.lost.iter().take(5).map(String::as_str).collect();
        c.check(
            ours.lost.is_empty(),
            format!(
                "lost = {}: every accepted id finished or is in the spill file{}{}",
                ours.lost.len(),
                if shown.is_empty() {
                    String::new()
                } else {
                    format!(" (e.g. {})", shown.join(", "))
                },
                if ours.finished_unseen > 0 {
                    format!(
                        " ({} finished after the last look, placed by the server's totals)",
                        ours.finished_unseen
                    )
                } else {
                    String::new()
                }
            ),
        );
        c.check(
            ours.spilled_unknown.is_empty(),
            "the spill file holds only ids this client was given",
        );
        let code = exit.code();
        c.check(
            if spilled.is_empty() {
                code == Some(0)
            } else {
                code.is_some_and(|c| c != 0)
            },
            format!("exit code {code:?} fits the drain (0 only when nothing was spilled)"),
        );
    }

    /// Restarts the server on the spill file and watches the spilled jobs finish.
    pub(super) async fn restart(&mut self, spilled: &[String]) -> anyhow::Result<()> {
        scene(6, "restart: the spilled jobs come back");
        let mut server = self.start_server().await?;
        let base = server.url();
        say(format!(
            "server restarted at {base}; it loads {} spilled jobs first",
            spilled.len()
        ));
        let mut watcher = Watcher::new();
        let still = watcher
            .wait_finished(&base, spilled, Duration::from_secs(30))
            .await;
        let succeeded = watcher.count(spilled, Seen::Succeeded);
        let dead = watcher.count(spilled, Seen::Dead);
        self.checks.check(
            still == 0,
            format!(
                "{} of {} spilled jobs finished under their old ids ({succeeded} succeeded, {dead} dead)",
                spilled.len() - still,
                spilled.len()
            ),
        );
        server.terminate()?;
        let exit = server.wait(DRAIN_LIMIT).await?;
        let books = server.accounting();
        self.checks.check(
            exit.code() == Some(0),
            format!(
                "the restarted server drained completely: exit {}",
                describe_exit(exit)
            ),
        );
        self.checks.check(
            books.is_some_and(|b| {
                b.restored == spilled.len() as u64 && b.spilled == 0 && b.unaccounted() == 0
            }),
            books.map_or_else(
                || "the restarted server printed no final accounting record".to_owned(),
                |b| {
                    format!(
                        "its books: restored {} of {} spilled, accepted {}, succeeded {}, \
                         dead {}, spilled {}, unaccounted {}",
                        b.restored,
                        spilled.len(),
                        b.accepted,
                        b.succeeded,
                        b.dead,
                        b.spilled,
                        b.unaccounted()
                    )
                },
            ),
        );
        self.checks
            .check(!self.spill_file.exists(), "no spill file is left behind");
        Ok(())
    }
}
