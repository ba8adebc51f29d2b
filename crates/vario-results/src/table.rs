//! The results document for people: a text table, and CSV.

use std::fmt::Write as _;

use vario_stats::Scale;

use crate::document::{Aggregation, MetricVariation, ResultsDocument, Verdict};

fn percent(x: f64) -> String {
    format!("{:+.2}%", x * 100.0)
}

fn mean_text(aggregation: Aggregation, mean: Option<f64>) -> String {
    match (aggregation, mean) {
        (_, None) => "-".to_owned(),
        (Aggregation::UniqueConversions, Some(m)) => format!("{:.2}%", m * 100.0),
        (_, Some(m)) => format!("{m:.4}"),
    }
}

fn effect_text(row: &MetricVariation, x: Option<f64>) -> String {
    match (row.scale, x) {
        (_, None) => "-".to_owned(),
        (Some(Scale::Absolute), Some(x)) => format!("{x:+.4}"),
        (_, Some(x)) => percent(x),
    }
}

fn time_text(ms: Option<i64>) -> String {
    ms.map_or_else(|| "any".to_owned(), |ms| ms.to_string())
}

/// A readable, aligned table of every metric.
pub fn render_table(doc: &ResultsDocument) -> String {
    let mut out = String::new();
    let confidence = ((1.0 - doc.alpha) * 100.0).round();
    let _ = writeln!(out, "Experiment {} (id {})", doc.experiment.key, doc.experiment.id);
    let _ = writeln!(
        out,
        "Window: {} to {} (Unix ms) · alpha {} · baseline {}",
        time_text(doc.window.from),
        time_text(doc.window.to),
        doc.alpha,
        doc.baseline
    );
    if let Some(s) = &doc.segment {
        let _ = writeln!(out, "Segment: {} = {}", s.attribute, s.value);
    }
    let visitors: Vec<String> = doc.variations.iter().map(|v| format!("{} {}", v.key, v.visitors)).collect();
    let _ = writeln!(out, "Visitors: {}", visitors.join(" · "));
    let _ = writeln!(
        out,
        "Sample ratio: p = {:.4}{}",
        doc.srm.p_value,
        if doc.srm.mismatch {
            "  WARNING: sample ratio mismatch, the numbers below are not trustworthy"
        } else {
            " (ok)"
        }
    );
    let _ = writeln!(
        out,
        "Multiple exposures: {} visitors{}",
        doc.multiple_exposures.visitors,
        if doc.multiple_exposures.excluded { " (excluded)" } else { "" }
    );
    for metric in &doc.metrics {
        let _ = writeln!(out, "\n{}", metric.name);
        let header = vec![
            "variation".to_owned(),
            "visitors".to_owned(),
            "sum".to_owned(),
            "mean".to_owned(),
            "improvement".to_owned(),
            format!("{confidence}% interval"),
            "significance".to_owned(),
            "status".to_owned(),
        ];
        let mut rows = vec![header];
        for row in &metric.variations {
            let interval = match (row.ci_low, row.ci_high) {
                (Some(_), Some(_)) => format!("[{}, {}]", effect_text(row, row.ci_low), effect_text(row, row.ci_high)),
                _ => "-".to_owned(),
            };
            let status = match (row.status, &row.note) {
                (Verdict::Baseline, _) => "baseline".to_owned(),
                (v, Some(note)) => format!("{} ({note})", verdict(v)),
                (v, None) => verdict(v).to_owned(),
            };
            rows.push(vec![
                row.variation_key.clone(),
                row.visitors.to_string(),
                sum_text(row.sum),
                mean_text(metric.aggregation, row.mean),
                effect_text(row, row.improvement),
                interval,
                row.significance.map_or_else(|| "-".to_owned(), |s| vario_stats::significance_label(1.0 - s)),
                status,
            ]);
        }
        let widths: Vec<usize> =
            (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
        for r in rows {
            let cells: Vec<String> = r.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
            let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
        }
    }
    out
}

/// Whole sums as integers, others to two decimals.
fn sum_text(sum: f64) -> String {
    if sum.fract() == 0.0 && sum.abs() < 1e15 { format!("{sum:.0}") } else { format!("{sum:.2}") }
}

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Baseline => "baseline",
        Verdict::Winner => "winner",
        Verdict::Loser => "loser",
        Verdict::Inconclusive => "inconclusive",
    }
}

fn num(x: Option<f64>) -> String {
    x.map(|x| x.to_string()).unwrap_or_default()
}

/// Columns of [`render_csv`].
pub const CSV_COLUMNS: [&str; 18] = [
    "experiment_key",
    "metric",
    "event_key",
    "aggregation",
    "variation_key",
    "visitors",
    "sum",
    "mean",
    "improvement",
    "ci_low",
    "ci_high",
    "scale",
    "p_value",
    "p_value_adjusted",
    "significance",
    "significant",
    "status",
    "note",
];

/// One CSV row per metric × variation, with a header.
pub fn render_csv(doc: &ResultsDocument) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(CSV_COLUMNS);
    for metric in &doc.metrics {
        let aggregation = serde_json::to_value(metric.aggregation).ok();
        for row in &metric.variations {
            let scale = row.scale.and_then(|s| serde_json::to_value(s).ok());
            let _ = w.write_record([
                doc.experiment.key.clone(),
                metric.name.clone(),
                metric.event_key.clone().unwrap_or_default(),
                aggregation.as_ref().and_then(|a| a.as_str()).unwrap_or_default().to_owned(),
                row.variation_key.clone(),
                row.visitors.to_string(),
                row.sum.to_string(),
                num(row.mean),
                num(row.improvement),
                num(row.ci_low),
                num(row.ci_high),
                scale.as_ref().and_then(|s| s.as_str()).unwrap_or_default().to_owned(),
                num(row.p_value),
                num(row.p_value_adjusted),
                num(row.significance),
                row.significant.to_string(),
                verdict(row.status).to_owned(),
                row.note.clone().unwrap_or_default(),
            ]);
        }
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}
