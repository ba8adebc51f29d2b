//! Integration tests of vario-results: attribution rules over a real data directory
//! (events appended through the store, some compacted to Parquet), documents, exports.

mod document;
mod export;
mod rules;
mod support;
