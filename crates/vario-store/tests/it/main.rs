//! Integration tests of the event log on real files.
mod datafiles;
mod dedup;
mod log;
mod parquet;
mod prune;
mod readonly;
