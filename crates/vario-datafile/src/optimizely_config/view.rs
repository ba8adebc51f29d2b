//! The view itself, built as the reference SDK's `OptimizelyConfigService` builds it, from
//! the datafile objects after `patch::apply`.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value;

use super::audiences::audience_string;
use super::{
    OptimizelyAttribute, OptimizelyAudience, OptimizelyConfig, OptimizelyEvent, OptimizelyExperiment,
    OptimizelyFeature, OptimizelyVariable, OptimizelyVariation, list, patch,
};
use crate::parse::truthy;

type Variables = BTreeMap<String, OptimizelyVariable>;

const DUMMY_AUDIENCE: &str = "$opt_dummy_audience";

pub(super) fn build(mut doc: Value, datafile: Arc<str>) -> OptimizelyConfig {
    patch::apply(&mut doc);
    let audiences = audiences(&doc);
    let mut names: FxHashMap<String, String> = FxHashMap::default();
    for a in &audiences {
        names.insert(a.id.clone(), a.name.clone());
    }
    let flags = Flags::new(list(&doc, "featureFlags"));

    let mut experiments_map = BTreeMap::new();
    let mut experiment_by_id: FxHashMap<&str, OptimizelyExperiment> = FxHashMap::default();
    let grouped = list(&doc, "groups").iter().flat_map(|g| list(g, "experiments"));
    for e in list(&doc, "experiments").iter().chain(grouped) {
        let experiment = flags.experiment(e, None, &names);
        experiments_map.insert(experiment.key.clone(), experiment.clone());
        if let Some(id) = e.get("id").and_then(Value::as_str) {
            experiment_by_id.insert(id, experiment);
        }
    }
    let mut features_map = BTreeMap::new();
    for flag in flags.flags {
        let delivery_rules = delivery_rules(&doc, flag, &flags, &names);
        // The reference SDK raises on an id that only a rollout rule has (KeyError); it is
        // left out here.
        let experiment_rules: Vec<OptimizelyExperiment> = list(flag, "experimentIds")
            .iter()
            .filter_map(|id| id.as_str().and_then(|id| experiment_by_id.get(id)).cloned())
            .collect();
        let experiments_map = experiment_rules.iter().map(|e| (e.key.clone(), e.clone())).collect();
        let key = text(flag, "key");
        let feature = OptimizelyFeature {
            id: text(flag, "id"),
            key: key.clone(),
            experiment_rules,
            delivery_rules,
            variables_map: flags.by_key(&key).cloned().unwrap_or_default(),
            experiments_map,
        };
        features_map.insert(key, feature);
    }

    OptimizelyConfig {
        environment_key: optional_text(&doc, "environmentKey"),
        sdk_key: optional_text(&doc, "sdkKey"),
        revision: text(&doc, "revision"),
        experiments_map,
        features_map,
        attributes: list(&doc, "attributes")
            .iter()
            .map(|a| OptimizelyAttribute { id: text(a, "id"), key: text(a, "key") })
            .collect(),
        audiences,
        events: list(&doc, "events")
            .iter()
            .map(|e| OptimizelyEvent {
                id: text(e, "id"),
                key: text(e, "key"),
                experiment_ids: list(e, "experimentIds").iter().map(string).collect(),
            })
            .collect(),
        datafile,
    }
}

/// A string the loader has checked is one; anything else as its JSON text.
fn string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn text(v: &Value, field: &str) -> String {
    v.get(field).map(string).unwrap_or_default()
}

/// Python's `value or ''`.
fn optional_text(v: &Value, field: &str) -> String {
    v.get(field).filter(|v| truthy(v)).map(string).unwrap_or_default()
}

/// Typed audiences (all of them), then the legacy ones whose id no typed audience has.
fn audiences(doc: &Value) -> Vec<OptimizelyAudience> {
    let audience =
        |a: &Value| OptimizelyAudience { id: text(a, "id"), name: text(a, "name"), conditions: text(a, "conditions") };
    let typed = list(doc, "typedAudiences");
    let typed_ids: FxHashSet<&str> = typed.iter().filter_map(|a| a.get("id").and_then(Value::as_str)).collect();
    let legacy = list(doc, "audiences").iter().filter(|a| {
        let id = a.get("id").and_then(Value::as_str).unwrap_or_default();
        !typed_ids.contains(id) && id != DUMMY_AUDIENCE
    });
    typed.iter().chain(legacy).map(audience).collect()
}

/// The flags and the variable maps the reference SDK looks them up in.
struct Flags<'a> {
    flags: &'a [Value],
    /// Per flag: its variables by key (the later of a repeated key), defaults as values.
    by_key: Vec<Variables>,
    /// Per flag: its variables by id.
    by_id: Vec<FxHashMap<String, OptimizelyVariable>>,
    /// The last flag with each key, id, and listing each experiment id.
    flag_by_key: FxHashMap<&'a str, usize>,
    flag_by_id: FxHashMap<&'a str, usize>,
    flag_by_experiment: FxHashMap<&'a str, usize>,
}

impl<'a> Flags<'a> {
    fn new(all: &'a [Value]) -> Self {
        let mut flags = Flags {
            flags: all,
            by_key: Vec::with_capacity(all.len()),
            by_id: Vec::with_capacity(all.len()),
            flag_by_key: FxHashMap::default(),
            flag_by_id: FxHashMap::default(),
            flag_by_experiment: FxHashMap::default(),
        };
        for (i, flag) in all.iter().enumerate() {
            for id in list(flag, "experimentIds").iter().filter_map(Value::as_str) {
                flags.flag_by_experiment.insert(id, i);
            }
            let mut by_key = Variables::new();
            let mut by_id = FxHashMap::default();
            for v in list(flag, "variables") {
                let variable = OptimizelyVariable {
                    id: text(v, "id"),
                    key: text(v, "key"),
                    kind: v.get("type").cloned().unwrap_or(Value::Null),
                    value: v.get("defaultValue").cloned().unwrap_or(Value::Null),
                };
                by_key.insert(variable.key.clone(), variable.clone());
                by_id.insert(variable.id.clone(), variable);
            }
            flags.by_key.push(by_key);
            flags.by_id.push(by_id);
            if let Some(key) = flag.get("key").and_then(Value::as_str) {
                flags.flag_by_key.insert(key, i);
            }
            if let Some(id) = flag.get("id").and_then(Value::as_str) {
                flags.flag_by_id.insert(id, i);
            }
        }
        flags
    }

    fn by_key(&self, key: &str) -> Option<&Variables> {
        self.flag_by_key.get(key).map(|&i| &self.by_key[i])
    }

    /// An experiment or rule with its variations; `flag_id` is given for delivery rules.
    fn experiment(&self, e: &Value, flag_id: Option<&str>, names: &FxHashMap<String, String>) -> OptimizelyExperiment {
        let mut variations_map = BTreeMap::new();
        for v in list(e, "variations") {
            let variation = OptimizelyVariation {
                id: text(v, "id"),
                key: text(v, "key"),
                feature_enabled: v.get("featureEnabled").filter(|f| !f.is_null()).cloned(),
                variables_map: self.variables(e, v, flag_id),
            };
            variations_map.insert(variation.key.clone(), variation);
        }
        OptimizelyExperiment {
            id: text(e, "id"),
            key: text(e, "key"),
            audiences: audience_string(e.get("audienceConditions"), names),
            variations_map,
        }
    }

    /// A variation's variables (Python's `_get_variables_map`, branch for branch).
    fn variables(&self, experiment: &Value, variation: &Value, flag_id: Option<&str>) -> Variables {
        let listing = experiment.get("id").and_then(Value::as_str).and_then(|id| self.flag_by_experiment.get(id));
        if let Some(flag_id) = flag_id {
            // A flag id of "" is false to Python: the experiment's own flag is used then.
            if !flag_id.is_empty() {
                return self.flag_by_id.get(flag_id).map(|&f| self.by_key[f].clone()).unwrap_or_default();
            }
        }
        let Some(&flag) = listing else { return Variables::new() };
        let key = text(&self.flags[flag], "key");
        let Some(&owner) = self.flag_by_key.get(key.as_str()) else { return Variables::new() };
        let mut variables = self.by_key[owner].clone();
        if variation.get("featureEnabled").is_some_and(truthy) {
            // The reference SDK raises on `"variables": null` here; read as none.
            for usage in list(variation, "variables") {
                let Some(variable) = usage.get("id").and_then(Value::as_str).and_then(|id| self.by_id[owner].get(id))
                else {
                    continue;
                };
                if let Some(slot) = variables.get_mut(&variable.key) {
                    slot.value = usage.get("value").cloned().unwrap_or(Value::Null);
                }
            }
        }
        variables
    }
}

/// The rules of the first rollout with the flag's `rolloutId`.
fn delivery_rules(
    doc: &Value,
    flag: &Value,
    flags: &Flags<'_>,
    names: &FxHashMap<String, String>,
) -> Vec<OptimizelyExperiment> {
    let rollout_id = flag.get("rolloutId");
    let Some(rollout) = list(doc, "rollouts").iter().find(|r| r.get("id") == rollout_id) else { return Vec::new() };
    let flag_id = text(flag, "id");
    list(rollout, "experiments").iter().map(|rule| flags.experiment(rule, Some(&flag_id), names)).collect()
}
