//! One module per command.

pub mod backup;
pub mod completions;
pub mod datafile;
pub mod eval;
pub mod explain;
pub mod export;
pub mod generate;
pub mod health;
pub mod man;
pub mod migrate;
pub mod project;
pub mod query;
pub mod results;
pub mod serve;
pub mod simulate;
