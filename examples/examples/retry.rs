//! Lesson `retry`: the textbook `retry_with_backoff` beside
//! `evenkeel-retry`, against a dependency that fails for a while.
//!
//! Three runs per version: `max_attempts = 0`, a lone client through an
//! outage that never ends, and a herd of 100 clients through a 1 s outage
//! and the recovery. Run it with `cargo xtask lesson retry`.

use evenkeel_examples::retry::{Outcome, Scenario, naive, with_evenkeel};

// The clock is tokio's paused clock: sleeps advance virtual time at once,
// so the lesson is instant and its numbers are exact (and the jitter is
// seeded, so they are the same on every run).
#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let s = Scenario::default();
    println!(
        "Lesson: retry. A dependency fails; clients retry with exponential backoff from {:?}.",
        s.initial
    );
    println!("Clock: tokio's paused clock (times are virtual and exact).\n");

    // The naive runs panic on purpose; keep their panic reports off the screen
    // (the outcome carries the message).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let naive = naive(&s).await;
    std::panic::set_hook(hook);
    let evenkeel = with_evenkeel(&s).await;

    println!("1. max_attempts = 0");
    for (label, o) in [("naive   ", &naive), ("evenkeel", &evenkeel)] {
        println!(
            "   {label}: {} call(s), {}",
            o.zero_attempts.calls, o.zero_attempts.ended
        );
    }

    println!(
        "\n2. One client, {} attempts allowed, the dependency never comes back",
        s.long_outage_attempts
    );
    for (label, o) in [("naive   ", &naive), ("evenkeel", &evenkeel)] {
        let l = &o.long_outage;
        println!(
            "   {label}: {} calls, longest wait {}, ended after {}: {}",
            l.calls,
            human(l.longest_wait),
            human(l.gave_up_after),
            l.ended
        );
    }

    println!(
        "\n3. {} clients fail together; the dependency is down for {:?}, then serves {} calls per {:?}",
        s.clients, s.outage, s.capacity_per_window, s.window
    );
    for (label, o) in [("naive   ", &naive), ("evenkeel", &evenkeel)] {
        print_herd(label, o);
    }

    println!(
        "\nWhy: the textbook loop ends in unreachable!() when it never runs, doubles its delay with no\n\
         cap until Duration overflows, and with no jitter every client that failed together retries\n\
         together, so the recovered server meets the whole herd in one instant, refuses most of it,\n\
         and meets it again later. evenkeel-retry treats 0 attempts as one call, caps every delay\n\
         (after jitter), bounds the total time with a deadline, and full jitter spreads the herd."
    );
    println!(
        "\nExercise: in examples/src/retry.rs, set `max_delay` to 10 s in `Scenario::default`\n\
         and run the lesson again. Expect the evenkeel herd to spread over a longer time (a lower peak\n\
         per window) and the last client to finish later: the cap trades recovery time for load."
    );
}

fn print_herd(label: &str, o: &Outcome) {
    let h = &o.herd;
    println!(
        "   {label}: after recovery, peak {:>3} calls in one {:?} window; {:>3} calls in all, {:>3} refused as overload;",
        h.peak_calls_per_window,
        Scenario::default().window,
        h.calls,
        h.refused_overloaded
    );
    println!(
        "             longest wait {:?}; {}/{} clients succeeded, the last after {:?}",
        h.longest_wait, h.succeeded, h.clients, h.all_done_after
    );
}

/// A duration in the largest unit that keeps it readable.
fn human(d: std::time::Duration) -> String {
    const YEAR: f64 = 365.0 * 24.0 * 3600.0;
    let secs = d.as_secs_f64();
    if secs >= YEAR {
        format!("{:.0} years", secs / YEAR)
    } else {
        format!("{d:?}")
    }
}
