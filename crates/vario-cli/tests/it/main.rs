//! Integration tests of the `vario` command.

/// The official-SDK case sets in `spec/compat`, run through `vario eval`.
mod compat;
/// `vario datafile validate`.
mod datafile;
/// The protocol details of `vario eval` (errors, exit codes, flushing).
mod eval;
/// `vario serve` as a process: SIGKILL crash safety, SIGTERM, configuration, read-only data.
mod serve;
