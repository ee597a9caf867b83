//! Lesson `worker-pool`: the chapter's closing exercise, a worker pool
//! with graceful shutdown on Ctrl+C, the textbook version beside the one
//! composed from the evenkeel crates, stopped by one real SIGINT.
//!
//! The lesson raises the SIGINT itself after half a second, so it runs
//! unattended: `cargo xtask lesson worker-pool`. This one runs on the real
//! clock (a real signal cannot reach a paused one), so its numbers change
//! from run to run; the evenkeel account always balances.

use std::time::Duration;

use evenkeel_examples::worker_pool::{Account, Config, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::default();
    println!(
        "Lesson: worker-pool. {} workers, a queue of {}, {:?} per attempt, up to 4 attempts;",
        config.workers, config.capacity, config.work
    );
    println!(
        "both pools run side by side; after 500 ms this process sends itself SIGINT; drain deadline {:?}.\n",
        config.drain_deadline
    );
    let (textbook, evenkeel) = run(config, Duration::from_millis(500)).await?;
    println!("                 accepted  processed  handed back  retries  lost");
    print_row("textbook", &textbook);
    print_row("evenkeel", &evenkeel);
    println!(
        "\nWhy: at the signal the textbook workers break out of their `select!` and the jobs still in\n\
         the channel are dropped with it: accepted, never run, never reported. The evenkeel pool stops\n\
         intake, closes the queue, lets the workers drain it until the deadline, and takes back what\n\
         is left with `Receiver::drain`, so every accepted job is processed or handed back."
    );
    println!(
        "\nExercise: in examples/src/worker_pool.rs, raise `drain_deadline` in `Config::default` to\n\
         500 ms and run the lesson again. Expect the evenkeel row's `handed back` to fall to 0 (the\n\
         workers now have time to finish the queue) while `lost` stays 0; the textbook row does not\n\
         change, because it never waits for anything."
    );
    Ok(())
}

fn print_row(label: &str, a: &Account) {
    println!(
        "  {label:<12} {:>9}  {:>9}  {:>11}  {:>7}  {:>4}",
        a.accepted,
        a.processed,
        a.handed_back,
        a.retries,
        a.lost()
    );
}
