//! Pins the `errors` lesson: context at the spawn boundary names the task
//! and input of every failure, and the evenkeel errors hand back the
//! refused item and the attempt count.

use evenkeel_examples::errors::{ImageError, naive, typed_errors, with_context};

/// Runs `f` with the panic hook silenced (one task panics on purpose).
async fn quietly<F: Future>(f: F) -> F::Output {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = f.await;
    std::panic::set_hook(hook);
    out
}

/// Every line with context names the input it was working on; the naive
/// lines name none, and report the panic without the task's purpose.
#[tokio::test(start_paused = true)]
async fn context_names_task_and_input() {
    let naive = quietly(naive()).await;
    let context = quietly(with_context()).await;
    assert_eq!(naive.succeeded, 2);
    assert_eq!(context.succeeded, 2);
    assert_eq!(naive.lines.len(), 3);
    assert_eq!(context.lines.len(), 3);

    assert!(
        naive
            .lines
            .iter()
            .all(|l| !l.contains("photo-17.jpg") && !l.contains("corrupt.png"))
    );
    assert!(naive.lines.iter().any(|l| l.contains("connection refused")));

    let upload = &context.lines[0];
    assert!(upload.contains("thumbnail[photo-17.jpg]"), "{upload}");
    assert!(
        upload.contains("resize photo-17.jpg for the gallery"),
        "{upload}"
    );
    assert!(upload.contains("connection refused"), "{upload}");
    let panic = &context.lines[2];
    assert!(
        panic.contains("thumbnail[corrupt.png]") && panic.contains("panicked"),
        "{panic}"
    );
    assert!(panic.contains("decoder: index out of bounds"), "{panic}");
}

/// A full queue gives the refused item back; a transient failure is
/// retried to the cap and the last error is kept; a permanent one stops.
#[tokio::test(start_paused = true)]
async fn typed_errors_hand_back_what_the_caller_needs() {
    let typed = typed_errors().await;
    assert_eq!(typed.refused_item.as_deref(), Some("photo-2.jpg"));
    assert_eq!(typed.attempts, 3);
    assert!(matches!(typed.last_error, Some(ImageError::Upload { .. })));
    assert!(
        typed
            .lines
            .iter()
            .any(|l| l.contains("permanent error on attempt 1"))
    );
}
