//! Lesson `tasks`: `JoinSet` and `tokio::spawn` beside `evenkeel-tasks`'s
//! `TaskGroup`, in four parts: a fan-out of 50 items, collecting results
//! after one task was aborted, the first error of five fetches, and an
//! owner dropped while its fetches run.
//! Run it with `cargo xtask lesson tasks`.

use evenkeel_examples::tasks::{Outcome, Scenario, naive, with_evenkeel};

// The clock is tokio's paused clock: sleeps advance virtual time at once,
// so the lesson is instant and its numbers are exact.
#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let s = Scenario::default();
    println!("Lesson: tasks. Who owns the tasks a request spawns?");
    println!("Clock: tokio's paused clock (times are virtual and exact).\n");

    // The naive part 2 panics on purpose; keep its panic report off the
    // screen (the outcome records it).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let naive = naive(&s).await;
    std::panic::set_hook(hook);
    let evenkeel = with_evenkeel(&s).await;
    let both = [
        ("naive    (JoinSet, tokio::spawn)", &naive),
        ("evenkeel (TaskGroup)           ", &evenkeel),
    ];

    println!(
        "1. {} items of {:?} each (evenkeel limit: {})",
        s.items, s.work, s.limit
    );
    for (label, o) in both {
        println!(
            "   {label}: at most {:>2} running at once, all done after {:?}",
            o.max_running, o.items_took
        );
    }

    println!("\n2. Three tasks, one aborted, then join_all()");
    for (label, o) in both {
        if o.join_all_panicked {
            println!("   {label}: join_all panicked");
        } else {
            println!(
                "   {label}: {} outcomes, the aborted one reported as cancelled: {:?}",
                o.outcomes_reported,
                o.cancelled_task.as_deref().unwrap_or("-")
            );
        }
    }

    println!(
        "\n3. {} fetches of {:?}; fetch-0 fails after {:?}",
        s.fetches, s.work, s.fails_after
    );
    for (label, o) in both {
        print_first_error(label, o);
    }

    println!(
        "\n4. The owner of {} fetches of {:?} is dropped after {:?} (its request timed out)",
        s.fetches, s.work, s.owner_timeout
    );
    for (label, o) in both {
        println!(
            "   {label}: {} fetches ran to the end after their owner was gone",
            o.tasks_outlived_dropped_owner
        );
    }

    println!(
        "\nWhy: a JoinSet has no limit and its join_all panics on a cancelled task; a dropped\n\
         JoinHandle detaches its task, so an owner that returns early or is dropped leaves its\n\
         tasks running. A TaskGroup limits, names and reports every outcome, cancels the siblings\n\
         on the first error, and aborts its tasks when dropped."
    );
    println!(
        "\nExercise: in examples/src/tasks.rs, set `limit` to 50 in `Scenario::default` and run the\n\
         lesson again. Expect part 1 of the TaskGroup to look like the JoinSet's (50 running, done in\n\
         100 ms): the limit is the whole difference there, and it is one argument."
    );
}

fn print_first_error(label: &str, o: &Outcome) {
    println!(
        "   {label}: owner returned {:?} after {:?}; {} sibling(s) finished their work afterwards",
        o.first_error, o.owner_returned_after, o.siblings_outlived_owner
    );
}
