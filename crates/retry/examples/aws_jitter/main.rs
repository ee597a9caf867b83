//! Reproduces AWS's "Exponential Backoff And Jitter" experiment.
//!
//! N clients contend for one record under optimistic concurrency (see
//! `sim.rs`), each retrying conflicts on a 10 ms doubling schedule capped at
//! 1 s, with one jitter kind per run. Without jitter the losers of each round
//! retry in lockstep and collide again, so only one client wins per round:
//! about N²/2 write attempts. Full and decorrelated jitter spread the
//! retries out and do a fraction of that work.
//!
//! Runs in tokio's paused time: instant, and the numbers are exact.
//!
//! ```text
//! cargo run -p evenkeel-retry --example aws_jitter -- 100
//! ```

mod sim;

use evenkeel_retry::Jitter;

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let clients = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(100);
    println!(
        "{clients} clients, one record, {:?} write window, backoff {:?} x2 capped at {:?}\n",
        sim::WORK,
        sim::BASE,
        sim::CAP
    );
    println!(
        "{:<18} {:>12} {:>16}",
        "jitter", "total calls", "completion time"
    );
    let local = tokio::task::LocalSet::new();
    for jitter in [
        Jitter::None,
        Jitter::Equal,
        Jitter::Full,
        Jitter::Decorrelated,
        Jitter::Proportional(20),
    ] {
        let outcome = local.run_until(sim::race(clients, jitter)).await;
        println!(
            "{:<18} {:>12} {:>16.3?}",
            format!("{jitter:?}"),
            outcome.calls,
            outcome.completion
        );
    }
}
