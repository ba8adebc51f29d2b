//! One module per command.

pub mod datafile;
pub mod eval;
pub mod query;
pub mod serve;
pub mod simulate;
