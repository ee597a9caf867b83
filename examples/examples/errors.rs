//! Lesson `errors`: the log line a failing background task leaves, with
//! and without context at the spawn boundary, and what the evenkeel
//! crates' typed errors hand back.
//!
//! Run it with `cargo xtask lesson errors`.

use evenkeel_examples::errors::{INPUTS, naive, typed_errors, with_context};

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    println!("Lesson: errors. Five thumbnails are made in spawned tasks: {INPUTS:?}.");
    println!("One upload is refused, one input is not an image, one makes the decoder panic.\n");

    // The panicking task's report is the lesson's subject, not noise for
    // the terminal: keep the default hook's message off the screen.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let naive = naive().await;
    let context = with_context().await;
    std::panic::set_hook(hook);

    println!(
        "1. naive: `handle.await??` into anyhow, no context ({} succeeded)",
        naive.succeeded
    );
    for line in &naive.lines {
        println!("   {line}");
    }
    println!(
        "\n2. context at the spawn boundary + a named join ({} succeeded)",
        context.succeeded
    );
    for line in &context.lines {
        println!("   {line}");
    }

    println!("\n3. what evenkeel's typed errors hand back");
    let typed = typed_errors().await;
    for line in &typed.lines {
        println!("   {line}");
    }

    println!(
        "\nWhy: the naive lines say what broke at the bottom (\"connection refused\") but not which\n\
         task or input, and the panic is reported under tokio's internal task id. Context added inside\n\
         the task, where the input is known, and a name given at the join, make every line\n\
         actionable. Library errors stay typed enums (thiserror) so callers can decide: a full\n\
         queue gives the item back, a retry that gave up says how often it tried and why it ended."
    );
    println!(
        "\nExercise: in examples/src/errors.rs, make `ImageError::is_transient` return true for\n\
         `Unsupported` as well and run the lesson again. Expect part 3's last line to change from\n\
         \"permanent error on attempt 1\" to \"gave up after 3 attempts\": a permanent error retried\n\
         is wasted work, which is why the error type must say which kind it is."
    );
}
