//! From tallies to the results document: per-variation estimates, the sequential test
//! at every look, false discovery control, minimum samples and the SRM check.

use vario_stats::{
    Alpha, AlwaysValid, AnalysisSettings, BinomialStats, Comparison, DEFAULT_SRM_THRESHOLD, Decision, Degenerate,
    IntMeanStats, MeanStats, Moments, Scale, ScaleReport, SufficientStatistic, benjamini_hochberg,
    binary_min_sample_met, decide, numeric_min_sample_met, significance, srm_test,
};

use crate::attribution::{Granularity, SlotSums, Tallies};
use crate::design::ExperimentDesign;
use crate::document::{
    Aggregation, ExperimentRef, MetricDoc, MetricVariation, MultipleExposures, ResultsDocument, SegmentDoc, SeriesDoc,
    SeriesPoint, SrmDoc, VariationDoc, Verdict, WindowDoc,
};

/// One metric: what it aggregates from which slot of the tallies.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSpec {
    /// Display name.
    pub name: String,
    /// Event key (`None` for SQL metrics).
    pub event_key: Option<String>,
    /// What is measured per visitor.
    pub aggregation: Aggregation,
    /// Index of the tallies' slot.
    pub slot: usize,
}

/// Everything besides the tallies that shapes the document.
#[derive(Debug, Clone)]
pub struct AnalysisInput<'a> {
    /// The experiment.
    pub design: &'a ExperimentDesign,
    /// The metrics, in output order.
    pub metrics: &'a [MetricSpec],
    /// α and the mixing rule.
    pub settings: AnalysisSettings,
    /// Index of the baseline variation.
    pub baseline: usize,
    /// The segment, if any.
    pub segment: Option<SegmentDoc>,
    /// Bucket width.
    pub granularity: Granularity,
    /// Whether multiple-exposure visitors were left out.
    pub exclude_multiple: bool,
}

/// One arm's sums turned into the statistic of the metric's aggregation.
fn moments(aggregation: Aggregation, n: u64, s: &SlotSums) -> (f64, Result<Moments, Degenerate>) {
    match aggregation {
        Aggregation::UniqueConversions => {
            let b = BinomialStats::new(n, s.converters.min(n));
            (s.converters as f64, b.map_err(|_| Degenerate::NonFinite).and_then(|b| b.moments()))
        }
        Aggregation::TotalConversions => {
            let m = IntMeanStats::new(n, i128::try_from(s.count).unwrap_or(i128::MAX), s.count_sq);
            (s.count as f64, m.moments())
        }
        Aggregation::Revenue => (s.revenue as f64, IntMeanStats::new(n, s.revenue, s.revenue_sq).moments()),
        Aggregation::Value | Aggregation::Sql => {
            let m = MeanStats::new(n, s.value, s.value_sq);
            (s.value, m.map_err(|_| Degenerate::NonFinite).and_then(|m| m.moments()))
        }
    }
}

fn min_sample_met(aggregation: Aggregation, control: (u64, &SlotSums), treatment: (u64, &SlotSums)) -> bool {
    match aggregation {
        Aggregation::UniqueConversions => {
            match (
                BinomialStats::new(control.0, control.1.converters),
                BinomialStats::new(treatment.0, treatment.1.converters),
            ) {
                (Ok(c), Ok(t)) => binary_min_sample_met(&c, &t),
                _ => false,
            }
        }
        _ => numeric_min_sample_met(treatment.0),
    }
}

fn scale_report(c: &Comparison, scale: Scale) -> &ScaleReport {
    match scale {
        Scale::Absolute => &c.absolute,
        Scale::Relative => &c.relative,
    }
}

/// Per (metric, variation): what the tests found before false discovery control.
struct Tested {
    row: MetricVariation,
    running: Option<AlwaysValid>,
    min_sample: bool,
}

/// Builds the results document.
pub fn analyse(tallies: &Tallies, input: &AnalysisInput<'_>) -> ResultsDocument {
    let design = input.design;
    let last = tallies.buckets.saturating_sub(1);
    let visitors_at = |v: usize, b: usize| tallies.visitors.get(v).and_then(|r| r.get(b)).copied().unwrap_or(0);
    let empty = SlotSums::default();
    let sums_at = |slot: usize, v: usize, b: usize| {
        tallies.slots.get(slot).and_then(|s| s.get(v)).and_then(|r| r.get(b)).unwrap_or(&empty)
    };
    let alpha = input.settings.alpha;
    let base = input.baseline;

    let mut metrics = Vec::with_capacity(input.metrics.len());
    let mut tested: Vec<Vec<Tested>> = Vec::with_capacity(input.metrics.len());
    for metric in input.metrics {
        let agg = metric.aggregation;
        let mut rows = Vec::with_capacity(design.variations.len());
        let mut series = Vec::with_capacity(design.variations.len());
        for (v, variation) in design.variations.iter().enumerate() {
            let n = visitors_at(v, last);
            let (sum, m) = moments(agg, n, sums_at(metric.slot, v, last));
            let mean = (n > 0).then(|| sum / n as f64);
            let mut row = MetricVariation {
                variation_key: variation.key.clone(),
                visitors: n,
                sum,
                mean,
                improvement: None,
                relative_improvement: None,
                ci_low: None,
                ci_high: None,
                scale: None,
                p_value: None,
                p_value_adjusted: None,
                significance: None,
                significant: false,
                status: Verdict::Baseline,
                note: None,
                fixed_horizon_p_value: None,
            };
            let mut points = Vec::with_capacity(tallies.buckets);
            if v == base {
                for b in 0..tallies.buckets {
                    let n = visitors_at(v, b);
                    let (sum, _) = moments(agg, n, sums_at(metric.slot, v, b));
                    points.push(SeriesPoint {
                        t: tallies.bucket_end(b),
                        visitors: n,
                        mean: (n > 0).then(|| sum / n as f64),
                        improvement: None,
                        ci_low: None,
                        ci_high: None,
                    });
                }
                let _ = m;
                rows.push(Tested { row, running: None, min_sample: false });
                series.push(SeriesDoc { variation_key: variation.key.clone(), points });
                continue;
            }
            row.status = Verdict::Inconclusive;
            // The scale the final look can test fixes the scale of every look.
            let compare = |b: usize| {
                let nc = visitors_at(base, b);
                let nt = visitors_at(v, b);
                let (_, c) = moments(agg, nc, sums_at(metric.slot, base, b));
                let (_, t) = moments(agg, nt, sums_at(metric.slot, v, b));
                match (c, t) {
                    (Ok(c), Ok(t)) => Comparison::new(&c, &t, &input.settings),
                    (Err(d), _) | (_, Err(d)) => Comparison::from_effects(Err(d), Err(d), &input.settings),
                }
            };
            let final_cmp = compare(last);
            // Rates are tested on the relative lift (spec §4). Means are tested on the
            // absolute difference, the same null hypothesis: one large value in the
            // baseline makes the delta-method lift look precise and wrong (see
            // docs/validity.md: 20.7% false positives on skewed revenue against 1.3%).
            let scale = match agg {
                Aggregation::UniqueConversions => final_cmp.significance_scale(),
                _ => (final_cmp.absolute.status == vario_stats::Status::Ok).then_some(Scale::Absolute),
            };
            row.relative_improvement = final_cmp.relative.effect.map(|e| e.estimate());
            let mut running = AlwaysValid::new();
            let mut last_look = None;
            for b in 0..tallies.buckets {
                let nt = visitors_at(v, b);
                let (sum_t, _) = moments(agg, nt, sums_at(metric.slot, v, b));
                let cmp = if b == last { final_cmp } else { compare(b) };
                let mut point = SeriesPoint {
                    t: tallies.bucket_end(b),
                    visitors: nt,
                    mean: (nt > 0).then(|| sum_t / nt as f64),
                    improvement: None,
                    ci_low: None,
                    ci_high: None,
                };
                if let Some(scale) = scale {
                    let report = scale_report(&cmp, scale);
                    if let (Some(effect), Some(look)) = (report.effect, report.sequential) {
                        running.observe(&look);
                        point.improvement = Some(effect.estimate());
                        let ci = running.ci().filter(|ci| !ci.is_empty()).unwrap_or(look.ci);
                        point.ci_low = Some(ci.lower);
                        point.ci_high = Some(ci.upper);
                        last_look = Some(look);
                    }
                }
                points.push(point);
            }
            series.push(SeriesDoc { variation_key: variation.key.clone(), points });
            let min_sample = min_sample_met(
                agg,
                (visitors_at(base, last), sums_at(metric.slot, base, last)),
                (n, sums_at(metric.slot, v, last)),
            );
            match scale {
                Some(scale) => {
                    let report = scale_report(&final_cmp, scale);
                    row.scale = Some(scale);
                    row.improvement = report.effect.map(|e| e.estimate());
                    row.fixed_horizon_p_value = report.fixed_horizon.map(|f| f.p_value);
                    row.p_value = Some(running.p_value());
                    match (running.ci(), last_look) {
                        (Some(ci), _) if !ci.is_empty() => {
                            row.ci_low = Some(ci.lower);
                            row.ci_high = Some(ci.upper);
                        }
                        // The intervals of the looks do not overlap: the effect moved
                        // more over time than chance allows. Show the latest look's
                        // interval and say so; no winner or loser is called.
                        (Some(_), Some(look)) => {
                            row.ci_low = Some(look.ci.lower);
                            row.ci_high = Some(look.ci.upper);
                            row.note = Some("effect_changed_over_time".to_owned());
                        }
                        _ => {}
                    }
                    if !min_sample {
                        row.note = Some("below_minimum_sample".to_owned());
                    }
                    rows.push(Tested { row, running: Some(running), min_sample });
                }
                None => {
                    let status = final_cmp.absolute.status;
                    row.note = Some(
                        serde_json::to_value(status)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                    );
                    rows.push(Tested { row, running: None, min_sample });
                }
            }
        }
        metrics.push(MetricDoc {
            name: metric.name.clone(),
            event_key: metric.event_key.clone(),
            aggregation: agg,
            variations: Vec::new(),
            series,
        });
        tested.push(rows);
    }

    // Benjamini–Hochberg over every tested (metric, variation).
    let p: Vec<f64> = tested.iter().flatten().filter_map(|t| t.row.p_value).collect();
    let adjusted = benjamini_hochberg(&p).unwrap_or(p);
    let mut next = adjusted.into_iter();
    for (doc, rows) in metrics.iter_mut().zip(tested) {
        for mut t in rows {
            if t.row.p_value.is_some()
                && let Some(adj) = next.next()
            {
                t.row.p_value_adjusted = Some(adj);
                t.row.significance = Some(significance(adj));
                // The interval shown: the running one, or the latest look's when the
                // running one is empty (see `effect_changed_over_time`).
                let shown =
                    t.row.ci_low.zip(t.row.ci_high).map(|(lower, upper)| vario_stats::Interval { lower, upper });
                if let Some(ci) = shown.filter(|_| t.running.is_some()) {
                    let call = decide(adj, &ci, alpha, false, t.min_sample);
                    t.row.status = match call {
                        Decision::Winner => Verdict::Winner,
                        Decision::Loser => Verdict::Loser,
                        Decision::Inconclusive => Verdict::Inconclusive,
                    };
                    t.row.significant = call != Decision::Inconclusive;
                }
            }
            doc.variations.push(t.row);
        }
    }

    let counts: Vec<u64> = (0..design.variations.len()).map(|v| visitors_at(v, last)).collect();
    let weights: Vec<f64> = design.variations.iter().map(|v| v.weight).collect();
    let total_weight: f64 = weights.iter().sum();
    let srm = srm_test(&counts, &weights).ok();
    ResultsDocument {
        schema_version: crate::document::SCHEMA_VERSION,
        experiment: ExperimentRef { id: design.id.clone(), key: design.key.clone() },
        window: WindowDoc { from: tallies.window.from, to: tallies.window.to },
        segment: input.segment.clone(),
        alpha: alpha.get(),
        baseline: design.variations.get(base).map(|v| v.key.clone()).unwrap_or_default(),
        granularity: input.granularity,
        variations: design
            .variations
            .iter()
            .zip(&counts)
            .map(|(v, &n)| VariationDoc { id: v.id.clone(), key: v.key.clone(), visitors: n })
            .collect(),
        srm: SrmDoc {
            p_value: srm.map_or(1.0, |s| s.p_value),
            mismatch: srm.is_some_and(|s| s.is_mismatch(DEFAULT_SRM_THRESHOLD)),
            expected_shares: weights.iter().map(|w| if total_weight > 0.0 { w / total_weight } else { 0.0 }).collect(),
        },
        multiple_exposures: MultipleExposures {
            visitors: tallies.multiple_exposures,
            excluded: input.exclude_multiple,
        },
        metrics,
    }
}

/// `Alpha` from a number, for callers that take it as text.
pub(crate) fn alpha(value: f64) -> Result<Alpha, crate::ResultsError> {
    Alpha::new(value).map_err(|e| crate::ResultsError::InvalidRequest(format!("alpha: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::Window;
    use crate::design::VariationSpec;

    fn design() -> ExperimentDesign {
        let v = |id: &str, key: &str| VariationSpec { id: id.into(), key: key.into(), weight: 5000.0 };
        ExperimentDesign {
            project_id: "p".into(),
            id: "e".into(),
            key: "exp".into(),
            variations: vec![v("1", "control"), v("2", "treatment")],
            events: Vec::new(),
        }
    }

    fn sums(n: f64, mean: f64) -> SlotSums {
        // Per-visitor values with this mean and variance 1.
        SlotSums { value: n * mean, value_sq: n * (1.0 + mean * mean), ..SlotSums::default() }
    }

    /// A value metric whose difference is +2 at the first look and 0 at the second.
    fn drifting() -> Tallies {
        Tallies {
            origin: 0,
            width: 86_400_000,
            buckets: 2,
            visitors: vec![vec![1_000, 100_000], vec![1_000, 100_000]],
            slots: vec![vec![
                vec![sums(1_000.0, 1.0), sums(100_000.0, 1.0)],
                vec![sums(1_000.0, 3.0), sums(100_000.0, 1.0)],
            ]],
            multiple_exposures: 0,
            excluded_multiple: 0,
            unknown_variation: 0,
            window: Window::default(),
        }
    }

    #[test]
    fn looks_that_disagree_show_the_latest_interval_with_a_note() {
        let design = design();
        let metrics = [MetricSpec { name: "value".into(), event_key: None, aggregation: Aggregation::Value, slot: 0 }];
        let input = AnalysisInput {
            design: &design,
            metrics: &metrics,
            settings: AnalysisSettings::default(),
            baseline: 0,
            segment: None,
            granularity: Granularity::Day,
            exclude_multiple: false,
        };
        let doc = analyse(&drifting(), &input);
        let t = &doc.metrics[0].variations[1];
        assert_eq!(t.note.as_deref(), Some("effect_changed_over_time"));
        let (low, high) = (t.ci_low.unwrap(), t.ci_high.unwrap());
        assert!(low <= high, "a real interval is shown: [{low}, {high}]");
        assert!(low < 0.0 && high > 0.0, "the latest look's interval, around 0: [{low}, {high}]");
        assert_eq!(t.status, Verdict::Inconclusive);
        // The first look alone was far from 0: the series shows it.
        let first = doc.metrics[0].series[1].points[0];
        assert!(first.ci_low.unwrap() > 1.0, "{first:?}");
    }
}
