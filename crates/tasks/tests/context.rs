//! The join-boundary helpers name a plain `tokio::spawn` result, keep the
//! panic message, and convert into `anyhow::Error` and boxed errors with `?`.

use std::error::Error;

use evenkeel_tasks::{JoinResultExt, TaskError, TryJoinResultExt};

/// `named` keeps the name and the panic message of a panicked task.
#[tokio::test]
async fn named_keeps_name_and_panic_message() {
    let handle = tokio::spawn(async { panic!("bad shard {}", 3) });
    let err = handle.await.named("rebalancer").unwrap_err();
    assert!(
        matches!(&err, TaskError::Panicked { name, message } if name == "rebalancer" && message == "bad shard 3")
    );
}

/// `named` reports an aborted task as cancelled, with its name.
#[tokio::test]
async fn named_reports_abort_as_cancelled() {
    let handle = tokio::spawn(std::future::pending::<()>());
    handle.abort();
    let err = handle.await.named("idle").unwrap_err();
    assert!(matches!(err, TaskError::Cancelled { name } if name == "idle"));
}

/// The double-`?` style works into `anyhow::Error`, and the message of the
/// join failure names the task.
#[tokio::test]
async fn double_question_mark_into_anyhow() {
    async fn run() -> anyhow::Result<u32> {
        let handle = tokio::spawn(async { panic!("lost the lock") });
        let value: Result<u32, std::io::Error> = handle.await.named("locker")?;
        Ok(value?)
    }
    let err = run().await.unwrap_err();
    assert_eq!(err.to_string(), "task `locker` panicked: lost the lock");
    assert!(
        err.downcast_ref::<TaskError<std::convert::Infallible>>()
            .is_some()
    );
}

/// `try_named` folds the task's own error in, so one `?` keeps the name and
/// the source chain into a boxed error.
#[tokio::test]
async fn try_named_flattens_and_keeps_the_source() {
    async fn run() -> Result<(), Box<dyn Error + Send + Sync>> {
        let handle = tokio::spawn(async { Err::<(), _>(std::io::Error::other("disk full")) });
        handle.await.try_named("writer")?;
        Ok(())
    }
    let err = run().await.unwrap_err();
    assert_eq!(err.to_string(), "task `writer` failed");
    assert_eq!(err.source().unwrap().to_string(), "disk full");
}

/// Successful joins pass the value through untouched.
#[tokio::test]
async fn success_passes_through() {
    let value = tokio::spawn(async { Ok::<_, std::io::Error>(5) })
        .await
        .try_named("five")
        .unwrap();
    assert_eq!(value, 5);
}
