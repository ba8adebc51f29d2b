//! The wire model: the event batch JSON that Optimizely SDKs POST to the event endpoint
//! (events.md §2–§6), field by field in the reference SDK's key order.
//!
//! Serialising applies the reference null-stripping rule (§5): a key named `revenue`,
//! `value`, `tags` or `decisions` whose value would be `null` is omitted, at any depth.
//! Deserialising accepts what the official SDKs send: unknown keys (Go's `region`, Java's
//! `session_id`, `is_campaign_holdback`) are ignored, and a `null` where this model holds a
//! string, list or object (JS sends `campaign_id: null`) reads as empty.
//!
//! Strings are [`SmolStr`]: ids and keys are short and live inline, so building an event
//! copies them without allocating; longer strings are shared rather than copied.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use smol_str::SmolStr;

use crate::event_uuid::EventUuid;
use crate::serde_util::{null_as_default, serialize_stripped, serialize_stripped_tags, timestamp_ms};

/// One POST body: the envelope of a config and one visitor per user event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBatch {
    /// Datafile `accountId`.
    pub account_id: SmolStr,
    /// Datafile `projectId`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub project_id: SmolStr,
    /// Datafile `revision`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub revision: SmolStr,
    /// SDK name ([`crate::CLIENT_NAME`] for events built here).
    #[serde(default, deserialize_with = "null_as_default")]
    pub client_name: SmolStr,
    /// SDK version ([`crate::CLIENT_VERSION`] for events built here).
    #[serde(default, deserialize_with = "null_as_default")]
    pub client_version: SmolStr,
    /// Datafile `anonymizeIP`, copied verbatim (normally a boolean).
    #[serde(default = "json_false", serialize_with = "serialize_stripped")]
    pub anonymize_ip: Value,
    /// Always `true` when built here.
    #[serde(default, deserialize_with = "null_as_default")]
    pub enrich_decisions: bool,
    /// One visitor per user event, in processing order.
    pub visitors: Vec<Visitor>,
}

/// One user event: a user, their attributes and exactly one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Visitor {
    /// Exactly one snapshot when built here.
    pub snapshots: Vec<Snapshot>,
    /// Event attributes (events.md §4), possibly empty.
    #[serde(default, deserialize_with = "null_as_default")]
    pub attributes: Vec<VisitorAttribute>,
    /// The user id (never the bucketing id).
    pub visitor_id: SmolStr,
}

/// What happened: one event, plus one decision for impressions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Exactly one event when built here.
    pub events: Vec<SnapshotEvent>,
    /// Impressions: exactly one decision. Conversions: `None` (the key is omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decisions: Option<Vec<Decision>>,
}

/// An impression (`key` = `campaign_activated`) or a conversion (`key` = event key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotEvent {
    /// Impression: the normalised campaign id. Conversion: the event's datafile id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub entity_id: SmolStr,
    /// Random UUID v4, lower-case hyphenated.
    #[serde(default, deserialize_with = "null_as_default")]
    pub uuid: EventUuid,
    /// `campaign_activated` or the event key.
    #[serde(default, deserialize_with = "null_as_default")]
    pub key: SmolStr,
    /// Unix epoch milliseconds at event creation.
    #[serde(deserialize_with = "timestamp_ms")]
    pub timestamp: i64,
    /// Conversions: the `revenue` tag when it is a JSON integer, unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue: Option<Number>,
    /// Conversions: the `value` tag as a float, when it converts to a finite one.
    #[serde(default, skip_serializing_if = "is_not_finite")]
    pub value: Option<f64>,
    /// Conversions: the caller's tags verbatim (after null stripping); `None` when no
    /// tags were passed.
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "serialize_stripped_tags")]
    pub tags: Option<Map<String, Value>>,
}

/// The decision an impression reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The layer id, else the experiment id, else `""` (events.md §3.3).
    #[serde(default, deserialize_with = "null_as_default")]
    pub campaign_id: SmolStr,
    /// Experiment, rule or holdout id; `""` when there is none.
    #[serde(default, deserialize_with = "null_as_default")]
    pub experiment_id: SmolStr,
    /// The variation id when it is all ASCII digits, else `None` (sent as `null`).
    #[serde(default)]
    pub variation_id: Option<SmolStr>,
    /// What the SDK decided.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: DecisionMetadata,
}

/// Flag-level details of a decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DecisionMetadata {
    /// Flag key; `""` for `activate`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub flag_key: SmolStr,
    /// Experiment, rule or holdout key; `""` when there is no rule.
    #[serde(default, deserialize_with = "null_as_default")]
    pub rule_key: SmolStr,
    /// `experiment`, `feature-test`, `rollout` or `holdout`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub rule_type: SmolStr,
    /// Chosen variation key; `""` when none.
    #[serde(default, deserialize_with = "null_as_default")]
    pub variation_key: SmolStr,
    /// Whether the flag is on for this decision (`true` for `activate`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub enabled: bool,
    /// CMAB decisions only; never empty when sent.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub cmab_uuid: Option<SmolStr>,
}

/// One user attribute as sent in events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitorAttribute {
    /// The declared attribute's id, or the key itself for `$opt_*` keys.
    #[serde(default, deserialize_with = "null_as_default")]
    pub entity_id: SmolStr,
    /// The caller's attribute key.
    #[serde(default, deserialize_with = "null_as_default")]
    pub key: SmolStr,
    /// Always `custom` when built here.
    #[serde(rename = "type", default = "custom", deserialize_with = "null_as_default")]
    pub attribute_type: SmolStr,
    /// A string, boolean or number (integers stay integers).
    #[serde(default, skip_serializing_if = "Value::is_null", serialize_with = "serialize_stripped")]
    pub value: Value,
}

fn json_false() -> Value {
    Value::Bool(false)
}

fn custom() -> SmolStr {
    SmolStr::new_static(crate::CUSTOM_ATTRIBUTE_TYPE)
}

/// `null` has no place in the payload (§5), and JSON has no non-finite numbers.
#[allow(clippy::ref_option)] // serde's skip_serializing_if passes a reference
fn is_not_finite(value: &Option<f64>) -> bool {
    !value.is_some_and(f64::is_finite)
}

#[allow(clippy::ref_option)] // serde's skip_serializing_if passes a reference
fn is_none_or_empty(value: &Option<SmolStr>) -> bool {
    value.as_deref().is_none_or(str::is_empty)
}
