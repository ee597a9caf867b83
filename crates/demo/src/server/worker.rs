//! A worker: take the next job, run it, repeat, until there is no more work
//! or it is told to stop.
//!
//! Where the next job comes from, in order: the priority backlog (jobs
//! restored from the spill file, or re-queued after a panic), then the
//! bounded queue. Waiting on the queue also listens to the backlog, so a job
//! pushed there while every worker sleeps is picked up at once.
//!
//! There is deliberately no `select!` between "the next job" and "shutdown
//! has begun": that race is how the textbook worker pool abandons accepted
//! work. Intake stops by *closing the queue*; a worker keeps taking jobs
//! until the queue is closed **and** empty and the backlog is empty, then
//! returns. The `stop` token is a different thing: the drain deadline (or a
//! second signal). It interrupts even a running job, which stays live in
//! the store and is written to the spill file.
//!
//! Workers run under an `evenkeel_tasks::Supervisor` (see `supervise`): a
//! worker that panics (a job asked it to) is restarted; one that returns
//! because the work is done is not.

use evenkeel_backpressure::Receiver;
use tokio_util::sync::CancellationToken;

use super::execute::{self, JobContext};
use super::intake::Ticket;

/// Runs jobs until the queue is closed and empty and the backlog is empty,
/// or until `stop` is cancelled.
///
/// # Cancellation safety
///
/// Dropping the future drops the job in progress, which stays live in the
/// store for the spill; a ticket being received is never lost (the queue's
/// `recv` is cancel-safe).
pub(crate) async fn work(ctx: JobContext, rx: Receiver<Ticket>, stop: CancellationToken) {
    loop {
        let ticket = if let Some(ticket) = ctx.backlog.pop() {
            ticket
        } else {
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                () = ctx.backlog.pushed() => continue,
                next = rx.recv() => match next {
                    Some(ticket) => ticket,
                    None if ctx.backlog.is_empty() => return,
                    None => continue,
                },
            }
        };
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            () = execute::run(&ctx, ticket) => {}
        }
    }
}
