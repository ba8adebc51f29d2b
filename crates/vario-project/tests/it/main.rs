//! Integration tests of project management.

/// Importing datafiles keeps their decisions.
mod import;
/// Random projects always build datafiles the SDK parser accepts; random bad edits change nothing.
mod props;
/// Storage: revisions, ids, audit, conflicts, dry runs, datafile revisions.
mod store;
/// Shared helpers.
mod support;
