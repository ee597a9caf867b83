//! Lesson `shutdown`: a burst of accepted jobs, then the stop.
//!
//! Runs the textbook `watch` + `select!` worker pool and the
//! `evenkeel-shutdown` version on the same scenario, several times each
//! (the naive loss is random), and prints what each lost.
//! Run it with `cargo xtask lesson shutdown`.

use evenkeel_examples::shutdown::{Outcome, Scenario, naive, with_evenkeel};

const RUNS: usize = 5;

// The clock is tokio's paused clock: sleeps advance virtual time at once,
// so the lesson is instant and its times are exact.
#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let scenario = Scenario::default();
    println!(
        "Lesson: shutdown. {} workers share a queue; a burst of {} jobs ({:?} each) is accepted, then the service is told to stop.",
        scenario.workers, scenario.burst, scenario.work
    );
    println!("Clock: tokio's paused clock (times are virtual and exact).\n");

    println!("Naive: watch::channel + select! {{ job, stop.changed() }} in every worker");
    let mut naive_lost = 0;
    for run in 1..=RUNS {
        let outcome = naive(&scenario).await;
        naive_lost += outcome.lost;
        print_run(run, &outcome);
    }
    println!();

    println!(
        "evenkeel-shutdown: a DrainGuard per accepted job, workers finish the queue, drain(deadline)"
    );
    let mut evenkeel_lost = 0;
    for run in 1..=RUNS {
        let outcome = with_evenkeel(&scenario).await;
        evenkeel_lost += outcome.lost;
        print_run(run, &outcome);
    }
    println!();

    let accepted = RUNS * scenario.burst;
    println!("Over {RUNS} runs ({accepted} accepted jobs):");
    println!(
        "  naive     lost {naive_lost:>3} accepted jobs, and its late worker never heard the stop"
    );
    println!(
        "  evenkeel  lost {evenkeel_lost:>3} accepted jobs, and its late worker heard the stop at once"
    );
    println!(
        "\nWhy: select! picks a ready branch at random, so each worker quits on a coin flip while\n\
         jobs are still queued; a watch receiver made after the send never sees a change.\n\
         Guards make the drain wait for every accepted job, and Shutdown::triggered resolves\n\
         for futures made after the trigger too."
    );
    println!(
        "\nExercise: in examples/src/shutdown.rs, set `burst` to 200 in `Scenario::default` and run\n\
         the lesson again. Expect the naive pool to lose more jobs (more are queued when the stop comes)\n\
         and the evenkeel pool still to lose none: 200 jobs of 10 ms on 4 workers fit in the 5 s\n\
         drain deadline."
    );
}

fn print_run(run: usize, outcome: &Outcome) {
    println!(
        "  run {run}: accepted {:>2}, processed {:>2}, lost {:>2}; late worker heard the stop: {:<5}; drain reported complete: {:<5}; stop took {:?}",
        outcome.accepted,
        outcome.processed,
        outcome.lost,
        outcome.late_worker_heard_stop,
        outcome.drain_complete,
        outcome.stop_took,
    );
}
