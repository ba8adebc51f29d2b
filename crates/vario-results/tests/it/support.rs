//! A data directory with a hosted datafile and events written through the store.

use serde_json::{Value, json};
use vario_events::EventBatch;
use vario_store::{Datafiles, Store};

pub(crate) const SDK_KEY: &str = "results-test";
pub(crate) const DAY: i64 = 86_400_000;
/// 2026-11-02T00:00:00Z.
pub(crate) const T0: i64 = 1_793_577_600_000;

pub(crate) fn datafile() -> Value {
    json!({
        "version": "4", "accountId": "12001", "projectId": "12002", "revision": "7",
        "attributes": [{"id": "20001", "key": "browser"}],
        "audiences": [], "groups": [], "featureFlags": [], "rollouts": [],
        "experiments": [{
            "id": "40001", "key": "ab_exp", "layerId": "41001", "status": "Running",
            "audienceIds": [], "forcedVariations": {},
            "variations": [{"id": "40011", "key": "control"}, {"id": "40012", "key": "treatment"}],
            "trafficAllocation": [{"entityId": "40011", "endOfRange": 5000}, {"entityId": "40012", "endOfRange": 10000}]
        }],
        "events": [
            {"id": "90001", "key": "purchase", "experimentIds": ["40001"]},
            {"id": "90002", "key": "unrelated", "experimentIds": []}
        ]
    })
}

/// One stored event, described shortly.
#[derive(Clone)]
pub(crate) enum Ev {
    /// visitor, variation id, timestamp, uuid, browser
    Decision(String, &'static str, i64, String, &'static str),
    /// visitor, event key, timestamp, uuid, revenue, value
    Conversion(String, &'static str, i64, String, Option<i64>, Option<f64>),
}

pub(crate) fn decision(visitor: &str, variation: &'static str, ts: i64) -> Ev {
    Ev::Decision(visitor.to_owned(), variation, ts, uuid(), "safari")
}

pub(crate) fn decision_in(visitor: &str, variation: &'static str, ts: i64, browser: &'static str) -> Ev {
    Ev::Decision(visitor.to_owned(), variation, ts, uuid(), browser)
}

pub(crate) fn purchase(visitor: &str, ts: i64, revenue: Option<i64>, value: Option<f64>) -> Ev {
    Ev::Conversion(visitor.to_owned(), "purchase", ts, uuid(), revenue, value)
}

fn uuid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("00000000-0000-4000-8000-{:012}", NEXT.fetch_add(1, Ordering::Relaxed))
}

pub(crate) fn batch(events: &[Ev]) -> EventBatch {
    let visitors: Vec<Value> = events
        .iter()
        .map(|e| match e {
            Ev::Decision(visitor, variation, ts, uuid, browser) => json!({
                "visitor_id": visitor,
                "attributes": [{"entity_id": "20001", "key": "browser", "type": "custom", "value": browser}],
                "snapshots": [{
                    "decisions": [{"campaign_id": "41001", "experiment_id": "40001", "variation_id": variation,
                                   "metadata": {"flag_key": "", "rule_key": "ab_exp", "rule_type": "experiment",
                                                "variation_key": "", "enabled": true}}],
                    "events": [{"entity_id": "41001", "key": "campaign_activated", "timestamp": ts, "uuid": uuid}]
                }]
            }),
            Ev::Conversion(visitor, key, ts, uuid, revenue, value) => {
                let mut event = json!({"entity_id": "90001", "key": key, "timestamp": ts, "uuid": uuid});
                if let Some(r) = revenue {
                    event["revenue"] = json!(r);
                }
                if let Some(v) = value {
                    event["value"] = json!(v);
                }
                json!({"visitor_id": visitor, "attributes": [], "snapshots": [{"events": [event]}]})
            }
        })
        .collect();
    serde_json::from_value(json!({
        "account_id": "12001", "project_id": "12002", "revision": "7",
        "client_name": "python-sdk", "client_version": "5.7.0",
        "anonymize_ip": false, "enrich_decisions": true, "visitors": visitors
    }))
    .unwrap()
}

/// A data directory holding the test datafile and `events` (each slice one request).
pub(crate) fn data_dir(requests: &[Vec<Ev>]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    Datafiles::new(dir.path()).put(SDK_KEY, datafile().to_string().as_bytes()).unwrap();
    let store = Store::open(dir.path()).unwrap();
    for events in requests {
        store.append(&batch(events), vario_store::now_ms()).unwrap();
    }
    store.close();
    dir
}
