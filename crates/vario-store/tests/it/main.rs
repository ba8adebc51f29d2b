//! Integration tests of the event log on real files.
mod datafiles;
mod log;
mod readonly;
