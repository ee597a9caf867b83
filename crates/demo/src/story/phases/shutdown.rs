//! Scenes 5 and 6: SIGTERM under load (drain, deadline, release, and the
//! id-by-id accounting), then the restart that finishes the jobs left in
//! the store.
//!
//! While the drain runs the story keeps polling `GET /jobs/{id}` for every
//! accepted job it has not yet seen finish (ids arrive live from the load
//! generator's `on_accept` channel). When the server has exited, the story
//! opens the job store it left behind and looks up every id it has not seen
//! finish: each must be finished there or live (waiting for the next
//! start); anything else is lost.

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
};
use super::Story;
use crate::load::client::get;
use crate::load::{self, JobMix, Mode, ProgressMode};

impl Story {
    /// SIGTERM mid-load; returns the ids left live in the store.
    pub(super) async fn sigterm(
        &mut self,
        mut server: ServerProcess,
    ) -> anyhow::Result<Vec<String>> {
        scene(5, "SIGTERM under load: drain, deadline, release");
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
        let unseen: Vec<String> = self
            .accepted
            .iter()
            .filter(|id| !self.watcher.seen.get(*id).is_some_and(|s| s.is_finished()))
            .cloned()
            .collect();
        let (finished_late, in_store) = self.look_in_store(&unseen).await?;
        for (id, seen) in finished_late {
            self.watcher.seen.insert(id, seen);
        }
        say(format!(
            "the store file the server left holds {} of the accepted jobs, waiting for the next start",
            in_store.len()
        ));
        let live_set: HashSet<String> = in_store.iter().cloned().collect();
        let mut ours = reconcile(&self.accepted, &self.watcher.seen, &live_set);
        if let Some(books) = &server_books {
            ours.credit_server_totals(books);
        }
        print_final(&Final {
            ours: &ours,
            server: server_books,
            breaker: &self.breaker,
            drain,
            exit,
        });
        self.judge_drain(&ours, server_books.as_ref(), &in_store, exit);
        Ok(in_store)
    }

    /// Opens the job store the exited server left and looks up `ids`:
    /// returns those finished there (after the story's last look) and
    /// those still live (for the next start). An id in neither is lost.
    async fn look_in_store(
        &self,
        ids: &[String],
    ) -> anyhow::Result<(Vec<(String, Seen)>, Vec<String>)> {
        use crate::server::JobId;
        use crate::server::store::{JobState, JobStore, RedbStore, StoreOptions};
        let dir = self.data_dir.clone();
        let store =
            tokio::task::spawn_blocking(move || RedbStore::open(&dir, StoreOptions::default()))
                .await
                .context("opening the job store")?
                .context("opening the job store the server left")?;
        let (mut finished, mut live) = (Vec::new(), Vec::new());
        for id in ids {
            let Ok(parsed) = id.parse::<JobId>() else {
                continue;
            };
            match store.get(parsed).await?.map(|r| r.state) {
                Some(JobState::Succeeded) => finished.push((id.clone(), Seen::Succeeded)),
                Some(JobState::Dead) => finished.push((id.clone(), Seen::Dead)),
                Some(JobState::Queued | JobState::Running) => live.push(id.clone()),
                None => {}
            }
        }
        // Closing the file (the store's writer thread joins) before the
        // next server opens it.
        tokio::task::spawn_blocking(move || drop(store)).await?;
        Ok((finished, live))
    }

    fn judge_drain(
        &mut self,
        ours: &Reconciliation,
        books: Option<&ServerAccounting>,
        in_store: &[String],
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
                    "server books balance: {} accepted = {} succeeded + {} dead + {} left in the store",
                    b.accepted, b.succeeded, b.dead, b.remaining
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
                b.remaining == in_store.len() as u64,
                "the server's `remaining` matches the live jobs found in its store",
            );
        }
        let shown: Vec<&str> = ours.lost.iter().take(5).map(String::as_str).collect();
        c.check(
            ours.lost.is_empty(),
            format!(
                "lost = {}: every accepted id finished or waits in the store{}{}",
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
            ours.in_store_unknown.is_empty(),
            "the store holds only ids this client was given",
        );
        let code = exit.code();
        c.check(
            if in_store.is_empty() {
                code == Some(0)
            } else {
                code.is_some_and(|c| c != 0)
            },
            format!("exit code {code:?} fits the drain (0 only when nothing was left)"),
        );
    }

    /// Restarts the server on the same data directory and watches the jobs
    /// left in the store finish.
    pub(super) async fn restart(&mut self, in_store: &[String]) -> anyhow::Result<()> {
        scene(6, "restart: the jobs left in the store come back");
        let mut server = self.start_server().await?;
        let base = server.url();
        say(format!(
            "server restarted at {base} on the same data directory; {} jobs wait in its store",
            in_store.len()
        ));
        let mut watcher = Watcher::new();
        let still = watcher
            .wait_finished(&base, in_store, Duration::from_secs(30))
            .await;
        let succeeded = watcher.count(in_store, Seen::Succeeded);
        let dead = watcher.count(in_store, Seen::Dead);
        self.checks.check(
            still == 0,
            format!(
                "{} of {} jobs left in the store finished under their ids ({succeeded} succeeded, {dead} dead)",
                in_store.len() - still,
                in_store.len()
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
                b.restored == in_store.len() as u64 && b.remaining == 0 && b.unaccounted() == 0
            }),
            books.map_or_else(
                || "the restarted server printed no final accounting record".to_owned(),
                |b| {
                    format!(
                        "its books: restored {} of {} left, accepted {}, succeeded {}, \
                         dead {}, remaining {}, unaccounted {}",
                        b.restored,
                        in_store.len(),
                        b.accepted,
                        b.succeeded,
                        b.dead,
                        b.remaining,
                        b.unaccounted()
                    )
                },
            ),
        );
        Ok(())
    }
}
