//! The results document: the stable, versioned JSON that `vario results --format json`
//! and `GET /api/v1/experiments/{key}/results` return (documented in `docs/results.md`).

use serde::{Deserialize, Serialize};

use crate::attribution::Granularity;

/// Version of the document's schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Results of one experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsDocument {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The experiment.
    pub experiment: ExperimentRef,
    /// The time window analysed (Unix epoch ms, inclusive; `null` is unbounded).
    pub window: WindowDoc,
    /// The segment, when one was asked for.
    pub segment: Option<SegmentDoc>,
    /// Significance level; intervals are at `1 − alpha`.
    pub alpha: f64,
    /// Key of the variation the others are compared with.
    pub baseline: String,
    /// Bucket width of the series (each bucket end is one look of the sequential test).
    pub granularity: Granularity,
    /// Variations in datafile order.
    pub variations: Vec<VariationDoc>,
    /// Sample ratio mismatch check against the configured split.
    pub srm: SrmDoc,
    /// Visitors whose decisions named more than one variation.
    pub multiple_exposures: MultipleExposures,
    /// One entry per metric.
    pub metrics: Vec<MetricDoc>,
}

/// Experiment id and key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExperimentRef {
    /// Id.
    pub id: String,
    /// Key.
    pub key: String,
}

/// The analysed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowDoc {
    /// First millisecond included.
    pub from: Option<i64>,
    /// Last millisecond included.
    pub to: Option<i64>,
}

/// A segment: visitors whose first decision carried `attribute = value`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SegmentDoc {
    /// Attribute key.
    pub attribute: String,
    /// Attribute value, as text.
    pub value: String,
}

/// One variation's visitors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariationDoc {
    /// Variation id.
    pub id: String,
    /// Variation key.
    pub key: String,
    /// Visitors counted (first decision in this variation, in the window and segment).
    pub visitors: u64,
}

/// The SRM check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SrmDoc {
    /// Pearson χ² p-value of the visitor counts against the configured split.
    pub p_value: f64,
    /// Whether `p_value` is below the threshold (0.001).
    pub mismatch: bool,
    /// The configured share of each variation, in variation order.
    pub expected_shares: Vec<f64>,
}

/// Multiple-exposure visitors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultipleExposures {
    /// How many visitors saw more than one variation.
    pub visitors: u64,
    /// Whether they were left out of every number.
    pub excluded: bool,
}

/// What a metric measures per visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Whether the visitor converted at least once (a rate).
    UniqueConversions,
    /// How many times they converted (conversions per visitor).
    TotalConversions,
    /// Sum of the `revenue` of their conversions (revenue per visitor).
    Revenue,
    /// Sum of the `value` of their conversions (value per visitor).
    Value,
    /// Sum of the values a custom SQL metric returned for them.
    Sql,
}

/// One metric's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricDoc {
    /// Display name, e.g. `purchase: conversion rate`.
    pub name: String,
    /// The event it counts (`null` for SQL metrics).
    pub event_key: Option<String>,
    /// What is measured per visitor.
    pub aggregation: Aggregation,
    /// One entry per variation, the baseline included.
    pub variations: Vec<MetricVariation>,
    /// Cumulative values at the end of each bucket, per variation.
    pub series: Vec<SeriesDoc>,
}

/// How a variation compares with the baseline on a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// This is the baseline.
    Baseline,
    /// Significantly better than the baseline.
    Winner,
    /// Significantly worse than the baseline.
    Loser,
    /// Not (yet) significant, or below the minimum sample.
    Inconclusive,
}

/// One variation on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricVariation {
    /// Variation key.
    pub variation_key: String,
    /// Visitors.
    pub visitors: u64,
    /// Converting visitors, conversions, revenue, value or SQL sum.
    pub sum: f64,
    /// `sum / visitors`: the rate or the mean per visitor.
    pub mean: Option<f64>,
    /// Estimated improvement over the baseline (relative, e.g. 0.05 = +5%; absolute
    /// when `scale` says so); `null` for the baseline or when it cannot be estimated.
    pub improvement: Option<f64>,
    /// The relative lift `(mean − baseline mean)/|baseline mean|`, whatever `scale` is.
    pub relative_improvement: Option<f64>,
    /// Always-valid confidence interval of the improvement (running intersection).
    pub ci_low: Option<f64>,
    /// Upper end of that interval.
    pub ci_high: Option<f64>,
    /// `relative` or `absolute`: the scale of improvement and interval.
    pub scale: Option<vario_stats::Scale>,
    /// Always-valid p-value (running minimum over the looks).
    pub p_value: Option<f64>,
    /// `p_value` adjusted for false discoveries (Benjamini–Hochberg across variations
    /// and metrics).
    pub p_value_adjusted: Option<f64>,
    /// `1 − p_value_adjusted`.
    pub significance: Option<f64>,
    /// Whether the difference is significant at `alpha` with the minimum sample met.
    pub significant: bool,
    /// The call.
    pub status: Verdict,
    /// Why numbers are missing (`zero_variance`, `baseline_zero`, ...), or that the
    /// minimum sample is not met (`below_minimum_sample`).
    pub note: Option<String>,
    /// The fixed-horizon (Welch) p-value, shown for reference only: it is not valid
    /// when results are looked at repeatedly.
    pub fixed_horizon_p_value: Option<f64>,
}

/// A variation's cumulative series on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesDoc {
    /// Variation key.
    pub variation_key: String,
    /// One point per bucket.
    pub points: Vec<SeriesPoint>,
}

/// Cumulative values at the end of one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// End of the bucket (Unix epoch ms).
    pub t: i64,
    /// Visitors so far.
    pub visitors: u64,
    /// Mean so far.
    pub mean: Option<f64>,
    /// Improvement so far.
    pub improvement: Option<f64>,
    /// Always-valid interval so far (running intersection).
    pub ci_low: Option<f64>,
    /// Upper end.
    pub ci_high: Option<f64>,
}
