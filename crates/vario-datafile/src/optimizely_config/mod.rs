//! The OptimizelyConfig view of a datafile: what the official SDKs' `get_optimizely_config()`
//! answers and Optimizely Agent's `GET /v1/config` serves, field for field.
//!
//! The reference is the Python SDK 5.7.0 (`optimizely/optimizely_config.py`). It reads
//! the datafile objects as written (after the changes its project config makes to them
//! while loading, `patch.rs`), not the resolved config that decisions use, so this view is
//! built from the datafile text again rather than from [`ProjectConfig`]'s indices:
//! repeated keys and ids, odd values and the reference SDK's quirks show exactly as it
//! shows them. Serialized with serde, the view is Agent's JSON (camelCase names, maps by
//! key, sorted as Agent's Go encoder sorts them); the datafile text itself is not part of
//! that JSON ([`OptimizelyConfig::datafile`] gives it).
//!
//! Quirks of the reference SDK kept on purpose:
//! - `experimentsMap` has top-level and grouped experiments only (no rollout rules),
//!   keyed by key: with repeated keys the last experiment wins.
//! - A variation's variables show their defaults unless the variation's `featureEnabled`
//!   is true to Python (`"false"` and `1` are); its own values then replace them.
//! - The variations of a flag's delivery rules always show the flag's default variable
//!   values, whatever the rule's variations set (the SDK passes the flag id down, and that
//!   branch never reads the variation's values).
//! - An experiment's variations take the variables of the last flag that lists the
//!   experiment; an experiment no flag lists has an empty `variablesMap` in each variation.
//! - `audiences` strings are built from `audienceConditions` only (see `audiences.rs`).
//! - `featureEnabled` is the datafile's value as written (absent when the datafile has
//!   none or `null`); a feature rollout's appended "everyone else" variation has a boolean.
//! - Variable `type` and `value` are the datafile's values as written (strings in a
//!   well-formed datafile), `type` `"json"` for a string variable with `subType: "json"`.
//! - `audiences` lists the typed audiences first, then the legacy ones whose id no typed
//!   audience has, except `$opt_dummy_audience`; a typed audience's `conditions` is its
//!   conditions as Python's `json.dumps` writes them (`", "` and `": "` separators).
//! - `sdkKey` and `environmentKey` are `""` when the datafile has none.
//!
//! Where the reference SDK raises instead of answering (it builds the view while loading a
//! datafile, so it then builds no client at all), this view answers something reasonable:
//! - a flag listing an experiment id that only a rollout rule has: the rule is left out of
//!   `experimentRules` and `experimentsMap` (Python: `KeyError`);
//! - a non-string where an audience id belongs, e.g. `[["or", "1", "2"]]`: shown as its
//!   JSON text (Python: `TypeError`; see `audiences.rs`);
//! - `"variables": null` on an enabled variation: read as no values (Python: `TypeError`).
//!
//! Integers beyond 64 bits in typed audience conditions are written as floats in
//! `conditions` (serde_json reads them so); Python writes every digit.

mod audiences;
mod patch;
mod py_json;
mod view;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::config::ProjectConfig;

/// Optimizely's OptimizelyConfig: the datafile's experiments, flags, attributes,
/// audiences and events as the official SDKs' `get_optimizely_config()` shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimizelyConfig {
    /// `environmentKey`, or `""`.
    pub environment_key: String,
    /// `sdkKey`, or `""`.
    pub sdk_key: String,
    /// The datafile's revision.
    pub revision: String,
    /// Top-level and grouped experiments by key (rollout rules are not here).
    pub experiments_map: BTreeMap<String, OptimizelyExperiment>,
    /// Flags by key.
    pub features_map: BTreeMap<String, OptimizelyFeature>,
    /// Declared attributes, datafile order.
    pub attributes: Vec<OptimizelyAttribute>,
    /// Typed audiences, then the legacy audiences they do not replace.
    pub audiences: Vec<OptimizelyAudience>,
    /// Conversion events, datafile order.
    pub events: Vec<OptimizelyEvent>,
    #[serde(skip)]
    datafile: Arc<str>,
}

impl OptimizelyConfig {
    /// The datafile text the view was built from (the SDKs' `get_datafile()`; not part of
    /// Agent's JSON).
    pub fn datafile(&self) -> &str {
        &self.datafile
    }
}

/// An experiment or a rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimizelyExperiment {
    /// Experiment id.
    pub id: String,
    /// Experiment key.
    pub key: String,
    /// The audience combination with names, e.g. `"us" OR "fr"`; `""` for everyone.
    pub audiences: String,
    /// Variations by key.
    pub variations_map: BTreeMap<String, OptimizelyVariation>,
}

/// A variation of an experiment or rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimizelyVariation {
    /// Variation id.
    pub id: String,
    /// Variation key.
    pub key: String,
    /// `featureEnabled` as the datafile writes it; `None` when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_enabled: Option<Value>,
    /// The flag's variables by key, with this variation's values.
    pub variables_map: BTreeMap<String, OptimizelyVariable>,
}

/// A feature flag.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimizelyFeature {
    /// Flag id.
    pub id: String,
    /// Flag key.
    pub key: String,
    /// The flag's experiments, in its `experimentIds` order.
    pub experiment_rules: Vec<OptimizelyExperiment>,
    /// The rules of the flag's rollout, in order.
    pub delivery_rules: Vec<OptimizelyExperiment>,
    /// The flag's variables by key, with their defaults.
    pub variables_map: BTreeMap<String, OptimizelyVariable>,
    /// The flag's experiments by key (deprecated in the SDKs in favour of
    /// `experiment_rules` and `delivery_rules`; rollout rules are not here).
    pub experiments_map: BTreeMap<String, OptimizelyExperiment>,
}

/// A flag variable with the value one variation (or the default) gives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimizelyVariable {
    /// Variable id.
    pub id: String,
    /// Variable key.
    pub key: String,
    /// The declared type as written (`"json"` for a JSON string variable).
    #[serde(rename = "type")]
    pub kind: Value,
    /// The value as written in the datafile (not cast).
    pub value: Value,
}

/// A declared attribute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OptimizelyAttribute {
    /// Attribute id.
    pub id: String,
    /// Attribute key.
    pub key: String,
}

/// An audience.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OptimizelyAudience {
    /// Audience id.
    pub id: String,
    /// Audience name.
    pub name: String,
    /// The conditions as JSON text.
    pub conditions: String,
}

/// A conversion event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimizelyEvent {
    /// Event id.
    pub id: String,
    /// Event key.
    pub key: String,
    /// The experiments the event is a metric of.
    pub experiment_ids: Vec<String>,
}

/// The array `field` of an object; empty when absent or not an array.
fn list<'a>(v: &'a Value, field: &str) -> &'a [Value] {
    v.get(field).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

impl ProjectConfig {
    /// The OptimizelyConfig view of the datafile this config was loaded from.
    pub fn optimizely_config(&self) -> OptimizelyConfig {
        // The text loaded once, so it reads again.
        let doc: Value = serde_json::from_str(&self.datafile).unwrap_or(Value::Null);
        view::build(doc, Arc::clone(&self.datafile))
    }
}
