//! Lesson `backpressure`: a worker pool under steady overload.
//!
//! Runs the textbook pool (unbounded channel, `Arc<Mutex<Receiver>>`) and
//! the `evenkeel-backpressure` version (bounded queue that rejects when
//! full) on the same overload, once short and once ten times as long, and
//! prints what each held, lost and handed back.
//! Run it with `cargo xtask lesson backpressure`.

use evenkeel_examples::backpressure::{Outcome, Scenario, naive, with_evenkeel};

// The clock is tokio's paused clock: sleeps advance virtual time at once,
// so the lesson is instant and its numbers are exact.
#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let short = Scenario::default();
    let long = Scenario {
        ticks: short.ticks * 10,
        ..short
    };
    println!(
        "Lesson: backpressure. {} workers can finish {} jobs/s; jobs arrive at {} jobs/s.",
        short.workers,
        short.service_rate_per_sec(),
        short.arrival_rate_per_sec()
    );
    println!("Clock: tokio's paused clock (times are virtual and exact).\n");

    for scenario in [short, long] {
        println!(
            "Overload lasting {:?} ({} jobs offered):",
            scenario.tick * u32::try_from(scenario.ticks).unwrap_or(u32::MAX),
            scenario.offered()
        );
        print_outcome(
            "naive (unbounded + Arc<Mutex<Receiver>>)",
            &naive(&scenario).await,
        );
        print_outcome(
            &format!(
                "evenkeel (bounded({}), Overflow::Reject)",
                scenario.capacity
            ),
            &with_evenkeel(&scenario).await,
        );
        println!();
    }
    println!(
        "Why: an unbounded queue never says no, so the backlog (memory) and every job's wait grow\n\
         with the length of the overload; and a receiver behind a mutex held across recv().await\n\
         lets only one worker wait for a job at a time. The bounded queue holds at most its capacity,\n\
         hands every refused job back to the caller (answer 503 + Retry-After), loses nothing\n\
         silently, and lets every idle worker wait on its own receiver clone."
    );
    println!(
        "\nExercise: in examples/src/backpressure.rs, set `capacity` to 8 in\n\
         `Scenario::default` and run the lesson again. Expect the evenkeel queue's peak to stay at 8\n\
         and more jobs to be handed back to the producer, while the naive backlog does not change:\n\
         its channel has no bound to change."
    );
}

fn print_outcome(label: &str, o: &Outcome) {
    println!("  {label}");
    println!(
        "    processed {:>5}, handed back {:>5}, lost silently {}",
        o.processed, o.handed_back, o.silently_dropped
    );
    println!(
        "    queue high water {:>5} jobs, longest queue wait {:?}, done after {:?}",
        o.high_water, o.max_queue_wait, o.took
    );
    println!(
        "    most workers waiting on the channel at once: {}",
        o.max_workers_waiting
    );
}
