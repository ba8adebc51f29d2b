//! Audience evaluation never panics: the input is `<condition tree JSON>\n<attributes
//! JSON object>`; the tree becomes a typed audience (and, as text, a legacy one) used by
//! an experiment, a feature test and a delivery rule, which are then decided.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use vario_sdk::{Attributes, Client, DecideOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (tree, attributes) = text.split_once('\n').unwrap_or((text, "{}"));
    let Ok(tree) = serde_json::from_str::<Value>(tree) else { return };
    let attributes = match serde_json::from_str::<Value>(attributes) {
        Ok(Value::Object(map)) => Attributes::from(map),
        _ => Attributes::new(),
    };
    let rule = |id: &str, key: &str, layer: &str, audience: Value| {
        json!({
            "id": id, "key": key, "layerId": layer, "status": "Running", "audienceIds": [],
            "audienceConditions": audience, "forcedVariations": {},
            "variations": [{"id": format!("{id}1"), "key": "on", "featureEnabled": true}],
            "trafficAllocation": [{"entityId": format!("{id}1"), "endOfRange": 10000}]
        })
    };
    let datafile = json!({
        "version": "4", "accountId": "1", "projectId": "2", "revision": "3",
        "attributes": [], "events": [], "groups": [],
        "audiences": [{"id": "legacy", "name": "legacy", "conditions": tree.to_string()}],
        "typedAudiences": [{"id": "typed", "name": "typed", "conditions": tree}],
        "experiments": [rule("1", "exp", "1", json!(["typed"])), rule("2", "test", "2", json!(["not", "legacy"]))],
        "rollouts": [{"id": "r", "experiments": [rule("3", "rule", "r", json!(["or", "typed", "legacy"])), rule("4", "everyone", "r", json!([]))]}],
        "featureFlags": [{"id": "f", "key": "flag", "experimentIds": ["2"], "rolloutId": "r", "variables": []}]
    });
    let Ok(client) = Client::from_datafile(&datafile.to_string()) else { return };
    let _ = client.get_variation("exp", "user", &attributes);
    let _ = client.is_feature_enabled("flag", "user", &attributes);
    let _ = client.create_user_context("user", attributes).decide("flag", DecideOptions::INCLUDE_REASONS);
});
