//! Reading payloads as the official SDKs send them.

use serde_json::{Value, json};
use vario_events::EventBatch;

use crate::examples::track_10_3;
use crate::fixture::body;

/// The Python reference payload of §10.1, with keys other SDKs add.
#[test]
fn unknown_fields_are_ignored() {
    let text = r#"{
      "account_id": "12001", "project_id": "12002", "revision": "42",
      "client_name": "go-sdk", "client_version": "2.1.0", "anonymize_ip": true,
      "enrich_decisions": true, "region": "US", "future_field": {"a": [1]},
      "visitors": [{
        "session_id": null,
        "snapshots": [{
          "activation_timestamp": 0,
          "events": [{"entity_id": "41001", "uuid": "00000000-0000-4000-8000-000000000001",
                      "key": "campaign_activated", "timestamp": 1700000000002, "type": "x", "quantity": 1}],
          "decisions": [{"campaign_id": "41001", "experiment_id": "40001", "variation_id": "40011",
                         "is_campaign_holdback": false,
                         "metadata": {"flag_key": "", "rule_key": "ab_exp", "rule_type": "experiment",
                                      "variation_key": "control", "enabled": true, "extra": 1}}]
        }],
        "attributes": [{"entity_id": "20001", "key": "device", "type": "custom", "value": "iphone", "x": 2}],
        "visitor_id": "user_4"
      }]
    }"#;
    let batch: EventBatch = serde_json::from_str(text).unwrap();
    assert_eq!(&*batch.client_name, "go-sdk");
    let visitor = &batch.visitors[0];
    assert_eq!(visitor.visitor_id, "user_4");
    let decision = &visitor.snapshots[0].decisions.as_ref().unwrap()[0];
    assert_eq!(decision.variation_id.as_deref(), Some("40011"));
    assert_eq!(decision.metadata.rule_type, "experiment");
    assert_eq!(visitor.snapshots[0].events[0].timestamp, 1_700_000_000_002);
    assert_eq!(visitor.attributes[0].value, json!("iphone"));
}

/// JS sends `campaign_id: null` (and a null entity id) when there is no campaign; older
/// SDKs send no metadata; a timestamp may be written as a float.
#[test]
fn nulls_and_missing_optional_fields_read_as_empty() {
    let text = r#"{
      "account_id": "1", "anonymize_ip": false, "project_id": "2", "revision": "3",
      "client_name": "javascript-sdk", "client_version": "5.0.0", "enrich_decisions": true,
      "visitors": [{
        "visitor_id": "u", "attributes": null,
        "snapshots": [{
          "events": [{"entity_id": null, "uuid": "x", "key": "campaign_activated", "timestamp": 1.7e12,
                      "revenue": null, "value": 3, "tags": null}],
          "decisions": [{"campaign_id": null, "experiment_id": "", "variation_id": null}]
        }]
      }]
    }"#;
    let batch: EventBatch = serde_json::from_str(text).unwrap();
    let snapshot = &batch.visitors[0].snapshots[0];
    let event = &snapshot.events[0];
    assert_eq!(&*event.entity_id, "");
    assert_eq!(event.timestamp, 1_700_000_000_000);
    assert_eq!((event.revenue.as_ref(), event.value, event.tags.as_ref()), (None, Some(3.0), None));
    let decision = &snapshot.decisions.as_ref().unwrap()[0];
    assert_eq!(decision.campaign_id, "");
    assert_eq!(decision.variation_id, None);
    assert_eq!(decision.metadata, Default::default());
    assert!(batch.visitors[0].attributes.is_empty());
}

#[test]
fn required_fields_and_bad_types_are_errors() {
    for text in [
        r#"{"visitors": []}"#,
        r#"{"account_id": "1"}"#,
        r#"{"account_id": "1", "visitors": [{"snapshots": []}]}"#,
        r#"{"account_id": "1", "visitors": [{"visitor_id": "u", "snapshots": [{"events": [{"key": "k"}]}]}]}"#,
        r#"{"account_id": "1", "visitors": [{"visitor_id": "u", "snapshots": [{"events": [{"timestamp": 1.5}]}]}]}"#,
        r#"{"account_id": 1, "visitors": []}"#,
    ] {
        assert!(serde_json::from_str::<EventBatch>(text).is_err(), "{text}");
    }
}

/// What this crate writes reads back to the same model.
#[test]
fn our_payload_round_trips() {
    let event = track_10_3();
    let batch = EventBatch::from_events(std::slice::from_ref(&event)).unwrap();
    let parsed: EventBatch = serde_json::from_slice(&batch.to_json_bytes()).unwrap();
    assert_eq!(parsed, batch);
    assert_eq!(serde_json::to_value(&parsed).unwrap(), body(event));
}

/// The Python reference body reads and writes back unchanged (apart from nothing).
#[test]
fn python_payload_round_trips_exactly() {
    let python = json!({
      "account_id": "12001", "project_id": "12002", "revision": "42",
      "client_name": "python-sdk", "client_version": "5.7.0", "anonymize_ip": true,
      "enrich_decisions": true,
      "visitors": [{
        "snapshots": [{"events": [{"entity_id": "", "uuid": "u", "key": "campaign_activated", "timestamp": 8}],
                       "decisions": [{"campaign_id": "", "experiment_id": "", "variation_id": null,
                                      "metadata": {"flag_key": "empty_flag", "rule_key": "", "rule_type": "rollout",
                                                   "variation_key": "", "enabled": false}}]}],
        "attributes": [], "visitor_id": "user_4"
      }]
    });
    let batch: EventBatch = serde_json::from_value(python.clone()).unwrap();
    let written: Value = serde_json::from_slice(&batch.to_json_bytes()).unwrap();
    assert_eq!(written, python);
    assert_eq!(batch.to_json_string(), python.to_string());
}

/// The fast writer escapes exactly as serde_json does and strips hand-built nulls.
#[test]
fn fast_writer_matches_serde_on_awkward_models() {
    let text = r#"{
      "account_id": "a\"b\\c\u0001\n", "project_id": "é✓", "revision": "\u007f",
      "client_name": "x", "client_version": "y", "anonymize_ip": {"value": null, "k": [null]},
      "enrich_decisions": false,
      "visitors": [{
        "visitor_id": "\t",
        "attributes": [{"entity_id": "1", "key": "k", "type": "custom", "value": null},
                       {"entity_id": "2", "key": "k2", "type": "custom", "value": {"tags": null, "a": -0.0}}],
        "snapshots": [{
          "events": [{"entity_id": "e", "uuid": "u", "key": "k", "timestamp": -1, "revenue": 18446744073709551615,
                      "value": -1.5e-7, "tags": {"revenue": null, "\"": "\u2028", "n": 1e300}}],
          "decisions": [{"campaign_id": "", "experiment_id": "", "variation_id": null,
                         "metadata": {"flag_key": "f", "rule_key": "", "rule_type": "holdout",
                                      "variation_key": "", "enabled": false, "cmab_uuid": ""}}]
        }, {"events": [], "decisions": []}]
      }]
    }"#;
    let batch: EventBatch = serde_json::from_str(text).unwrap();
    let fast = batch.to_json_string();
    assert_eq!(fast, serde_json::to_string(&batch).unwrap());
    assert!(!fast.contains(r#""value":null"#) && !fast.contains(r#""revenue":null"#), "{fast}");
    assert!(!fast.contains("cmab_uuid"), "{fast}");
}
