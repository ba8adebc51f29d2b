//! The made-up datafile of events.md §10 and helpers shared by the tests.

use serde_json::{Map, Value};
use vario_core::Attributes;
use vario_datafile::ProjectConfig;
use vario_events::{EventFactory, LogEvent, UserEvent};

/// events.md §10: account 12001, project 12002, revision 42, anonymizeIP and
/// botFiltering on, three attributes, one A/B experiment, one flag with a rollout, a flag
/// with no rules, one event.
pub(crate) const DATAFILE: &str = r#"{
  "version": "4", "accountId": "12001", "projectId": "12002", "revision": "42",
  "anonymizeIP": true, "botFiltering": true, "sendFlagDecisions": true,
  "attributes": [{"id": "20001", "key": "device"}, {"id": "20002", "key": "age"},
                 {"id": "20004", "key": "plan"}],
  "audiences": [], "groups": [],
  "experiments": [{
    "id": "40001", "key": "ab_exp", "layerId": "41001", "status": "Running",
    "audienceIds": [], "forcedVariations": {},
    "variations": [{"id": "40011", "key": "control", "featureEnabled": false, "variables": []},
                   {"id": "40012", "key": "treatment", "featureEnabled": false, "variables": []}],
    "trafficAllocation": [{"entityId": "40011", "endOfRange": 5000},
                          {"entityId": "40012", "endOfRange": 10000}]
  }],
  "featureFlags": [
    {"id": "70001", "key": "checkout_flag", "experimentIds": [], "rolloutId": "80001", "variables": []},
    {"id": "70002", "key": "empty_flag", "experimentIds": [], "rolloutId": "", "variables": []}
  ],
  "rollouts": [{"id": "80001", "experiments": [{
    "id": "81002", "key": "rule_adult", "layerId": "80001", "status": "Running",
    "audienceIds": [], "forcedVariations": {},
    "variations": [{"id": "81021", "key": "rule_on2", "featureEnabled": true, "variables": []}],
    "trafficAllocation": [{"entityId": "81021", "endOfRange": 10000}]
  }]}],
  "events": [{"id": "90001", "key": "purchase", "experimentIds": ["40001"]}]
}"#;

/// The §10 config.
pub(crate) fn config() -> ProjectConfig {
    config_from(DATAFILE)
}

/// A config from datafile text that must be valid.
pub(crate) fn config_from(text: &str) -> ProjectConfig {
    ProjectConfig::from_json(text).unwrap_or_else(|e| panic!("test datafile is invalid: {e}"))
}

/// The §10 config with top-level keys replaced or added.
pub(crate) fn config_with(changes: Value) -> ProjectConfig {
    let mut root: Value = serde_json::from_str(DATAFILE).unwrap_or_default();
    if let (Some(root), Value::Object(changes)) = (root.as_object_mut(), changes) {
        root.extend(changes);
    }
    config_from(&root.to_string())
}

/// The §10 factory.
pub(crate) fn factory() -> EventFactory {
    EventFactory::new(&config())
}

/// Attributes from a JSON object, in its key order.
pub(crate) fn attrs(value: Value) -> Attributes {
    match value {
        Value::Object(map) => map.into(),
        _ => Attributes::new(),
    }
}

/// A JSON object.
pub(crate) fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// The parsed JSON body of a one-event batch.
pub(crate) fn body(event: UserEvent) -> Value {
    serde_json::from_slice(&LogEvent::from(event).to_json_bytes()).unwrap_or_default()
}

/// The single snapshot event of a one-event body.
pub(crate) fn snapshot_event(body: &Value) -> &Value {
    &body["visitors"][0]["snapshots"][0]["events"][0]
}

/// The single decision of a one-event body.
pub(crate) fn decision(body: &Value) -> &Value {
    &body["visitors"][0]["snapshots"][0]["decisions"][0]
}

/// A Python-reference expected body with this SDK's client name and version.
pub(crate) fn as_ours(mut expected: Value) -> Value {
    expected["client_name"] = Value::from(vario_events::CLIENT_NAME);
    expected["client_version"] = Value::from(vario_events::CLIENT_VERSION);
    expected
}
