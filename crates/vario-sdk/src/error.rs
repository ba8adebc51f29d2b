/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SdkError {
    /// The datafile did not load.
    #[error("invalid datafile")]
    Datafile(#[from] vario_datafile::DatafileError),
    /// The event processor could not start (e.g. its spool directory is unusable).
    #[error("event processor did not start")]
    EventProcessor(#[from] crate::processor::ProcessorError),
    /// The HTTP event dispatcher settings are invalid.
    #[error("invalid HTTP event dispatcher settings")]
    HttpDispatcher(#[from] crate::http_dispatcher::HttpConfigError),
}
