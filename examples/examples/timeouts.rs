//! Lesson `timeouts`: what a timeout must keep (the call's error), what
//! it must bound (each attempt, and all of them), and what it must cover
//! (the wait for readiness).
//!
//! Three parts, each naive beside evenkeel, on tokio's paused clock. Run it
//! with `cargo xtask lesson timeouts`.

use evenkeel_examples::timeouts::{
    Scenario, one_timeout_around_all, per_attempt_and_deadline, replaced, timeout_around_call_only,
    timeout_covering_readiness, wrapped,
};

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let s = Scenario::default();
    println!("Lesson: timeouts. Limit per call {:?}.", s.limit);
    println!("Clock: tokio's paused clock (times are virtual and exact).\n");

    println!("1. Two calls fail: one refused at once (403), one hung. What gets logged?");
    for (label, r) in [
        ("naive (flattened)", replaced(&s).await),
        ("evenkeel (wrapped)", wrapped(&s).await),
    ] {
        println!("   {label}:");
        println!("     refused call -> {}", r.refused);
        println!("     hung call    -> {}", r.hung);
        println!("     can tell them apart in code: {}", r.can_tell_apart);
    }

    println!(
        "\n2. A retried call: attempt 1 hangs for {:?}, attempt 2 would answer in 10 ms; total budget {:?}.",
        s.hang, s.total
    );
    let naive = one_timeout_around_all(&s).await;
    let evenkeel = per_attempt_and_deadline(&s).await;
    println!(
        "   naive (one timeout around the loop): value {:?} after {} attempt(s), {:?}",
        naive.value, naive.attempts, naive.took
    );
    println!(
        "   evenkeel (attempt_timeout {:?} + deadline {:?}): value {:?} after {} attempts, {:?}",
        s.limit, s.total, evenkeel.value, evenkeel.attempts, evenkeel.took
    );

    println!(
        "\n3. A service with one concurrency slot, held by another request for {:?}.",
        s.slot_held
    );
    let naive = timeout_around_call_only(&s).await;
    let evenkeel = timeout_covering_readiness(&s).await;
    println!(
        "   naive (timeout around call only): timed out: {}, answer after {:?}",
        naive.timed_out, naive.took
    );
    println!(
        "   evenkeel (TimeoutLayer covers poll_ready): timed out: {}, answer after {:?}",
        evenkeel.timed_out, evenkeel.took
    );

    println!(
        "\nWhy: flattening a timeout's nested result erases the difference between \"refused\" and\n\
         \"too slow\", and the log line cannot say which step failed. One limit around a retry loop\n\
         lets the first hung attempt spend the whole budget. And a timer started in `call` never\n\
         sees the time spent waiting in `poll_ready`."
    );
    println!(
        "\nExercise: in examples/src/timeouts.rs, drop `.attempt_timeout(s.limit)` from\n\
         `per_attempt_and_deadline` and run the lesson again. Expect the evenkeel row of part 2 to\n\
         look like the naive one: the deadline still ends the call at {:?}, but with no value,\n\
         because nothing abandons the hung first attempt.",
        s.total
    );
}
