//! A worker: claim a job from the store, run it, repeat, until the drain
//! has emptied the store or the worker is told to stop.
//!
//! There is deliberately no `select!` between "the next job" and "shutdown
//! has begun": that race is how the textbook worker pool abandons accepted
//! work. Intake stops at the drain (the handlers refuse); a worker keeps
//! claiming until intake has stopped **and** the store has no job left to
//! run (none ready, delayed or leased: a job that fails during the drain
//! comes back as delayed and is retried), then returns. With a shared
//! store (PostgreSQL) it returns as soon as nothing is ready for it: the
//! other servers finish the rest.
//!
//! The `stop` token is a different thing: the drain deadline (or a second
//! signal). It interrupts even a running job, which is **released** back to
//! the store, its attempt not charged, for the next start to run. It never
//! interrupts an answer on its way to the store: a commit and its count in
//! the books are one step (`execute::settle::spawn_commit`), so the final record counts
//! exactly what the store committed.
//!
//! Workers run under an `evenkeel_tasks::Supervisor` (see `supervise`): a
//! worker that panics is restarted (at once when a job's attempt panicked,
//! by the supervisor otherwise); one that returns because the work is done
//! is not.

use std::time::Duration;

use evenkeel_shutdown::Shutdown;
use tokio_util::sync::CancellationToken;

use super::execute::{self, JobContext};
use super::metrics::DeadReason;

/// How long an idle worker waits before it looks at the store again even
/// without a wake-up (a notification can be missed with a shared store).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Pause after a store error before the next claim.
const ERROR_PAUSE: Duration = Duration::from_millis(200);

/// Runs jobs until the drain has emptied the store or `stop` is cancelled.
///
/// # Cancellation safety
///
/// Dropping the future mid-attempt leaves the job leased until its lease
/// expires (then it runs again); `stop` is the orderly way out, which
/// releases it at once. An answer already handed to the store is
/// committed and counted even if the future is dropped (see
/// `execute::run`).
pub(crate) async fn work(ctx: JobContext, server: Shutdown, stop: CancellationToken) {
    let _drain = server.guard().ok();
    // The last job's answer, on its way to the store.
    let mut settling: Option<execute::Settling> = None;
    loop {
        if stop.is_cancelled() {
            return;
        }
        // The next claim goes to the store beside the last job's answer
        // (with the embedded store they usually share one commit, so a job
        // costs one commit wait, not two). The claim's result is looked at
        // only once that answer is in, so `drained` below never counts
        // this worker's own last job as still running.
        let previous = settling.take();
        let claim_after_answer = async {
            let (claims, ()) = tokio::join!(ctx.store.claim(1, ctx.policy.lease), async {
                if let Some(previous) = previous {
                    previous.wait().await;
                }
            });
            claims
        };
        let claims = tokio::select! {
            biased;
            () = stop.cancelled() => return,
            claims = claim_after_answer => claims,
        };
        let claims = match claims {
            Ok(claims) => claims,
            Err(e) => {
                // The store's health watcher logs a failing store once
                // per episode ("job store failing"); every worker's claim
                // repeating it each pause would flood the log.
                if e.is_failure() {
                    tracing::debug!(error = %e, "claim failed; the store is failing");
                } else {
                    tracing::error!(error = %e, "claim failed");
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(ERROR_PAUSE) => continue,
                }
            }
        };
        // Jobs whose every allowed claim crashed a process: the store
        // dead-lettered them instead of leasing them again.
        ctx.books.dead(claims.dead_lettered.len() as u64);
        for _ in &claims.dead_lettered {
            ctx.metrics.dead_letter(DeadReason::AttemptsExhausted);
        }
        if claims.jobs.is_empty() {
            if !server.phase().admits_work() && drained(&ctx).await {
                return;
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = ctx.store.wait_for_work(IDLE_POLL) => {}
                () = wait_for_drain(&server) => {}
            }
            continue;
        }
        for job in claims.jobs {
            // A stop during the attempt releases the job; a stop once its
            // answer went to the store changes nothing (`execute::run`
            // commits and counts it in one step). Any further job of this
            // batch is released at once.
            let answer = execute::run(&ctx, job, &stop).await;
            if let Some(previous) = settling.replace(answer) {
                previous.wait().await;
            }
        }
    }
}

/// Whether nothing is left for this server to run.
async fn drained(ctx: &JobContext) -> bool {
    if ctx.store.is_shared() {
        return true;
    }
    ctx.store.stats().await.is_ok_and(|s| s.live() == 0)
}

/// Resolves when intake stops (so an idle worker re-checks the store).
async fn wait_for_drain(server: &Shutdown) {
    if server.phase().admits_work() {
        server
            .wait_for_phase(evenkeel_shutdown::Phase::Draining)
            .await;
    } else {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
