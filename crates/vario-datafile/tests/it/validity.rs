//! Datafile validity (checklist items 73–76): what loads, what does not, and the JSON
//! path every error names.

use serde_json::{Value, json};
use vario_datafile::{DatafileError, ProjectConfig};

/// A valid datafile using every list: an experiment, a group with an experiment, a
/// rollout with a rule, a flag, an audience, a typed audience, an attribute, an event.
pub(crate) fn full() -> Value {
    let exp = |id: &str, key: &str| {
        json!({
            "id": id, "key": key, "layerId": "l", "status": "Running", "audienceIds": [],
            "forcedVariations": {}, "variations": [{"id": format!("{id}1"), "key": "on", "featureEnabled": true}],
            "trafficAllocation": [{"entityId": format!("{id}1"), "endOfRange": 5000}]
        })
    };
    json!({
        "version": "4", "accountId": "1", "projectId": "2", "revision": "3",
        "attributes": [{"id": "20001", "key": "device"}],
        "audiences": [{"id": "a1", "name": "a1", "conditions": "[\"or\", {\"name\": \"device\", \"type\": \"custom_attribute\", \"value\": \"x\"}]"}],
        "typedAudiences": [{"id": "a2", "name": "a2", "conditions": ["and", {"name": "age", "type": "custom_attribute", "match": "gt", "value": 1}]}],
        "events": [{"id": "90001", "key": "purchase", "experimentIds": ["100"]}],
        "experiments": [exp("100", "exp")],
        "groups": [{"id": "50001", "policy": "random", "trafficAllocation": [{"entityId": "200", "endOfRange": 10000}], "experiments": [exp("200", "grouped")]}],
        "rollouts": [{"id": "r1", "experiments": [exp("300", "rule")]}],
        "featureFlags": [{"id": "f1", "key": "flag", "experimentIds": ["100", "200"], "rolloutId": "r1",
            "variables": [{"id": "v1", "key": "n", "type": "integer", "defaultValue": "1"}]}]
    })
}

fn load(v: &Value) -> Result<ProjectConfig, DatafileError> {
    ProjectConfig::from_value(v)
}

/// Edits `full()` at a JSON pointer: `None` removes the key, `Some(v)` sets it.
fn edited(pointer: &str, value: Option<Value>) -> Value {
    let mut doc = full();
    let (parent, key) = pointer.rsplit_once('/').expect("pointer with a parent");
    let target = doc.pointer_mut(parent).unwrap_or_else(|| panic!("no parent {parent}"));
    match (target, value) {
        (Value::Object(map), None) => {
            assert!(map.remove(key).is_some(), "{pointer} does not exist");
        }
        (Value::Object(map), Some(v)) => {
            map.insert(key.to_owned(), v);
        }
        (Value::Array(list), Some(v)) => list[key.parse::<usize>().unwrap()] = v,
        (other, _) => panic!("cannot edit {pointer} in {other}"),
    }
    doc
}

/// The error of loading `doc`, which must be invalid with a path.
fn invalid_at(doc: &Value) -> (String, String) {
    match load(doc) {
        Ok(_) => panic!("must be invalid: {doc}"),
        Err(e) => (e.path().unwrap_or_else(|| panic!("no path in {e}")).to_owned(), e.to_string()),
    }
}

#[test]
fn the_full_test_datafile_is_valid() {
    let config = load(&full()).unwrap();
    assert_eq!(config.flags.len(), 1);
    assert_eq!(config.experiments.len(), 3);
}

/// Checklist 73.
#[test]
fn version_must_be_the_string_2_3_or_4() {
    for v in ["2", "3", "4"] {
        let config = load(&edited("/version", Some(json!(v)))).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert_eq!(config.version, v);
    }
    for v in ["1", "5", "4.0", " 4", "", "v4"] {
        match load(&edited("/version", Some(json!(v)))) {
            Err(e @ DatafileError::UnsupportedVersion(_)) => {
                assert_eq!(e.to_string(), format!("unsupported datafile version {v:?}"));
            }
            other => panic!("version {v:?}: {other:?}"),
        }
    }
    for v in [json!(4), json!(4.0), json!(null), json!(["4"]), json!(true)] {
        let (path, message) = invalid_at(&edited("/version", Some(v.clone())));
        assert_eq!(path, "version", "{v}");
        assert!(message.starts_with("version: expected a string"), "{message}");
    }
    let (path, message) = invalid_at(&edited("/version", None));
    assert_eq!(path, "version");
    assert!(message.starts_with("version: ") && message.contains("missing"), "{message}");
}

/// Checklist 74.
#[test]
fn missing_required_lists_ids_and_revision_are_invalid_with_their_path() {
    for key in ["groups", "attributes", "audiences", "events", "experiments", "accountId", "projectId", "revision"] {
        let (path, message) = invalid_at(&edited(&format!("/{key}"), None));
        assert_eq!(path, key);
        assert!(message.starts_with(&format!("{key}: ")) && message.contains("missing"), "{message}");
    }
    let nested = [
        ("/experiments/0/id", "experiments[0].id"),
        ("/experiments/0/key", "experiments[0].key"),
        ("/experiments/0/layerId", "experiments[0].layerId"),
        ("/experiments/0/status", "experiments[0].status"),
        ("/experiments/0/audienceIds", "experiments[0].audienceIds"),
        ("/experiments/0/forcedVariations", "experiments[0].forcedVariations"),
        ("/experiments/0/variations", "experiments[0].variations"),
        ("/experiments/0/variations/0/id", "experiments[0].variations[0].id"),
        ("/experiments/0/variations/0/key", "experiments[0].variations[0].key"),
        ("/experiments/0/trafficAllocation", "experiments[0].trafficAllocation"),
        ("/experiments/0/trafficAllocation/0/entityId", "experiments[0].trafficAllocation[0].entityId"),
        ("/experiments/0/trafficAllocation/0/endOfRange", "experiments[0].trafficAllocation[0].endOfRange"),
        ("/groups/0/id", "groups[0].id"),
        ("/groups/0/policy", "groups[0].policy"),
        ("/groups/0/experiments/0/id", "groups[0].experiments[0].id"),
        ("/rollouts/0/id", "rollouts[0].id"),
        ("/rollouts/0/experiments/0/id", "rollouts[0].experiments[0].id"),
        ("/rollouts/0/experiments/0/forcedVariations", "rollouts[0].experiments[0].forcedVariations"),
        ("/rollouts/0/experiments/0/audienceIds", "rollouts[0].experiments[0].audienceIds"),
        ("/attributes/0/id", "attributes[0].id"),
        ("/attributes/0/key", "attributes[0].key"),
        ("/events/0/id", "events[0].id"),
        ("/events/0/experimentIds", "events[0].experimentIds"),
        ("/audiences/0/id", "audiences[0].id"),
        ("/audiences/0/conditions", "audiences[0].conditions"),
        ("/typedAudiences/0/name", "typedAudiences[0].name"),
        ("/featureFlags/0/id", "featureFlags[0].id"),
        ("/featureFlags/0/rolloutId", "featureFlags[0].rolloutId"),
        ("/featureFlags/0/experimentIds", "featureFlags[0].experimentIds"),
        ("/featureFlags/0/variables", "featureFlags[0].variables"),
        ("/featureFlags/0/variables/0/defaultValue", "featureFlags[0].variables[0].defaultValue"),
    ];
    for (pointer, want) in nested {
        let (path, message) = invalid_at(&edited(pointer, None));
        assert_eq!(path, want, "removing {pointer}");
        assert!(message.starts_with(&format!("{want}: ")) && message.contains("missing"), "{message}");
    }
    // Wrong types name the value found.
    let (path, message) = invalid_at(&edited("/accountId", Some(json!(1))));
    assert_eq!((path.as_str(), message.as_str()), ("accountId", "accountId: expected a string, found 1"));
    let (_, message) = invalid_at(&edited("/audiences/0/conditions", Some(json!(["or"]))));
    assert_eq!(message, "audiences[0].conditions: expected a string, found an array");
    let (path, _) = invalid_at(&edited("/audiences/0/conditions", Some(json!("[\"or\""))));
    assert_eq!(path, "audiences[0].conditions", "legacy conditions that are not JSON");
}

/// Checklist 75.
#[test]
fn float_end_of_range_and_dangling_flag_references_are_invalid() {
    for (pointer, want) in [
        ("/experiments/0/trafficAllocation/0/endOfRange", "experiments[0].trafficAllocation[0].endOfRange"),
        ("/groups/0/trafficAllocation/0/endOfRange", "groups[0].trafficAllocation[0].endOfRange"),
        (
            "/groups/0/experiments/0/trafficAllocation/0/endOfRange",
            "groups[0].experiments[0].trafficAllocation[0].endOfRange",
        ),
    ] {
        for bad in [json!(5000.0), json!("5000"), json!(null), json!(true)] {
            let (path, message) = invalid_at(&edited(pointer, Some(bad.clone())));
            assert_eq!(path, want, "{bad}");
            assert!(message.starts_with(&format!("{want}: expected an integer")), "{message}");
        }
    }
    let (_, message) = invalid_at(&edited("/experiments/0/trafficAllocation/0/endOfRange", Some(json!("x"))));
    assert_eq!(message, r#"experiments[0].trafficAllocation[0].endOfRange: expected an integer, found "x""#);
    let (_, message) = invalid_at(&edited("/experiments/0/trafficAllocation/0/endOfRange", Some(json!(5000.0))));
    assert_eq!(message, "experiments[0].trafficAllocation[0].endOfRange: expected an integer, found 5000.0");
    // Rollout rules are not schema-checked: a float bound still loads.
    load(&edited("/rollouts/0/experiments/0/trafficAllocation/0/endOfRange", Some(json!(5000.0)))).unwrap();

    let (path, message) = invalid_at(&edited("/featureFlags/0/experimentIds", Some(json!(["100", "ghost"]))));
    assert_eq!(path, "featureFlags[0].experimentIds[1]");
    assert_eq!(message, r#"featureFlags[0].experimentIds[1]: unknown experiment id "ghost""#);
    let (path, message) = invalid_at(&edited("/featureFlags/0/rolloutId", Some(json!("ghost"))));
    assert_eq!(path, "featureFlags[0].rolloutId");
    assert_eq!(message, r#"featureFlags[0].rolloutId: unknown rollout id "ghost""#);
    let (path, _) = invalid_at(&edited("/featureFlags/0/rolloutId", Some(Value::Null)));
    assert_eq!(path, "featureFlags[0].rolloutId");
    load(&edited("/featureFlags/0/rolloutId", Some(json!("")))).expect("\"\" means no rollout");
}

/// Checklist 76.
#[test]
fn unknown_keys_unknown_statuses_and_missing_optional_lists_are_still_valid() {
    let mut doc = full();
    doc["somethingNew"] = json!({"a": [1, 2]});
    doc["experiments"][0]["extra"] = json!(true);
    doc["experiments"][0]["variations"][0]["extra"] = json!(null);
    doc["featureFlags"][0]["extra"] = json!("x");
    doc["experiments"][0]["status"] = json!("Whatever");
    doc["groups"][0]["experiments"][0]["status"] = json!("Not started");
    doc["rollouts"][0]["experiments"][0]["status"] = json!("");
    let config = load(&doc).unwrap();
    assert!(config.experiments.iter().all(|e| !e.is_running));
    assert_eq!(config.experiments[0].status, "Whatever");

    let mut doc = full();
    doc["featureFlags"] = json!([]);
    for key in ["featureFlags", "rollouts", "typedAudiences"] {
        doc.as_object_mut().unwrap().remove(key);
    }
    let config = load(&doc).unwrap();
    assert!(config.flags.is_empty() && config.rollouts.is_empty());
    assert_eq!(config.audiences.len(), 1, "only the legacy audience");

    let minimal = r#"{"version": "4", "accountId": "1", "projectId": "2", "revision": "3",
        "groups": [], "experiments": [], "events": [], "audiences": [], "attributes": []}"#;
    ProjectConfig::from_json(minimal).unwrap();
    // Non-bool anonymizeIP and non-numeric ids are accepted too.
    let mut doc = full();
    doc["anonymizeIP"] = json!("yes");
    doc["experiments"][0]["id"] = json!("exp_a");
    doc["featureFlags"][0]["experimentIds"] = json!(["exp_a"]);
    load(&doc).unwrap();
}

#[test]
fn datafile_validity_fixtures_of_the_reference_sdk() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec/compat/datafile-validity");
    let expected: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    assert!(expected.len() >= 20);
    for (file, valid) in expected {
        let text = std::fs::read_to_string(dir.join(&file)).unwrap();
        let result = ProjectConfig::from_json(&text);
        assert_eq!(result.is_ok(), valid.as_bool().unwrap(), "{file}: {:?}", result.err());
        if let Err(e @ DatafileError::Invalid { .. }) = &result {
            assert!(e.path().is_some_and(|p| !p.is_empty()), "{file}: {e}");
        }
    }
}
