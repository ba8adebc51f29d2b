//! Why results could not be computed.

/// Why results could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// No datafile names the experiment.
    #[error("no experiment or rule with key {key:?} in the datafile")]
    UnknownExperiment {
        /// The key asked for.
        key: String,
    },
    /// A request option is wrong.
    #[error("{0}")]
    InvalidRequest(String),
    /// The datafile could not be found or read.
    #[error("{0}")]
    Datafile(String),
    /// The events could not be read.
    #[error("reading the events failed: {0}")]
    Query(#[from] vario_store::QueryError),
    /// The data directory could not be read.
    #[error(transparent)]
    Store(#[from] vario_store::StoreError),
    /// Writing an export failed.
    #[error("writing {path}: {message}")]
    Export {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl From<vario_store::ScanError<Self>> for ResultsError {
    fn from(e: vario_store::ScanError<Self>) -> Self {
        match e {
            vario_store::ScanError::Query(q) => Self::Query(q),
            vario_store::ScanError::Consumer(e) => e,
        }
    }
}
