//! The store's one error type.

use std::path::PathBuf;
use std::time::Duration;

use crate::server::job::JobId;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The lease is no longer this holder's: it expired and the job was
    /// claimed again, or the job was finished or released. Nothing changed.
    #[error("lease lost: job {id} attempt {attempt} is no longer held by this worker")]
    LeaseLost {
        /// The job.
        id: JobId,
        /// The attempt the stale lease was for.
        attempt: u32,
    },
    /// Too many jobs are waiting: try again later. Nothing was stored.
    #[error("the job store is full; retry after {} s", retry_after.as_secs_f64())]
    Full {
        /// When it is worth trying again.
        retry_after: Duration,
    },
    /// Another process holds the store's files.
    #[error("the job store at {} is in use by another process", path.display())]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The store was shut down, or its writer stopped after a failure.
    #[error("the job store is closed")]
    Closed,
    /// The storage cannot write now (disk full, read-only, I/O error, the
    /// database unreachable); nothing was changed. The store tries again
    /// by itself: a call after `retry_after` may succeed.
    #[error("the job store is unavailable ({reason}); retry after {} s", retry_after.as_secs_f64())]
    Unavailable {
        /// When the store will try the storage again.
        retry_after: Duration,
        /// What failed.
        reason: String,
    },
    /// Stored data that does not decode.
    #[error("the job store holds invalid data: {0}")]
    Corrupt(String),
    /// The storage engine failed (I/O, database).
    #[error("job store storage error: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Whether this is the storage failing (rather than an answer about
    /// the job: `Full`, `LeaseLost`): what store health watches.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evenkeel_demo::server::store::StoreError;
    /// assert!(StoreError::Closed.is_failure());
    /// assert!(!StoreError::Full { retry_after: Duration::from_secs(1) }.is_failure());
    /// ```
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Self::Closed | Self::Unavailable { .. } | Self::Storage(_)
        )
    }

    /// Wraps an engine error.
    pub fn storage(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Storage(e.into())
    }
}
