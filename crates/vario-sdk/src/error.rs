/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SdkError {
    /// The datafile did not load.
    #[error("invalid datafile")]
    Datafile(#[from] vario_datafile::DatafileError),
}
