//! What the reference SDK's `ProjectConfig` changes in the datafile's own objects while it
//! loads, before its OptimizelyConfig reads them:
//! - each typed audience's `conditions` becomes its `json.dumps` text;
//! - a `string` variable with `subType: "json"` gets `type: "json"` (only the variables of
//!   the last flag with each key: the SDK walks its key → flag map);
//! - each feature rollout (`type: "fr"`) among a flag's experiments gets the flag's
//!   "everyone else" variation appended, once per listing (the SDK appends to the variation
//!   list it shares with the datafile object).

use rustc_hash::FxHashMap;
use serde_json::{Map, Value, json};

use super::{list, py_json};
use crate::parse::truthy;

/// Where an experiment object sits in the datafile.
#[derive(Clone, Copy)]
enum At {
    TopLevel(usize),
    Rule { rollout: usize, index: usize },
    Grouped { group: usize, index: usize },
}

pub(super) fn apply(doc: &mut Value) {
    dump_typed_conditions(doc);
    let by_id = experiment_by_id(doc);
    let rollout_by_id: FxHashMap<String, usize> =
        last_by(list(doc, "rollouts"), "id").into_iter().map(|(id, i)| (id.to_owned(), i)).collect();
    let flags: Vec<Value> = list(doc, "featureFlags").to_vec();
    // One flag after the other, as the SDK does: an appended variation can be the one a
    // later flag's "everyone else" lookup finds.
    for f in first_key_order(&flags, "key") {
        mark_json_variables(doc, f);
        let Some(everyone_else) = everyone_else(doc, &flags[f], &rollout_by_id) else { continue };
        for id in flags[f].get("experimentIds").and_then(Value::as_array).into_iter().flatten() {
            let Some(&at) = id.as_str().and_then(|id| by_id.get(id)) else { continue };
            let Some(experiment) = doc.pointer_mut(&pointer(at)) else { continue };
            if experiment.get("type") != Some(&json!("fr")) {
                continue;
            }
            if let Some(Value::Array(variations)) = experiment.get_mut("variations") {
                variations.push(everyone_else.clone());
            }
        }
    }
}

fn mark_json_variables(doc: &mut Value, flag: usize) {
    let variables = doc.pointer_mut(&format!("/featureFlags/{flag}/variables")).and_then(Value::as_array_mut);
    for variable in variables.into_iter().flatten() {
        let is_json = variable.get("type") == Some(&json!("string")) && variable.get("subType") == Some(&json!("json"));
        if is_json && let Some(v) = variable.as_object_mut() {
            v.insert("type".into(), json!("json"));
        }
    }
}

fn dump_typed_conditions(doc: &mut Value) {
    let Some(Value::Array(typed)) = doc.get_mut("typedAudiences") else { return };
    for audience in typed {
        if let Some(conditions) = audience.get_mut("conditions") {
            *conditions = Value::String(py_json::dumps(conditions));
        }
    }
}

/// For each distinct `field` value, in order of first appearance, the index of the last
/// object with it: the values of a Python dict built from the list.
fn first_key_order(items: &[Value], field: &str) -> Vec<usize> {
    let mut order: Vec<usize> = Vec::new();
    let mut place: FxHashMap<&str, usize> = FxHashMap::default();
    for (i, item) in items.iter().enumerate() {
        let Some(key) = item.get(field).and_then(Value::as_str) else { continue };
        match place.get(key) {
            Some(&p) => order[p] = i,
            None => {
                place.insert(key, order.len());
                order.push(i);
            }
        }
    }
    order
}

fn last_by<'a>(items: &'a [Value], field: &str) -> FxHashMap<&'a str, usize> {
    let mut map = FxHashMap::default();
    for (i, item) in items.iter().enumerate() {
        if let Some(key) = item.get(field).and_then(Value::as_str) {
            map.insert(key, i);
        }
    }
    map
}

/// The SDK's id → experiment map: top-level experiments, then the rules of the last
/// rollout with each id, then the experiments of the last group with each id; later
/// entries replace earlier ones.
fn experiment_by_id(doc: &Value) -> FxHashMap<String, At> {
    let mut map = FxHashMap::default();
    let mut put = |e: &Value, at: At| {
        if let Some(id) = e.get("id").and_then(Value::as_str) {
            map.insert(id.to_owned(), at);
        }
    };
    for (index, e) in list(doc, "experiments").iter().enumerate() {
        put(e, At::TopLevel(index));
    }
    let rollouts = list(doc, "rollouts");
    for rollout in first_key_order(rollouts, "id") {
        for (index, e) in list(&rollouts[rollout], "experiments").iter().enumerate() {
            put(e, At::Rule { rollout, index });
        }
    }
    let groups = list(doc, "groups");
    for group in first_key_order(groups, "id") {
        for (index, e) in list(&groups[group], "experiments").iter().enumerate() {
            put(e, At::Grouped { group, index });
        }
    }
    map
}

fn pointer(at: At) -> String {
    match at {
        At::TopLevel(i) => format!("/experiments/{i}"),
        At::Rule { rollout, index } => format!("/rollouts/{rollout}/experiments/{index}"),
        At::Grouped { group, index } => format!("/groups/{group}/experiments/{index}"),
    }
}

/// The variation the SDK appends to a flag's feature rollouts: the first variation of
/// the last rule of the flag's rollout (the last rollout with its id), with
/// `featureEnabled` made a boolean by Python truthiness.
fn everyone_else(doc: &Value, flag: &Value, rollout_by_id: &FxHashMap<String, usize>) -> Option<Value> {
    let rollout_id = flag.get("rolloutId").and_then(Value::as_str).filter(|id| !id.is_empty())?;
    let rollout = &list(doc, "rollouts")[*rollout_by_id.get(rollout_id)?];
    let rule = list(rollout, "experiments").last()?;
    let variation = list(rule, "variations").first()?;
    let mut injected = Map::new();
    injected.insert("id".into(), variation.get("id").cloned().unwrap_or(Value::Null));
    injected.insert("key".into(), variation.get("key").cloned().unwrap_or(Value::Null));
    let enabled = variation.get("featureEnabled").is_some_and(truthy);
    injected.insert("featureEnabled".into(), Value::Bool(enabled));
    injected.insert("variables".into(), variation.get("variables").cloned().unwrap_or(Value::Null));
    Some(Value::Object(injected))
}
