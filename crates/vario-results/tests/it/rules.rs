//! Each attribution rule, end to end through the store and the DataFusion scans.

use std::path::Path;
use std::sync::Arc;

use vario_results::{
    Engine, MetricDoc, ResultsDocument, ResultsError, ResultsRequest, SegmentDoc, SqlMetric, Window, find_config,
};

use crate::support::{DAY, Ev, T0, batch, data_dir, decision, decision_in, purchase};

pub(crate) fn results(dir: &Path, req: &ResultsRequest) -> Arc<ResultsDocument> {
    let config = find_config(dir, &req.experiment, None, None).unwrap();
    Engine::new(dir).results(&config, req, &|_| {}).unwrap()
}

pub(crate) fn metric<'a>(doc: &'a ResultsDocument, name: &str) -> &'a MetricDoc {
    doc.metrics.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("no metric {name}"))
}

/// (visitors, sum) per variation of `name`.
fn counts(doc: &ResultsDocument, name: &str) -> Vec<(u64, f64)> {
    metric(doc, name).variations.iter().map(|v| (v.visitors, v.sum)).collect()
}

const RATE: &str = "purchase: conversion rate";
const TOTAL: &str = "purchase: conversions per visitor";

#[test]
fn a_visitor_stays_in_the_variation_of_their_first_decision() {
    let dir = data_dir(&[vec![
        decision("u1", "40011", T0),
        decision("u1", "40012", T0 + 5),
        purchase("u1", T0 + 10, None, None),
        decision("u2", "40012", T0),
    ]]);
    let doc = results(dir.path(), &ResultsRequest::new("ab_exp"));
    assert_eq!(counts(&doc, RATE), vec![(1, 1.0), (1, 0.0)]);
    assert_eq!(doc.multiple_exposures.visitors, 1);
    assert!(!doc.multiple_exposures.excluded);
}

#[test]
fn conversions_before_the_first_decision_do_not_count() {
    let dir = data_dir(&[vec![purchase("u1", T0 - 1, None, None), decision("u1", "40011", T0)]]);
    let doc = results(dir.path(), &ResultsRequest::new("ab_exp"));
    assert_eq!(counts(&doc, RATE), vec![(1, 0.0), (0, 0.0)]);
}

#[test]
fn a_conversion_in_the_decisions_millisecond_counts() {
    let dir = data_dir(&[vec![decision("u1", "40012", T0), purchase("u1", T0, None, None)]]);
    let doc = results(dir.path(), &ResultsRequest::new("ab_exp"));
    assert_eq!(counts(&doc, RATE), vec![(0, 0.0), (1, 1.0)]);
}

#[test]
fn decisions_in_the_same_millisecond_resolve_to_the_one_stored_first() {
    let dir = data_dir(&[vec![decision("u1", "40012", T0)], vec![decision("u1", "40011", T0)]]);
    let doc = results(dir.path(), &ResultsRequest::new("ab_exp"));
    assert_eq!(counts(&doc, RATE), vec![(0, 0.0), (1, 0.0)]);
}

#[test]
fn a_retried_batch_and_a_repeated_event_count_once() {
    let events = vec![decision("u1", "40011", T0), purchase("u1", T0 + 1, Some(500), None)];
    let dir = data_dir(&[events.clone(), events.clone()]);
    let store = vario_store::Store::open(dir.path()).unwrap();
    store.append(&batch(&[events[1].clone(), events[1].clone()]), 0).unwrap();
    store.close();
    let doc = results(dir.path(), &ResultsRequest::new("ab_exp"));
    assert_eq!(counts(&doc, TOTAL), vec![(1, 1.0), (0, 0.0)]);
    assert_eq!(counts(&doc, "purchase: revenue per visitor")[0], (1, 500.0));
}

#[test]
fn multiple_exposure_visitors_can_be_left_out() {
    let dir = data_dir(&[vec![
        decision("u1", "40011", T0),
        decision("u1", "40012", T0 + 5),
        purchase("u1", T0 + 10, None, None),
        decision("u2", "40011", T0),
    ]]);
    let mut req = ResultsRequest::new("ab_exp");
    req.exclude_multiple_exposures = true;
    let doc = results(dir.path(), &req);
    assert_eq!(counts(&doc, RATE), vec![(1, 0.0), (0, 0.0)]);
    assert!(doc.multiple_exposures.excluded);
    assert_eq!(doc.multiple_exposures.visitors, 1);
}

#[test]
fn segments_follow_the_attributes_of_the_first_decision() {
    let dir = data_dir(&[vec![
        decision_in("u1", "40011", T0, "chrome"),
        decision_in("u1", "40011", T0 + 1, "safari"),
        purchase("u1", T0 + 2, None, None),
        decision_in("u2", "40011", T0, "safari"),
        purchase("u2", T0 + 2, None, None),
        decision_in("u3", "40012", T0, "safari"),
    ]]);
    let mut req = ResultsRequest::new("ab_exp");
    req.segment = Some(SegmentDoc { attribute: "browser".into(), value: "safari".into() });
    let doc = results(dir.path(), &req);
    assert_eq!(counts(&doc, RATE), vec![(1, 1.0), (1, 0.0)]);
    req.segment = Some(SegmentDoc { attribute: "browser".into(), value: "chrome".into() });
    let doc = results(dir.path(), &req);
    assert_eq!(counts(&doc, RATE), vec![(1, 1.0), (0, 0.0)]);
}

#[test]
fn the_window_limits_decisions_and_conversions() {
    let dir = data_dir(&[vec![
        decision("early", "40011", T0 - DAY),
        purchase("early", T0 + 1, None, None),
        decision("in", "40011", T0),
        purchase("in", T0 + DAY, None, None),
        purchase("in", T0 + 3 * DAY, None, None),
    ]]);
    let mut req = ResultsRequest::new("ab_exp");
    req.window = Window { from: Some(T0), to: Some(T0 + 2 * DAY) };
    let doc = results(dir.path(), &req);
    assert_eq!(counts(&doc, TOTAL), vec![(1, 1.0), (0, 0.0)]);
    // Without the window, the early visitor is in and both of `in`'s conversions count.
    let doc = results(dir.path(), &ResultsRequest::new("ab_exp"));
    assert_eq!(counts(&doc, TOTAL), vec![(2, 3.0), (0, 0.0)]);
}

#[test]
fn compacted_and_uncompacted_events_count_once_each() {
    let first: Vec<Ev> = vec![decision("u1", "40011", T0), decision("u2", "40012", T0 + 1)];
    let dir = data_dir(&[first]);
    vario_store::compact(dir.path(), &vario_store::CompactOptions::default()).unwrap();
    let store = vario_store::Store::open(dir.path()).unwrap();
    store
        .append(&batch(&[purchase("u1", T0 + 2, Some(100), Some(1.5)), purchase("u2", T0 + 3, None, None)]), 0)
        .unwrap();
    store.close();
    let doc = results(dir.path(), &ResultsRequest::new("ab_exp"));
    assert_eq!(counts(&doc, RATE), vec![(1, 1.0), (1, 1.0)]);
    assert_eq!(counts(&doc, "purchase: value per visitor"), vec![(1, 1.5), (1, 0.0)]);
}

#[test]
fn events_of_other_experiments_and_unlinked_events_are_ignored() {
    let dir = data_dir(&[vec![
        decision("u1", "40011", T0),
        Ev::Conversion("u1".into(), "unrelated", T0 + 1, "00000000-0000-4000-8000-900000000001".into(), None, None),
    ]]);
    let doc = results(dir.path(), &ResultsRequest::new("ab_exp"));
    assert_eq!(doc.metrics.len(), 4, "one linked event, four metrics");
    assert_eq!(counts(&doc, RATE), vec![(1, 0.0), (0, 0.0)]);
}

#[test]
fn a_sql_metric_sums_its_rows_after_the_first_decision() {
    let dir = data_dir(&[vec![
        decision("u1", "40011", T0),
        purchase("u1", T0 - 1, Some(7), None),
        purchase("u1", T0 + 1, Some(3), None),
        purchase("u1", T0 + 2, Some(4), None),
    ]]);
    let mut req = ResultsRequest::new("ab_exp");
    req.sql_metrics.push(SqlMetric {
        name: "revenue in cents".into(),
        sql: "SELECT visitor_id, timestamp, revenue AS value FROM events WHERE kind = 'conversion'".into(),
    });
    let doc = results(dir.path(), &req);
    assert_eq!(counts(&doc, "revenue in cents")[0], (1, 7.0));
}

#[test]
fn a_sql_metric_that_is_not_a_query_or_lacks_columns_is_refused() {
    let dir = data_dir(&[vec![decision("u1", "40011", T0)]]);
    let config = find_config(dir.path(), "ab_exp", None, None).unwrap();
    for (sql, expect) in [
        ("DROP TABLE events", "SQL metric"),
        ("SELECT visitor_id FROM events", "timestamp"),
        ("SELECT nope FROM events", "nope"),
    ] {
        let mut req = ResultsRequest::new("ab_exp");
        req.sql_metrics.push(SqlMetric { name: "m".into(), sql: sql.into() });
        let err = Engine::new(dir.path()).results(&config, &req, &|_| {}).unwrap_err();
        assert!(matches!(err, ResultsError::InvalidRequest(_)), "{sql}: {err:?}");
        assert!(err.to_string().contains(expect), "{sql}: {err}");
    }
}

#[test]
fn an_unknown_experiment_or_baseline_is_an_error_naming_it() {
    let dir = data_dir(&[vec![decision("u1", "40011", T0)]]);
    let err = find_config(dir.path(), "nope", None, None).unwrap_err();
    assert!(err.to_string().contains("\"nope\""), "{err}");
    let config = find_config(dir.path(), "ab_exp", None, None).unwrap();
    let mut req = ResultsRequest::new("ab_exp");
    req.baseline = Some("missing".into());
    let err = Engine::new(dir.path()).results(&config, &req, &|_| {}).unwrap_err();
    assert!(err.to_string().contains("\"missing\""), "{err}");
}

#[test]
fn a_repeated_request_on_unchanged_data_comes_from_the_cache() {
    let dir = data_dir(&[vec![decision("u1", "40011", T0)]]);
    let config = find_config(dir.path(), "ab_exp", None, None).unwrap();
    let engine = Engine::new(dir.path());
    let req = ResultsRequest::new("ab_exp");
    let a = engine.results(&config, &req, &|_| {}).unwrap();
    let b = engine.results(&config, &req, &|_| {}).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let store = vario_store::Store::open(dir.path()).unwrap();
    store.append(&batch(&[decision("u2", "40012", T0)]), 0).unwrap();
    store.close();
    let c = engine.results(&config, &req, &|_| {}).unwrap();
    assert_eq!(c.variations[1].visitors, 1, "new events are seen");
}

#[test]
fn a_warm_engine_answers_other_windows_and_segments_like_a_fresh_one() {
    let dir = data_dir(&[vec![
        decision_in("a", "40011", T0, "safari"),
        decision_in("a", "40012", T0 + DAY, "chrome"),
        purchase("a", T0 + 2, Some(5), None),
        decision_in("b", "40012", T0 + 1, "chrome"),
        purchase("b", T0 + 2 * DAY, Some(7), Some(1.5)),
        decision_in("c", "40011", T0 + 3 * DAY, "safari"),
        purchase("c", T0 + 1, None, None),
        purchase("c", T0 + 4 * DAY, None, None),
    ]]);
    let config = find_config(dir.path(), "ab_exp", None, None).unwrap();
    let warm = Engine::new(dir.path());
    warm.results(&config, &ResultsRequest::new("ab_exp"), &|_| {}).unwrap();
    let mut requests = Vec::new();
    for (from, to) in [(None, None), (Some(T0 + 1), None), (None, Some(T0 + DAY)), (Some(T0 + DAY), Some(T0 + 3 * DAY))]
    {
        for segment in [None, Some("safari"), Some("chrome")] {
            for exclude in [false, true] {
                let mut req = ResultsRequest::new("ab_exp");
                req.window = Window { from, to };
                req.segment = segment.map(|v| SegmentDoc { attribute: "browser".into(), value: v.into() });
                req.exclude_multiple_exposures = exclude;
                requests.push(req);
            }
        }
    }
    for req in &requests {
        let fresh = Engine::new(dir.path()).results(&config, req, &|_| {}).unwrap();
        assert_eq!(*warm.results(&config, req, &|_| {}).unwrap(), *fresh, "{req:?}");
    }
}
