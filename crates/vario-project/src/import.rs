//! An existing Optimizely datafile as a project, keeping every id, so that the datafile
//! Vario builds from it decides exactly as the original for the same users. Datafile
//! features the model has no place for (holdouts, contextual bandits, feature-rollout
//! injection, rollouts shared by flags) are refused rather than silently changed.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;
use vario_datafile::ProjectConfig;

use crate::error::ProjectError;
use crate::model::{
    Attribute, Audience, Environment, Event, EveryoneElse, Experiment, ExperimentVariation, Flag, FlagVariation, Group,
    Policy, Project, Range, Rule, RuleKind, Settings, Status, StatusMap, Variable, VariableType,
};
use crate::validate::is_plain_key;

fn fail(message: impl Into<String>) -> ProjectError {
    ProjectError::Import(message.into())
}

fn s<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or_default()
}

fn list<'a>(v: &'a Value, field: &str) -> &'a [Value] {
    v.get(field).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// The project `project_key` with one environment, `environment`, read from `datafile`.
pub fn import_datafile(datafile: &str, project_key: &str, environment: &str) -> Result<Project, ProjectError> {
    ProjectConfig::from_json(datafile).map_err(|e| fail(format!("the datafile is invalid: {e}")))?;
    let root: Value = serde_json::from_str(datafile).map_err(|e| fail(e.to_string()))?;
    for refused in ["holdouts", "localHoldouts"] {
        if !list(&root, refused).is_empty() {
            return Err(fail(format!("{refused} are not supported by Vario projects yet")));
        }
    }
    let mut p = Project::new(project_key);
    p.id = s(&root, "projectId").to_owned();
    p.account_id = s(&root, "accountId").to_owned();
    p.settings = Settings {
        anonymize_ip: root.get("anonymizeIP").and_then(Value::as_bool).unwrap_or(false),
        bot_filtering: root.get("botFiltering").and_then(Value::as_bool),
        send_flag_decisions: root.get("sendFlagDecisions").and_then(Value::as_bool).unwrap_or(false),
    };
    let sdk_key = s(&root, "sdkKey");
    p.environments.push(Environment {
        id: String::new(),
        key: environment.to_owned(),
        sdk_key: if is_plain_key(sdk_key) { sdk_key.to_owned() } else { String::new() },
        archived: false,
    });
    p.attributes = list(&root, "attributes")
        .iter()
        .map(|a| Attribute { id: s(a, "id").to_owned(), key: s(a, "key").to_owned(), archived: false })
        .collect();
    let audience_keys = audiences(&root, &mut p)?;
    let env = environment;
    let flagged: HashSet<&str> =
        list(&root, "featureFlags").iter().flat_map(|f| list(f, "experimentIds")).filter_map(Value::as_str).collect();

    // Every experiment with the group it sits in.
    let mut experiments: Vec<(&Value, Option<&str>)> = list(&root, "experiments").iter().map(|e| (e, None)).collect();
    for g in list(&root, "groups") {
        experiments.extend(list(g, "experiments").iter().map(|e| (e, Some(s(g, "id")))));
    }
    let group_key = |id: &str| format!("group_{id}");
    let mut by_id: HashMap<&str, (&Value, Option<&str>)> = HashMap::new();
    for (e, group) in &experiments {
        check_rule(e)?;
        by_id.insert(s(e, "id"), (*e, *group));
        if flagged.contains(s(e, "id")) {
            continue;
        }
        let variations: Vec<ExperimentVariation> = list(e, "variations")
            .iter()
            .map(|v| ExperimentVariation { id: s(v, "id").to_owned(), key: s(v, "key").to_owned() })
            .collect();
        let keys: HashMap<&str, &str> = list(e, "variations").iter().map(|v| (s(v, "id"), s(v, "key"))).collect();
        p.experiments.push(Experiment {
            id: s(e, "id").to_owned(),
            layer_id: s(e, "layerId").to_owned(),
            key: s(e, "key").to_owned(),
            description: String::new(),
            audiences: audience_tree(e, &audience_keys)?,
            traffic: traffic(e, &keys),
            whitelist: whitelist(e, &keys),
            variations,
            metrics: Vec::new(),
            group: group.map(group_key),
            status: status(e, env)?,
            archived: false,
        });
    }
    let mut used_rollouts = HashSet::new();
    let rollouts: HashMap<&str, &Value> = list(&root, "rollouts").iter().map(|r| (s(r, "id"), r)).collect();
    for f in list(&root, "featureFlags") {
        let tests: Vec<(&Value, Option<&str>)> = list(f, "experimentIds")
            .iter()
            .filter_map(Value::as_str)
            .map(|id| {
                by_id.get(id).copied().ok_or_else(|| fail(format!("flag {:?}: unknown experiment {id:?}", s(f, "key"))))
            })
            .collect::<Result<_, _>>()?;
        let rollout_id = s(f, "rolloutId");
        let rules: Vec<&Value> = match rollouts.get(rollout_id) {
            Some(r) => {
                if !used_rollouts.insert(rollout_id) {
                    return Err(fail(format!("rollout {rollout_id:?} is shared by several flags")));
                }
                list(r, "experiments").iter().collect()
            }
            None => Vec::new(),
        };
        p.flags.push(flag(f, rollout_id, &tests, &rules, &audience_keys, env, &group_key)?);
    }
    for g in list(&root, "groups") {
        let policy = match s(g, "policy") {
            "random" => Policy::Random,
            "overlapping" => Policy::Overlapping,
            other => return Err(fail(format!("group {:?}: unknown policy {other:?}", s(g, "id")))),
        };
        let keys: HashMap<&str, &str> = list(g, "experiments").iter().map(|e| (s(e, "id"), s(e, "key"))).collect();
        p.groups.push(Group {
            id: s(g, "id").to_owned(),
            key: group_key(s(g, "id")),
            policy,
            traffic: ranges(list(g, "trafficAllocation"), &keys),
            archived: false,
        });
    }
    for e in list(&root, "events") {
        let key = s(e, "key").to_owned();
        for id in list(e, "experimentIds").iter().filter_map(Value::as_str) {
            if let Some(x) = p.experiments.iter_mut().find(|x| x.id == id) {
                x.metrics.push(key.clone());
            } else if let Some(r) = p.flags.iter_mut().flat_map(|f| f.rules.iter_mut()).find(|r| r.id == id) {
                r.metrics.push(key.clone());
            }
        }
        p.events.push(Event { id: s(e, "id").to_owned(), key, description: String::new(), archived: false });
    }
    // A datafile the official SDKs read can still be one no project describes (two
    // experiments or rules with one key): refuse it here, naming why, not at apply.
    crate::validate::validate(&p).map_err(|e| fail(format!("the datafile cannot be a Vario project: {e}")))?;
    Ok(p)
}

fn check_rule(e: &Value) -> Result<(), ProjectError> {
    if e.get("cmab").is_some_and(|c| !c.is_null()) {
        return Err(fail(format!(
            "experiment {:?} is a contextual bandit, which Vario projects do not support",
            s(e, "key")
        )));
    }
    if s(e, "type") == "fr" {
        return Err(fail(format!("rule {:?} has type \"fr\", which Vario projects do not support", s(e, "key"))));
    }
    Ok(())
}

/// Audiences by id (typed ones replace legacy ones, as in the SDKs), each with a key:
/// its name when that is unique, else `audience_<id>`.
fn audiences(root: &Value, p: &mut Project) -> Result<HashMap<String, String>, ProjectError> {
    let mut by_id: Vec<(String, String, Value)> = Vec::new();
    let mut put = |id: &str, name: &str, conditions: Value| {
        if let Some(slot) = by_id.iter_mut().find(|(i, _, _)| i == id) {
            *slot = (id.to_owned(), name.to_owned(), conditions);
        } else {
            by_id.push((id.to_owned(), name.to_owned(), conditions));
        }
    };
    for a in list(root, "audiences") {
        let conditions = serde_json::from_str(s(a, "conditions"))
            .map_err(|e| fail(format!("audience {:?}: conditions do not parse: {e}", s(a, "id"))))?;
        put(s(a, "id"), s(a, "name"), conditions);
    }
    for a in list(root, "typedAudiences") {
        put(s(a, "id"), s(a, "name"), a.get("conditions").cloned().unwrap_or(Value::Null));
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (_, name, _) in &by_id {
        *names.entry(name.as_str()).or_default() += 1;
    }
    let operator = |n: &str| ["and", "or", "not"].contains(&n);
    let mut keys = HashMap::new();
    for (id, name, conditions) in &by_id {
        let key = if !name.trim().is_empty() && names[name.as_str()] == 1 && !operator(name) {
            name.clone()
        } else {
            format!("audience_{id}")
        };
        keys.insert(id.clone(), key.clone());
        p.audiences.push(Audience {
            id: id.clone(),
            key: key.clone(),
            name: if key == *name { String::new() } else { name.clone() },
            conditions: conditions.clone(),
            archived: false,
        });
    }
    Ok(keys)
}

/// The rule's audience tree with keys for ids: `audienceConditions` when present,
/// else an `or` of `audienceIds`.
fn audience_tree(e: &Value, keys: &HashMap<String, String>) -> Result<Option<Value>, ProjectError> {
    let tree = match e.get("audienceConditions") {
        Some(Value::Null) | None => {
            let ids = list(e, "audienceIds");
            if ids.is_empty() {
                return Ok(None);
            }
            let mut or = vec![Value::from("or")];
            or.extend(ids.iter().cloned());
            Value::Array(or)
        }
        Some(Value::Array(list)) if list.is_empty() => return Ok(None),
        Some(tree) => tree.clone(),
    };
    Ok(Some(rename(&tree, keys, true, s(e, "key"))?))
}

fn rename(tree: &Value, keys: &HashMap<String, String>, top: bool, rule: &str) -> Result<Value, ProjectError> {
    match tree {
        Value::String(id) => keys
            .get(id)
            .map(|k| Value::from(k.as_str()))
            .ok_or_else(|| fail(format!("rule {rule:?} names unknown audience {id:?}"))),
        Value::Array(items) => {
            let op = items.first().and_then(Value::as_str).filter(|o| ["and", "or", "not"].contains(o));
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                if i == 0
                    && let Some(op) = op
                {
                    out.push(Value::from(op));
                    continue;
                }
                out.push(rename(item, keys, false, rule)?);
            }
            Ok(Value::Array(out))
        }
        other if top => Err(fail(format!("rule {rule:?}: audience conditions {other} are not a list"))),
        other => Err(fail(format!("rule {rule:?}: audience condition {other} is not an audience id"))),
    }
}

fn status(e: &Value, env: &str) -> Result<StatusMap, ProjectError> {
    // SDKs run only "Running"; any other spelling is as good as paused.
    let status = Status::from_datafile(s(e, "status")).unwrap_or(Status::Paused);
    Ok(BTreeMap::from([(env.to_owned(), status)]))
}

fn ranges(traffic: &[Value], keys: &HashMap<&str, &str>) -> Vec<Range> {
    traffic
        .iter()
        .map(|t| Range {
            // An entity id that names nothing gives nobody anything, like a hole.
            to: keys.get(s(t, "entityId")).map(|k| (*k).to_owned()),
            end: t.get("endOfRange").and_then(Value::as_i64).unwrap_or(0),
        })
        .collect()
}

fn traffic(e: &Value, keys: &HashMap<&str, &str>) -> Vec<Range> {
    ranges(list(e, "trafficAllocation"), keys)
}

fn whitelist(e: &Value, keys: &HashMap<&str, &str>) -> BTreeMap<String, String> {
    let known: HashSet<&str> = keys.values().copied().collect();
    e.get("forcedVariations")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(user, v)| v.as_str().filter(|v| known.contains(v)).map(|v| (user.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

#[allow(clippy::too_many_arguments)] // the parts of one flag
fn flag(
    f: &Value,
    rollout_id: &str,
    tests: &[(&Value, Option<&str>)],
    rollout: &[&Value],
    audience_keys: &HashMap<String, String>,
    env: &str,
    group_key: &impl Fn(&str) -> String,
) -> Result<Flag, ProjectError> {
    let flag_key = s(f, "key");
    let mut variables = Vec::new();
    let mut variable_keys = HashMap::new();
    for v in list(f, "variables") {
        let kind = match (s(v, "type"), s(v, "subType")) {
            (_, "json") | ("json", _) => VariableType::Json,
            ("boolean", _) => VariableType::Boolean,
            ("integer", _) => VariableType::Integer,
            ("double", _) => VariableType::Double,
            ("string", _) => VariableType::String,
            (other, _) => return Err(fail(format!("flag {flag_key:?}: variable type {other:?} is unknown"))),
        };
        variable_keys.insert(s(v, "id"), s(v, "key"));
        variables.push(Variable {
            id: s(v, "id").to_owned(),
            key: s(v, "key").to_owned(),
            kind,
            default: s(v, "defaultValue").to_owned(),
        });
    }
    // The flag's variations: the union over its rules, by id, as the SDKs build it.
    let mut variations: Vec<FlagVariation> = Vec::new();
    let all_rules = tests.iter().map(|(e, _)| *e).chain(rollout.iter().copied());
    for rule in all_rules.clone() {
        check_rule(rule)?;
        for v in list(rule, "variations") {
            let enabled = v.get("featureEnabled").and_then(Value::as_bool).unwrap_or(false);
            if let Some(known) = variations.iter().find(|x| x.id == s(v, "id")) {
                if known.enabled != enabled || known.key != s(v, "key") {
                    return Err(fail(format!(
                        "flag {flag_key:?}: variation id {:?} differs between rules (key or featureEnabled)",
                        s(v, "id")
                    )));
                }
                continue;
            }
            if variations.iter().any(|x| x.key == s(v, "key")) {
                return Err(fail(format!(
                    "flag {flag_key:?}: variation key {:?} has several ids; Vario keeps one id per key",
                    s(v, "key")
                )));
            }
            let values = list(v, "variables")
                .iter()
                .filter_map(|u| variable_keys.get(s(u, "id")).map(|k| ((*k).to_owned(), s(u, "value").to_owned())))
                .collect();
            variations.push(FlagVariation {
                id: s(v, "id").to_owned(),
                key: s(v, "key").to_owned(),
                enabled,
                variables: values,
            });
        }
    }
    let keys: HashMap<&str, &str> = variations.iter().map(|v| (v.id.as_str(), v.key.as_str())).collect();
    let mut rules = Vec::new();
    for (e, group) in tests {
        rules.push(rule(e, RuleKind::AbTest, status(e, env)?, group.map(group_key), audience_keys, &keys)?);
    }
    let mut everyone_else = EveryoneElse::default();
    if let Some((last, targeted)) = rollout.split_last() {
        for e in targeted {
            let running = BTreeMap::from([(env.to_owned(), Status::Running)]);
            rules.push(rule(e, RuleKind::Delivery, running, None, audience_keys, &keys)?);
        }
        everyone_else = everyone(last, rollout_id, &keys, audience_keys)?;
    }
    Ok(Flag {
        id: s(f, "id").to_owned(),
        rollout_id: rollout_id.to_owned(),
        key: flag_key.to_owned(),
        description: String::new(),
        variables,
        variations,
        rules,
        everyone_else,
        archived: false,
    })
}

fn rule(
    e: &Value,
    kind: RuleKind,
    status: StatusMap,
    group: Option<String>,
    audience_keys: &HashMap<String, String>,
    keys: &HashMap<&str, &str>,
) -> Result<Rule, ProjectError> {
    let mut traffic = traffic(e, keys);
    // A variation listed by the rule but given no traffic stays reachable for forced
    // decisions: keep it with an empty range at the end.
    let end = traffic.last().map_or(0, |r| r.end);
    let whitelisted = whitelist(e, keys);
    for v in list(e, "variations") {
        let key = keys.get(s(v, "id")).copied().unwrap_or_default();
        if !traffic.iter().any(|r| r.to.as_deref() == Some(key)) && !whitelisted.values().any(|w| w == key) {
            traffic.push(Range { to: Some(key.to_owned()), end });
        }
    }
    Ok(Rule {
        id: s(e, "id").to_owned(),
        layer_id: s(e, "layerId").to_owned(),
        key: s(e, "key").to_owned(),
        kind,
        audiences: audience_tree(e, audience_keys)?,
        traffic,
        whitelist: whitelisted,
        metrics: Vec::new(),
        group,
        status,
    })
}

fn everyone(
    e: &Value,
    rollout_id: &str,
    keys: &HashMap<&str, &str>,
    audience_keys: &HashMap<String, String>,
) -> Result<EveryoneElse, ProjectError> {
    let key = s(e, "key");
    if audience_tree(e, audience_keys)?.is_some() {
        return Err(fail(format!("everyone-else rule {key:?} has audiences")));
    }
    let traffic = traffic(e, keys);
    let (variation, end, traffic) = match traffic.as_slice() {
        [] => (None, None, Vec::new()),
        [Range { to: Some(v), end }] => (Some(v.clone()), (*end != 10_000).then_some(*end), Vec::new()),
        _ => (None, None, traffic),
    };
    let layer = s(e, "layerId");
    Ok(EveryoneElse {
        id: s(e, "id").to_owned(),
        key: key.to_owned(),
        layer_id: if layer == rollout_id { String::new() } else { layer.to_owned() },
        variation,
        end,
        traffic,
    })
}
