//! Integration tests of the event log on real files.
mod backup;
mod datafiles;
mod dedup;
mod log;
mod parquet;
mod prune;
mod readonly;
