//! The numbers of a results document against hand-computed values, and the table.

use vario_results::{ResultsRequest, Verdict};

use crate::rules::{metric, results};
use crate::support::{DAY, Ev, T0, data_dir, decision, purchase};

/// 2,000 visitors per arm; control converts 200 (10%), treatment 300 (15%), over two days.
fn experiment() -> Vec<Ev> {
    let mut events = Vec::new();
    for i in 0..4000 {
        let id = &format!("v{i:04}");
        let treatment = i % 2 == 1;
        let day = (i / 2 % 2) as i64;
        events.push(decision(id, if treatment { "40012" } else { "40011" }, T0 + day * DAY + i as i64));
        let k = i / 2;
        if (treatment && k < 300) || (!treatment && k < 200) {
            events.push(purchase(id, T0 + day * DAY + i as i64 + 1, Some(1000 + k as i64), None));
        }
    }
    events
}

#[test]
fn rates_lift_and_verdict_match_the_hand_computation() {
    let dir = data_dir(&[experiment()]);
    let doc = results(dir.path(), &ResultsRequest::new("ab_exp"));
    let rate = metric(&doc, "purchase: conversion rate");
    let (c, t) = (&rate.variations[0], &rate.variations[1]);
    assert_eq!((c.visitors, c.sum, t.visitors, t.sum), (2000, 200.0, 2000, 300.0));
    assert_eq!(c.mean, Some(0.1));
    assert_eq!(t.mean, Some(0.15));
    assert!((t.improvement.unwrap() - 0.5).abs() < 1e-12, "+50%");
    assert_eq!(c.status, Verdict::Baseline);
    assert_eq!(t.status, Verdict::Winner);
    assert!(t.significant);
    assert!(t.ci_low.unwrap() > 0.0);
    // Two daily looks, the series ends with the final numbers.
    assert_eq!(rate.series[1].points.len(), 2);
    assert_eq!(rate.series[1].points[1].visitors, 2000);
    assert_eq!(doc.variations.iter().map(|v| v.visitors).collect::<Vec<_>>(), vec![2000, 2000]);
    assert!(!doc.srm.mismatch);
    assert_eq!(doc.srm.expected_shares, vec![0.5, 0.5]);
}

#[test]
fn the_results_table_reads_well() {
    let dir = data_dir(&[experiment()]);
    let doc = results(dir.path(), &ResultsRequest::new("ab_exp"));
    insta::assert_snapshot!(vario_results::table::render_table(&doc));
}

#[test]
fn the_csv_has_one_row_per_metric_and_variation() {
    let dir = data_dir(&[experiment()]);
    let doc = results(dir.path(), &ResultsRequest::new("ab_exp"));
    let csv = vario_results::table::render_csv(&doc);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 4 * 2);
    assert!(lines[0].starts_with("experiment_key,metric,"));
    assert!(
        lines[2].contains("purchase: conversion rate,purchase,unique_conversions,treatment,2000,300,"),
        "{}",
        lines[2]
    );
}
