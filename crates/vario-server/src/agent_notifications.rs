//! Agent's notification stream (`/v1/notifications/event-stream`): the decisions,
//! conversions and config updates of an environment's deciding client, in the shapes
//! Optimizely Agent sends them. Agent is built on the Go SDK and writes the Go SDK's
//! notification structs as JSON, so field names are the Go ones (`Type`, `UserContext`,
//! `DecisionInfo`; `flagKey` inside), while Vario's SDK notifies with the Python SDK's
//! keys (`flag_key`): [`decision`] and [`track`] translate.
//!
//! One listener per kind is added to the client while anyone subscribes, and removed
//! with the last subscriber, so deciding costs nothing extra when nobody listens. A
//! message is built once and shared by every subscriber of the environment.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use vario_sdk::{Attributes, ConfigUpdateNotification, DecisionNotification, DecisionType, TrackNotification};

/// What a notification is about: the names of Agent's `filter` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `decision`: a decision was made.
    Decision,
    /// `track`: a conversion was tracked.
    Track,
    /// `project_config_update`: the environment's datafile changed.
    ProjectConfigUpdate,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Self; 3] = [Self::Decision, Self::Track, Self::ProjectConfigUpdate];

    /// Agent's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Decision => "decision",
            Self::Track => "track",
            Self::ProjectConfigUpdate => "project_config_update",
        }
    }

    /// The topic named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// A notification ready to send: its topic and its JSON.
#[derive(Debug, Clone)]
pub struct Message {
    /// What it is about.
    pub topic: Topic,
    /// The JSON Agent sends, shared by every subscriber.
    pub json: Arc<str>,
}

impl Message {
    fn new(topic: Topic, value: &Value) -> Self {
        Self { topic, json: value.to_string().into() }
    }
}

/// The Go SDK's `UserContext` (`QualifiedSegments` is `null` when none were fetched, as
/// for every user of a server that fetches no segments).
fn user_context(user_id: &str, attributes: &Attributes) -> Value {
    let attributes: Map<String, Value> = attributes.iter().map(|(k, v)| (k.to_owned(), v.to_json())).collect();
    json!({"ID": user_id, "Attributes": attributes, "QualifiedSegments": null})
}

/// A decision as Agent sends it: `{"Type", "UserContext", "DecisionInfo"}`.
pub fn decision(n: &DecisionNotification) -> Message {
    let info = go_decision_info(n.decision_type, &n.info);
    let value = json!({"Type": n.decision_type.as_str(), "UserContext": user_context(&n.user_id, &n.attributes), "DecisionInfo": info});
    Message::new(Topic::Decision, &value)
}

/// The Go SDK's decision info for the Python SDK's. Keys become camelCase (values the
/// user set, variable values, stay as they are). Feature decisions nest under
/// `feature`; a flag decision's missing keys are `""`, as the Go SDK passes strings.
fn go_decision_info(kind: DecisionType, info: &Value) -> Value {
    let Value::Object(info) = info else { return Value::Object(Map::new()) };
    let mut go = Map::new();
    for (key, value) in info {
        let value = match key.as_str() {
            "source_info" => camel_keys(value),
            _ => value.clone(),
        };
        go.insert(camel(key), value);
    }
    match kind {
        DecisionType::Flag => {
            for key in ["variationKey", "ruleKey", "experimentId", "variationId"] {
                if go.get(key).is_none_or(Value::is_null) {
                    go.insert(key.into(), Value::String(String::new()));
                }
            }
            Value::Object(go)
        }
        DecisionType::AbTest | DecisionType::FeatureTest => {
            // The Go SDK sets `variationKey` only when a variation was decided.
            if go.get("variationKey").is_some_and(Value::is_null) {
                go.remove("variationKey");
            }
            Value::Object(go)
        }
        DecisionType::Feature | DecisionType::FeatureVariable | DecisionType::AllFeatureVariables => {
            json!({"feature": go})
        }
    }
}

fn camel_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (camel(k), v.clone())).collect()),
        other => other.clone(),
    }
}

/// `experiment_key` → `experimentKey`, `experiment_id` → `experimentId`.
fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A conversion as Agent sends it: `{"EventKey", "UserContext", "EventTags",
/// "ConversionEvent"}`, the conversion event with the payload's names (`entity_id`,
/// `key`, `tags`, `revenue`, `value`) and its visitor attributes under `Attributes`.
pub fn track(n: &TrackNotification) -> Message {
    let batch = n.log_event.params();
    let visitor = batch.visitors.first();
    let event = visitor.and_then(|v| v.snapshots.first()).and_then(|s| s.events.first());
    // In the Go struct's field order: entity_id, key, Attributes, tags, revenue, value.
    let mut conversion = Map::new();
    if let Some(event) = event {
        conversion.insert("entity_id".into(), Value::String(event.entity_id.to_string()));
        conversion.insert("key".into(), Value::String(event.key.to_string()));
    }
    let attributes = visitor.map(|v| serde_json::to_value(&v.attributes).unwrap_or(Value::Null));
    conversion.insert("Attributes".into(), attributes.unwrap_or(Value::Null));
    if let Some(event) = event {
        if let Some(tags) = event.tags.as_ref().filter(|t| !t.is_empty()) {
            conversion.insert("tags".into(), Value::Object(tags.clone()));
        }
        if let Some(revenue) = &event.revenue {
            conversion.insert("revenue".into(), Value::Number(revenue.clone()));
        }
        if let Some(value) = event.value.and_then(serde_json::Number::from_f64) {
            conversion.insert("value".into(), Value::Number(value));
        }
    }
    let tags = n.event_tags.clone().map_or(Value::Null, Value::Object);
    let value = json!({
        "EventKey": n.event_key,
        "UserContext": user_context(&n.user_id, &n.attributes),
        "EventTags": tags,
        "ConversionEvent": conversion,
    });
    Message::new(Topic::Track, &value)
}

/// A new datafile as Agent sends it: `{"Type": "project_config_update", "Revision"}`.
pub fn config_update(n: &ConfigUpdateNotification) -> Message {
    Message::new(Topic::ProjectConfigUpdate, &json!({"Type": "project_config_update", "Revision": n.revision}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_keys_become_the_go_sdks() {
        assert_eq!(camel("decision_event_dispatched"), "decisionEventDispatched");
        assert_eq!(camel("flag_key"), "flagKey");
        assert_eq!(camel("enabled"), "enabled");
    }

    #[test]
    fn a_flag_decision_has_the_go_sdks_info_with_empty_strings_for_what_is_missing() {
        let n = DecisionNotification {
            decision_type: DecisionType::Flag,
            user_id: "u1".into(),
            attributes: Attributes::from_iter([("plan", "gold")]),
            info: json!({"flag_key": "f", "enabled": false, "variables": {"my_var": 1}, "variation_key": null,
                "rule_key": null, "reasons": [], "decision_event_dispatched": false, "experiment_id": null,
                "variation_id": null}),
        };
        let m = decision(&n);
        assert_eq!(m.topic, Topic::Decision);
        let v: Value = serde_json::from_str(&m.json).unwrap();
        assert_eq!(
            v,
            json!({"Type": "flag", "UserContext": {"ID": "u1", "Attributes": {"plan": "gold"}, "QualifiedSegments": null},
                "DecisionInfo": {"flagKey": "f", "enabled": false, "variables": {"my_var": 1}, "variationKey": "",
                    "ruleKey": "", "reasons": [], "decisionEventDispatched": false, "experimentId": "", "variationId": ""}})
        );
    }

    #[test]
    fn feature_decisions_nest_under_feature_and_experiment_decisions_drop_a_missing_variation() {
        let feature = go_decision_info(
            DecisionType::Feature,
            &json!({"feature_key": "f", "feature_enabled": true, "source": "feature-test",
                "source_info": {"experiment_key": "e", "variation_key": "v"}}),
        );
        assert_eq!(
            feature,
            json!({"feature": {"featureKey": "f", "featureEnabled": true, "source": "feature-test",
                "sourceInfo": {"experimentKey": "e", "variationKey": "v"}}})
        );
        let ab = go_decision_info(DecisionType::AbTest, &json!({"experiment_key": "e", "variation_key": null}));
        assert_eq!(ab, json!({"experimentKey": "e"}));
    }

    #[test]
    fn topics_are_agents_filter_names() {
        for t in Topic::ALL {
            assert_eq!(Topic::parse(t.as_str()), Some(t));
        }
        assert_eq!(Topic::parse("log_event"), None);
    }
}
