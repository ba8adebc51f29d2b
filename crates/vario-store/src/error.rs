//! The one error type of the store.

use std::path::{Path, PathBuf};

/// Why the store could not do what was asked.
///
/// [`StoreError::Unavailable`] is the environment's fault (disk full, read-only
/// directory, I/O error) and may go away; the server answers it with 503 so clients
/// retry. [`StoreError::Internal`] is a bug. The type is `Clone` because one failed
/// group commit answers every batch in the group with the same error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The storage cannot be written (or opened) right now; nothing of the failed
    /// operation was kept, and what was committed before is intact.
    #[error("storage unavailable ({reason}) at {}: {detail}", path.display())]
    Unavailable {
        /// What kind of trouble.
        reason: Unavailable,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's or SQLite's words.
        detail: String,
    },
    /// More batches are waiting for the writer than the queue holds; try again shortly.
    #[error("the event store is overloaded: {pending} batches are waiting to be written")]
    Overloaded {
        /// Batches waiting.
        pending: usize,
    },
    /// The store was closed (the server is shutting down).
    #[error("the event store is closed")]
    Closed,
    /// An event the log cannot hold as given (the server validates before, so this
    /// names what a direct caller got wrong).
    #[error("{path}: {message}")]
    InvalidEvent {
        /// JSON path of the field in the batch, e.g. `visitors[0].snapshots[0].events[0].uuid`.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A name that cannot be used, such as an SDK key with a `/`.
    #[error("{0}")]
    InvalidKey(String),
    /// A backup that cannot be made or restored as asked: a target that is not empty,
    /// a backup whose files do not match its manifest.
    #[error("{0}")]
    Backup(String),
    /// A bug: the schema, a statement or an invariant is wrong.
    #[error("internal storage error: {0}")]
    Internal(String),
}

/// The kinds of [`StoreError::Unavailable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// No space left on the device, or the configured size limit is reached.
    Full,
    /// The directory or files are read-only or not accessible to this user.
    ReadOnly,
    /// Another I/O failure.
    Io,
    /// The database is locked by another process for too long.
    Busy,
    /// The log file is damaged or not a Vario log.
    Corrupt,
    /// A file in a format newer than this Vario reads (written by a newer release).
    NewerFormat,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Full => "disk full",
            Self::ReadOnly => "read-only or not permitted",
            Self::Io => "I/O error",
            Self::Busy => "locked by another process",
            Self::Corrupt => "damaged log",
            Self::NewerFormat => "written by a newer Vario",
        })
    }
}

impl StoreError {
    /// Whether the error is the environment's fault and may pass (a 503, not a 500).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Overloaded { .. } | Self::Closed)
    }

    /// Whether a file was written by a newer Vario: waiting cannot help, so a server
    /// refuses to start rather than answer 503 until it can.
    pub fn is_newer_format(&self) -> bool {
        matches!(self, Self::Unavailable { reason: Unavailable::NewerFormat, .. })
    }

    /// Classifies an I/O error on `path`.
    pub(crate) fn io(path: &Path, error: &std::io::Error) -> Self {
        use std::io::ErrorKind;
        let reason = match error.kind() {
            ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => Unavailable::ReadOnly,
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge => Unavailable::Full,
            _ => Unavailable::Io,
        };
        Self::Unavailable { reason, path: path.to_path_buf(), detail: error.to_string() }
    }

    /// Classifies a SQLite error on the log at `path`: environment trouble is
    /// `Unavailable`, everything else is a bug.
    pub(crate) fn sqlite(path: &Path, error: &rusqlite::Error) -> Self {
        match unavailable_reason(error) {
            Some(reason) => Self::Unavailable { reason, path: path.to_path_buf(), detail: error.to_string() },
            None => Self::Internal(error.to_string()),
        }
    }
}

/// The environment trouble behind a SQLite error, or `None` for a bug.
pub(crate) fn unavailable_reason(error: &rusqlite::Error) -> Option<Unavailable> {
    use rusqlite::ErrorCode;
    let rusqlite::Error::SqliteFailure(failure, _) = error else {
        return None;
    };
    Some(match failure.code {
        ErrorCode::DiskFull | ErrorCode::TooBig => Unavailable::Full,
        ErrorCode::ReadOnly
        | ErrorCode::PermissionDenied
        | ErrorCode::CannotOpen
        | ErrorCode::AuthorizationForStatementDenied => Unavailable::ReadOnly,
        ErrorCode::SystemIoFailure | ErrorCode::NoLargeFileSupport | ErrorCode::OutOfMemory => Unavailable::Io,
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::FileLockingProtocolFailed => Unavailable::Busy,
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => Unavailable::Corrupt,
        _ => return None,
    })
}
