//! What a caller asks for.

use crate::attribution::{Granularity, Window};
use crate::document::SegmentDoc;

/// A custom metric written as SQL over the `events` table. It must return the columns
/// `visitor_id` (text), `timestamp` (Unix epoch ms) and `value` (a number): each row is
/// an amount for that visitor at that time, attributed like a conversion and summed
/// per visitor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SqlMetric {
    /// Display name.
    pub name: String,
    /// The query.
    pub sql: String,
}

/// Options of one results computation.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultsRequest {
    /// Experiment (or rule) key.
    pub experiment: String,
    /// Time window.
    pub window: Window,
    /// Only visitors whose first decision carried this attribute value.
    pub segment: Option<SegmentDoc>,
    /// Significance level (0.05 by default).
    pub alpha: f64,
    /// Baseline variation key (the first variation by default).
    pub baseline: Option<String>,
    /// Series bucket width (= the sequential test's looks).
    pub granularity: Granularity,
    /// Leave visitors who saw more than one variation out.
    pub exclude_multiple_exposures: bool,
    /// Custom SQL metrics, after the event metrics.
    pub sql_metrics: Vec<SqlMetric>,
}

impl ResultsRequest {
    /// Defaults for experiment `key`.
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            experiment: key.into(),
            window: Window::default(),
            segment: None,
            alpha: 0.05,
            baseline: None,
            granularity: Granularity::Day,
            exclude_multiple_exposures: false,
            sql_metrics: Vec::new(),
        }
    }

    /// A key identifying the request in caches.
    pub(crate) fn cache_key(&self) -> String {
        format!("{self:?}")
    }
}
