//! The v4 datafile of one environment. The output is a pure function of the project,
//! the environment and the revision (fixed key order, no clock, no hash-map order), so
//! the hosted file, and its ETag, change exactly when the content does. Every datafile
//! is parsed back with the SDK's own parser before it leaves here.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use vario_datafile::ProjectConfig;

use crate::conditions;
use crate::error::ProjectError;
use crate::model::{Environment, Flag, FlagVariation, Project, Range, RuleKind, Status, VariableType, status_in};

/// The placeholder Optimizely writes into `audiences` for every typed audience, so that
/// SDKs that predate typed audiences find it and never match.
const LEGACY_PLACEHOLDER: &str = r#"["or", {"match": "exact", "name": "$opt_dummy_attribute", "type": "custom_attribute", "value": "$opt_dummy_value"}]"#;

/// The datafile of `environment` at `revision`, as compact JSON.
pub fn build_datafile(project: &Project, environment: &Environment, revision: u64) -> Result<String, ProjectError> {
    let value = datafile_value(project, environment, revision);
    let text = serde_json::to_string(&value)
        .map_err(|e| ProjectError::Build { environment: environment.key.clone(), message: e.to_string() })?;
    ProjectConfig::from_json(&text)
        .map_err(|e| ProjectError::Build { environment: environment.key.clone(), message: e.to_string() })?;
    Ok(text)
}

/// The datafile as a JSON value (not yet checked by the parser).
pub fn datafile_value(project: &Project, environment: &Environment, revision: u64) -> Value {
    let env = environment.key.as_str();
    let audience_ids: HashMap<&str, &str> = project.audiences.iter().map(|a| (a.key.as_str(), a.id.as_str())).collect();
    let audience_id = |key: &str| audience_ids.get(key).map_or_else(|| key.to_owned(), |id| (*id).to_owned());

    // Experiments and A/B rules, with the group they sit in (if any).
    let mut grouped: HashMap<&str, Vec<Value>> = HashMap::new();
    let mut top_level = Vec::new();
    let mut experiment_ids: HashMap<&str, &str> = HashMap::new();
    let mut metrics: Vec<(&str, &str)> = Vec::new(); // (event key, experiment id)
    for e in project.experiments.iter().filter(|e| !e.archived) {
        let ids: HashMap<&str, &str> = e.variations.iter().map(|v| (v.key.as_str(), v.id.as_str())).collect();
        let variations =
            e.variations.iter().map(|v| json!({"id": v.id, "key": v.key, "featureEnabled": false, "variables": []}));
        let value = experiment(
            &e.id,
            &e.key,
            &e.layer_id,
            status_in(&e.status, env),
            e.audiences.as_ref(),
            &audience_id,
            variations.collect(),
            traffic(&e.traffic, &ids),
            whitelist(&e.whitelist),
        );
        experiment_ids.insert(&e.key, &e.id);
        metrics.extend(e.metrics.iter().map(|m| (m.as_str(), e.id.as_str())));
        match &e.group {
            Some(g) => grouped.entry(g.as_str()).or_default().push(value),
            None => top_level.push(value),
        }
    }
    let mut flags = Vec::new();
    let mut rollouts = Vec::new();
    for flag in project.flags.iter().filter(|f| !f.archived) {
        let ids: HashMap<&str, &str> = flag.variations.iter().map(|v| (v.key.as_str(), v.id.as_str())).collect();
        let mut tests = Vec::new();
        let mut deliveries = Vec::new();
        for rule in &flag.rules {
            let status = status_in(&rule.status, env);
            let used =
                rule.traffic.iter().filter_map(|r| r.to.as_deref()).chain(rule.whitelist.values().map(String::as_str));
            let variations = flag_variations(flag, used.collect());
            match rule.kind {
                RuleKind::AbTest => {
                    let value = experiment(
                        &rule.id,
                        &rule.key,
                        &rule.layer_id,
                        status,
                        rule.audiences.as_ref(),
                        &audience_id,
                        variations,
                        traffic(&rule.traffic, &ids),
                        whitelist(&rule.whitelist),
                    );
                    tests.push(rule.id.clone());
                    experiment_ids.insert(&rule.key, &rule.id);
                    metrics.extend(rule.metrics.iter().map(|m| (m.as_str(), rule.id.as_str())));
                    match &rule.group {
                        Some(g) => grouped.entry(g.as_str()).or_default().push(value),
                        None => top_level.push(value),
                    }
                }
                // SDKs evaluate rollout rules whatever their status: a delivery that
                // is not running here must not be in this datafile at all.
                RuleKind::Delivery if status == Status::Running => deliveries.push(experiment(
                    &rule.id,
                    &rule.key,
                    layer(&rule.layer_id, &flag.rollout_id),
                    Status::Running,
                    rule.audiences.as_ref(),
                    &audience_id,
                    variations,
                    traffic(&rule.traffic, &ids),
                    whitelist(&rule.whitelist),
                )),
                RuleKind::Delivery => {}
            }
        }
        let everyone = &flag.everyone_else;
        let everyone_traffic: Vec<Range> = if everyone.traffic.is_empty() {
            everyone
                .variation
                .iter()
                .map(|v| Range { to: Some(v.clone()), end: everyone.end.unwrap_or(10_000) })
                .collect()
        } else {
            everyone.traffic.clone()
        };
        deliveries.push(experiment(
            &everyone.id,
            &everyone.key,
            layer(&everyone.layer_id, &flag.rollout_id),
            Status::Running,
            None,
            &audience_id,
            flag_variations(flag, everyone_traffic.iter().filter_map(|r| r.to.as_deref()).collect()),
            traffic(&everyone_traffic, &ids),
            Map::new(),
        ));
        rollouts.push(json!({"id": flag.rollout_id, "experiments": deliveries}));
        flags.push(json!({
            "id": flag.id,
            "key": flag.key,
            "rolloutId": flag.rollout_id,
            "experimentIds": tests,
            "variables": flag.variables.iter().map(|v| {
                let mut var = Map::new();
                var.insert("id".into(), v.id.clone().into());
                var.insert("key".into(), v.key.clone().into());
                match v.kind {
                    VariableType::Json => {
                        var.insert("type".into(), "string".into());
                        var.insert("subType".into(), "json".into());
                    }
                    kind => {
                        var.insert("type".into(), variable_type(kind).into());
                    }
                }
                var.insert("defaultValue".into(), v.default.clone().into());
                Value::Object(var)
            }).collect::<Vec<_>>(),
        }));
    }
    let groups: Vec<Value> = project
        .groups
        .iter()
        .filter(|g| !g.archived)
        .map(|g| {
            json!({
                "id": g.id,
                "policy": g.policy.as_datafile(),
                "trafficAllocation": traffic(&g.traffic, &experiment_ids),
                "experiments": grouped.remove(g.key.as_str()).unwrap_or_default(),
            })
        })
        .collect();
    let live_audiences: Vec<_> = project.audiences.iter().filter(|a| !a.archived).collect();
    let mut root = Map::new();
    root.insert("version".into(), "4".into());
    root.insert("accountId".into(), project.account_id.clone().into());
    root.insert("projectId".into(), project.id.clone().into());
    root.insert("revision".into(), revision.to_string().into());
    root.insert("sdkKey".into(), environment.sdk_key.clone().into());
    root.insert("environmentKey".into(), environment.key.clone().into());
    root.insert("anonymizeIP".into(), project.settings.anonymize_ip.into());
    if let Some(bots) = project.settings.bot_filtering {
        root.insert("botFiltering".into(), bots.into());
    }
    root.insert("sendFlagDecisions".into(), project.settings.send_flag_decisions.into());
    root.insert(
        "attributes".into(),
        project.attributes.iter().filter(|a| !a.archived).map(|a| json!({"id": a.id, "key": a.key})).collect(),
    );
    root.insert(
        "audiences".into(),
        live_audiences.iter().map(|a| json!({"id": a.id, "name": name(a), "conditions": LEGACY_PLACEHOLDER})).collect(),
    );
    root.insert(
        "typedAudiences".into(),
        live_audiences
            .iter()
            .map(|a| json!({"id": a.id, "name": name(a), "conditions": conditions::with_leaf_types(&a.conditions)}))
            .collect(),
    );
    root.insert("experiments".into(), top_level.into());
    root.insert("groups".into(), groups.into());
    root.insert("featureFlags".into(), flags.into());
    root.insert("rollouts".into(), rollouts.into());
    root.insert(
        "events".into(),
        project
            .events
            .iter()
            .filter(|e| !e.archived)
            .map(|e| {
                let ids: Vec<&str> = metrics.iter().filter(|(k, _)| *k == e.key).map(|(_, id)| *id).collect();
                json!({"id": e.id, "key": e.key, "experimentIds": ids})
            })
            .collect(),
    );
    root.insert("integrations".into(), Value::Array(Vec::new()));
    Value::Object(root)
}

fn layer<'a>(own: &'a str, rollout: &'a str) -> &'a str {
    if own.is_empty() { rollout } else { own }
}

fn name(a: &crate::model::Audience) -> &str {
    if a.name.is_empty() { &a.key } else { &a.name }
}

fn variable_type(kind: VariableType) -> &'static str {
    match kind {
        VariableType::Boolean => "boolean",
        VariableType::Integer => "integer",
        VariableType::Double => "double",
        VariableType::String => "string",
        VariableType::Json => "json",
    }
}

#[allow(clippy::too_many_arguments)] // one datafile experiment has this many parts
fn experiment(
    id: &str,
    key: &str,
    layer_id: &str,
    status: Status,
    audiences: Option<&Value>,
    audience_id: &impl Fn(&str) -> String,
    variations: Vec<Value>,
    traffic: Vec<Value>,
    whitelist: Map<String, Value>,
) -> Value {
    let (ids, tree) = match audiences {
        None => (Vec::new(), Value::Array(Vec::new())),
        Some(tree) => {
            let mut ids: Vec<String> = Vec::new();
            if let Ok(keys) = conditions::audience_keys(tree, "") {
                for (_, key) in keys {
                    let id = audience_id(key);
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
            (ids, conditions::map_leaves(tree, audience_id))
        }
    };
    json!({
        "id": id,
        "key": key,
        "layerId": layer_id,
        "status": status.as_datafile(),
        "variations": variations,
        "trafficAllocation": traffic,
        "audienceIds": ids,
        "audienceConditions": tree,
        "forcedVariations": whitelist,
    })
}

fn traffic(ranges: &[Range], ids: &HashMap<&str, &str>) -> Vec<Value> {
    ranges
        .iter()
        .map(|r| {
            let entity = r.to.as_deref().map_or("", |key| ids.get(key).copied().unwrap_or(""));
            json!({"entityId": entity, "endOfRange": r.end})
        })
        .collect()
}

fn whitelist(list: &std::collections::BTreeMap<String, String>) -> Map<String, Value> {
    list.iter().map(|(user, variation)| (user.clone(), Value::from(variation.as_str()))).collect()
}

/// The flag's variations that `used` names, in the flag's order, with their variable
/// usages.
fn flag_variations(flag: &Flag, used: Vec<&str>) -> Vec<Value> {
    flag.variations.iter().filter(|v| used.contains(&v.key.as_str())).map(|v| flag_variation(flag, v)).collect()
}

fn flag_variation(flag: &Flag, v: &FlagVariation) -> Value {
    let usages: Vec<Value> = flag
        .variables
        .iter()
        .filter_map(|var| v.variables.get(&var.key).map(|value| json!({"id": var.id, "value": value})))
        .collect();
    json!({"id": v.id, "key": v.key, "featureEnabled": v.enabled, "variables": usages})
}
