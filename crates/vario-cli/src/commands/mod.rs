//! One module per command.

pub mod datafile;
pub mod eval;
pub mod export;
pub mod query;
pub mod results;
pub mod serve;
pub mod simulate;
