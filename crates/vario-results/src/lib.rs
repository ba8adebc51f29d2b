//! Vario's results engine.
//!
//! For one experiment: read its decisions and the conversions of its metric events from
//! the stored events (DataFusion scans over the Parquet files and the log), attribute
//! each conversion to the variation of the visitor's first decision ([`attribution`]),
//! then compute per variation and metric the estimates, the always-valid (sequential)
//! test at every look, false discovery control and the SRM check ([`analyse`]). The
//! answer is a [`ResultsDocument`], the stable JSON of the CLI and the HTTP API.
//!
//! `docs/results.md` explains the method to users.
#![deny(missing_docs)]

mod analysis;
pub mod attribution;
mod columns;
mod design;
mod document;
mod engine;
mod error;
pub mod export;
mod request;
mod scanned;
pub mod segment;
pub mod synthetic;
pub mod table;
mod time;
mod visitors;

pub use analysis::{AnalysisInput, MetricSpec, analyse};
pub use attribution::{Granularity, VisitorTable, Window};
pub use design::{EventSpec, ExperimentDesign, VariationSpec};
pub use document::{
    Aggregation, ExperimentRef, MetricDoc, MetricVariation, MultipleExposures, ResultsDocument, SCHEMA_VERSION,
    SegmentDoc, SeriesDoc, SeriesPoint, SrmDoc, VariationDoc, Verdict, WindowDoc,
};
pub use engine::{Attribution, Engine, Progress, conversions_sql, decisions_sql, find_config, metric_specs, sql_text};
pub use error::ResultsError;
pub use request::{ResultsRequest, SqlMetric};
pub use time::{Bound, parse_time};
