//! Lesson `errors`: errors that say what failed, where, and what to do.
//!
//! # The problem
//!
//! In a service, the error that reaches the log (or the client) has usually
//! crossed several boundaries: a library call, a spawned task, a retry loop,
//! a queue. At each one it can lose what the reader needs: which task, which
//! input, was it a panic or a failure, is it worth retrying, and, for a
//! refused item, the item itself.
//!
//! # Libraries: `thiserror`; applications: `anyhow`
//!
//! A **library** returns an enum its callers can `match` on
//! ([`ImageError`] here, derived with `thiserror`): each variant is a
//! decision the caller may take differently (retry a timeout, not a bad
//! input), and carries the data for it. An **application** mostly reports
//! errors rather than matching them, so it uses `anyhow::Error` and adds
//! *context* at each boundary with `.with_context(|| ...)`: the chain
//! `"resize photo-17.jpg: upload to bucket: connection refused"` is built
//! from the inside out, each layer saying what it was doing. Every evenkeel
//! crate is a library: one `thiserror` enum each, never `anyhow`.
//!
//! # The double `?` on a spawned task
//!
//! `tokio::spawn(f).await` is `Result<Result<T, E>, JoinError>`. The outer
//! error is about the *task* (it panicked, or was cancelled); the inner one
//! is the task's own failure. `handle.await??` propagates both, and in an
//! `anyhow` function compiles for any `E: std::error::Error`.
//!
//! # The naive version, and how it fails
//!
//! [`naive`] spawns the workers and joins them with `handle.await??` and no
//! context. The log line it can write is `"connection refused"`: not which
//! of the fifty tasks, not which input, and a panic reads
//! `"task 12 panicked with message ..."`, where 12 is tokio's internal id.
//!
//! # The evenkeel version
//!
//! [`with_context`] adds context **at the spawn boundary**, inside the task
//! (`.with_context(|| format!("resize {input}"))`), and names the task at the
//! join boundary with [`evenkeel_tasks::TryJoinResultExt::try_named`], which
//! folds the double `?` into one typed `TaskError` (`Failed`, `Panicked`
//! with its message, `Cancelled`) carrying the task's name. Then
//! [`typed_errors`] shows what the evenkeel crates' own errors hand back:
//! the refused item from a full queue, the attempt count and last error of
//! a retry that gave up.

use std::time::Duration;

use anyhow::Context as _;
use evenkeel_backpressure::TrySendError;
use evenkeel_retry::{Backoff, RetryError, retry};
use evenkeel_tasks::TryJoinResultExt as _;

/// A library's error type: one variant per decision the caller can take.
///
/// ```
/// use evenkeel_examples::errors::ImageError;
///
/// let e = ImageError::Upload { bucket: "thumbs".into(), reason: "connection refused".into() };
/// assert_eq!(e.to_string(), "upload to bucket `thumbs` failed: connection refused");
/// assert!(e.is_transient());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The input is not an image: retrying will not help.
    #[error("`{0}` is not a supported image")]
    Unsupported(String),
    /// The upload failed: a transient network error, worth a retry.
    #[error("upload to bucket `{bucket}` failed: {reason}")]
    Upload {
        /// The bucket it was going to.
        bucket: String,
        /// What the storage service said.
        reason: String,
    },
}

impl ImageError {
    /// Whether a retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ImageError::Upload { .. })
    }
}

/// The library call: resizes and uploads one input. `photo-17.jpg` fails to
/// upload, `notes.txt` is not an image, `corrupt.png` makes the decoder
/// panic; everything else succeeds.
///
/// # Errors
///
/// [`ImageError`] as above.
///
/// # Panics
///
/// On `corrupt.png`, on purpose: a bug in a dependency.
pub async fn resize(input: &str) -> Result<u32, ImageError> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    match input {
        "photo-17.jpg" => Err(ImageError::Upload {
            bucket: "thumbs".into(),
            reason: "connection refused".into(),
        }),
        "notes.txt" => Err(ImageError::Unsupported(input.into())),
        "corrupt.png" => panic!("decoder: index out of bounds"),
        _ => Ok(u32::try_from(input.len()).unwrap_or(u32::MAX)),
    }
}

/// The inputs both versions process.
pub const INPUTS: [&str; 5] = [
    "photo-1.jpg",
    "photo-17.jpg",
    "notes.txt",
    "corrupt.png",
    "photo-3.jpg",
];

/// What a version could log for each failed input, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// One line per failure.
    pub lines: Vec<String>,
    /// Inputs that succeeded.
    pub succeeded: usize,
}

/// Naive: spawn, then `handle.await??` into `anyhow` with no context.
pub async fn naive() -> Logged {
    let handles: Vec<_> = INPUTS
        .iter()
        .map(|input| tokio::spawn(resize(input)))
        .collect();
    let mut logged = Logged {
        lines: Vec::new(),
        succeeded: 0,
    };
    for handle in handles {
        let result: anyhow::Result<u32> = async { Ok(handle.await??) }.await;
        match result {
            Ok(_) => logged.succeeded += 1,
            Err(e) => logged.lines.push(format!("error: {e:#}")),
        }
    }
    logged
}

/// With context: added inside the task, where the input is known, and the
/// task named at the join boundary.
pub async fn with_context() -> Logged {
    let handles: Vec<_> = INPUTS
        .iter()
        .map(|input| {
            let name = format!("thumbnail[{input}]");
            let task = tokio::spawn(async move {
                resize(input)
                    .await
                    .with_context(|| format!("resize {input} for the gallery"))
            });
            (name, task)
        })
        .collect();
    let mut logged = Logged {
        lines: Vec::new(),
        succeeded: 0,
    };
    for (name, handle) in handles {
        match handle.await.try_named(name) {
            Ok(_) => logged.succeeded += 1,
            // `{:#}` on the anyhow error inside prints its whole chain.
            Err(evenkeel_tasks::TaskError::Failed { name, error }) => {
                logged
                    .lines
                    .push(format!("task `{name}` failed: {error:#}"));
            }
            Err(other) => logged.lines.push(other.to_string()),
        }
    }
    logged
}

/// What the evenkeel crates' typed errors handed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typed {
    /// The item a full queue refused, given back to the caller.
    pub refused_item: Option<String>,
    /// How many attempts a retry made before it gave up.
    pub attempts: u32,
    /// The last error the retry saw.
    pub last_error: Option<ImageError>,
    /// The lines a caller could log from them.
    pub lines: Vec<String>,
}

/// The evenkeel crates' own errors: a refused item comes back; a retry that
/// gave up says how many attempts it made and hands over the last error.
pub async fn typed_errors() -> Typed {
    let mut lines = Vec::new();
    let (tx, _rx) = evenkeel_backpressure::bounded::<String>(1);
    let _ = tx.try_send("photo-1.jpg".to_owned());
    let refused_item = match tx.try_send("photo-2.jpg".to_owned()) {
        Err(TrySendError::Full(item)) => {
            lines.push(format!(
                "queue full: `{item}` handed back, caller can answer 503"
            ));
            Some(item)
        }
        _ => None,
    };

    let backoff = Backoff::exponential(Duration::from_millis(100)).max_attempts(3);
    let result = retry(backoff, || resize("photo-17.jpg"))
        .when(ImageError::is_transient)
        .await;
    let (attempts, last_error) = match result {
        Ok(_) => (1, None),
        Err(e) => {
            lines.push(format!(
                "{e}: last error: {}",
                e.last().map_or_else(String::new, ToString::to_string)
            ));
            (e.attempts(), e.into_inner())
        }
    };
    // A permanent error is not retried: one attempt, and the reason.
    let backoff = Backoff::exponential(Duration::from_millis(100)).max_attempts(3);
    if let Err(e @ RetryError::Stopped { .. }) = retry(backoff, || resize("notes.txt"))
        .when(ImageError::is_transient)
        .await
    {
        lines.push(format!(
            "{e}: {}",
            e.last().map_or_else(String::new, ToString::to_string)
        ));
    }
    Typed {
        refused_item,
        attempts,
        last_error,
        lines,
    }
}
