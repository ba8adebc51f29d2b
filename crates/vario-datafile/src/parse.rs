//! Datafile JSON → [`ProjectConfig`]: validation in the reference SDK's terms
//! (datafile.md §4) and construction of the derived maps (datafile.md §3).

use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::condition::compile_conditions;
use crate::config::*;
use crate::error::{DatafileError, Problem};
use crate::tree::{self, Tree};
use crate::variable::VariableType;
use crate::walk::{At, Obj, ROOT, as_array, as_obj, as_str};

/// The versions this crate reads; they share one format.
const SUPPORTED_VERSIONS: [&str; 3] = ["2", "3", "4"];

pub(crate) fn parse(text: &str) -> Result<ProjectConfig, DatafileError> {
    let root: Value = serde_json::from_str(text).map_err(DatafileError::Json)?;
    from_value(&root)
}

pub(crate) fn from_value(root: &Value) -> Result<ProjectConfig, DatafileError> {
    let top = as_obj(root, &ROOT)?;
    let version = top.req_str("version")?;
    let account_id = top.req_str("accountId")?;
    let project_id = top.req_str("projectId")?;
    let revision = top.req_str("revision")?;
    if !SUPPORTED_VERSIONS.contains(&version) {
        return Err(DatafileError::UnsupportedVersion(format!("{version:?}")));
    }

    let attributes = top.each("attributes", true, |v, at| {
        let o = as_obj(v, at)?;
        Ok(Attribute { id: o.req_str("id")?.to_owned(), key: o.req_str("key")?.to_owned() })
    })?;
    let events = top.each("events", true, |v, at| {
        let o = as_obj(v, at)?;
        Ok(Event {
            id: o.req_str("id")?.to_owned(),
            key: o.req_str("key")?.to_owned(),
            experiment_ids: o.str_list("experimentIds", true)?,
        })
    })?;
    top.each("integrations", false, |v, at| {
        let o = as_obj(v, at)?;
        o.req_str("key")?;
        o.opt_str("host")?;
        o.opt_str("publicKey")?;
        Ok(())
    })?;

    let audiences = parse_audiences(&top)?;
    let audience_by_id: FxHashMap<&str, AudienceIndex> =
        audiences.iter().enumerate().map(|(i, a)| (a.id.as_str(), i)).collect();

    // Experiments in the reference SDK's id-map order: top level, rollout rules, grouped.
    let mut builder = Experiments { list: Vec::new(), usages: Vec::new(), audience_by_id: &audience_by_id };
    top.each("experiments", true, |v, at| builder.push(v, at, Origin::TopLevel))?;
    let mut rollout_index = 0;
    let rollouts = top.each("rollouts", false, |v, at| {
        let o = as_obj(v, at)?;
        let r = rollout_index;
        rollout_index += 1;
        Ok(Rollout {
            id: o.req_str("id")?.to_owned(),
            rules: o.each("experiments", true, |v, at| builder.push(v, at, Origin::Rollout(r)))?,
        })
    })?;
    let mut group_index = 0;
    let groups = top.each("groups", true, |v, at| {
        let o = as_obj(v, at)?;
        let g = group_index;
        group_index += 1;
        Ok(Group {
            id: o.req_str("id")?.to_owned(),
            policy: o.req_str("policy")?.to_owned(),
            traffic_allocation: traffic(&o, true)?,
            experiments: o.each("experiments", true, |v, at| builder.push(v, at, Origin::Group(g)))?,
        })
    })?;
    let Experiments { list: mut experiments, usages, .. } = builder;

    let mut experiment_by_id = FxHashMap::default();
    for (i, e) in experiments.iter().enumerate() {
        experiment_by_id.insert(e.id.clone(), i);
    }
    let mut experiment_by_key = FxHashMap::default();
    for (i, e) in experiments.iter().enumerate() {
        if experiment_by_id.get(&e.id) == Some(&i) {
            experiment_by_key.insert(e.key.clone(), i);
        }
    }
    let rollout_by_id: FxHashMap<&str, usize> = rollouts.iter().enumerate().map(|(i, r)| (r.id.as_str(), i)).collect();

    let mut flags = top.each("featureFlags", false, |v, at| parse_flag(v, at, &experiment_by_id, &rollout_by_id))?;
    inject_feature_rollouts(&flags, &rollouts, &mut experiments);
    for flag in &flags {
        for &e in &flag.experiments {
            experiments[e].is_feature_test = true;
        }
    }
    let usage_by_variation = variable_usages(&experiments, &usages);
    for flag in &mut flags {
        fill_variations_and_values(flag, &rollouts, &experiments, &usage_by_variation);
    }

    let holdouts = top.each("holdouts", false, |v, at| parse_holdout(v, at, &audience_by_id))?;
    let mut local_holdouts = top.each("localHoldouts", false, |v, at| parse_holdout(v, at, &audience_by_id))?;
    local_holdouts.retain(|h| !h.included_rules.is_empty());

    let flag_by_key = flags.iter().enumerate().map(|(i, f)| (f.key.clone(), i)).collect();
    let event_by_key = events.iter().enumerate().map(|(i, e)| (e.key.clone(), i)).collect();
    let attribute_by_key = attributes.iter().enumerate().map(|(i, a)| (a.key.clone(), i)).collect();

    Ok(ProjectConfig {
        version: version.to_owned(),
        account_id: account_id.to_owned(),
        project_id: project_id.to_owned(),
        revision: revision.to_owned(),
        sdk_key: top.opt_str("sdkKey")?.map(str::to_owned),
        environment_key: top.opt_str("environmentKey")?.map(str::to_owned),
        anonymize_ip: top.opt("anonymizeIP").cloned().unwrap_or(Value::Bool(false)),
        bot_filtering: top.opt("botFiltering").and_then(Value::as_bool),
        send_flag_decisions: top.opt("sendFlagDecisions").is_some_and(truthy),
        region: match top.opt("region").and_then(Value::as_str) {
            Some(r) if r.eq_ignore_ascii_case("eu") => Region::Eu,
            _ => Region::Us,
        },
        attributes,
        audiences,
        experiments,
        groups,
        flags,
        rollouts,
        events,
        holdouts,
        local_holdouts,
        experiment_by_key,
        experiment_by_id,
        flag_by_key,
        event_by_key,
        attribute_by_key,
    })
}

/// Python truthiness of a JSON value (how the reference SDK reads `sendFlagDecisions`).
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Legacy audiences, then typed audiences replacing those with the same id.
fn parse_audiences(top: &Obj<'_, '_>) -> Result<Vec<Audience>, DatafileError> {
    let mut audiences: Vec<Audience> = Vec::new();
    let mut position: FxHashMap<String, usize> = FxHashMap::default();
    let mut insert = |a: Audience| match position.get(&a.id) {
        Some(&i) => audiences[i] = a,
        None => {
            position.insert(a.id.clone(), audiences.len());
            audiences.push(a);
        }
    };
    let legacy = top.each("audiences", true, |v, at| {
        let o = as_obj(v, at)?;
        let text = o.req_str("conditions")?;
        let conditions: Value = serde_json::from_str(text)
            .map_err(|e| at.key("conditions").error(Problem::ConditionsNotJson(e.to_string())))?;
        Ok(Audience {
            id: o.req_str("id")?.to_owned(),
            name: o.req_str("name")?.to_owned(),
            conditions: compile_conditions(&conditions),
        })
    })?;
    let typed = top.each("typedAudiences", false, |v, at| {
        let o = as_obj(v, at)?;
        let conditions = match o.req("conditions")? {
            // The reference SDK crashes evaluating string conditions here; we read "unknown".
            Value::String(_) => Tree::Unknown,
            other => compile_conditions(other),
        };
        Ok(Audience { id: o.req_str("id")?.to_owned(), name: o.req_str("name")?.to_owned(), conditions })
    })?;
    legacy.into_iter().chain(typed).for_each(&mut insert);
    Ok(audiences)
}

/// Collects experiments of every origin into one list.
struct Experiments<'a> {
    list: Vec<Experiment>,
    /// Per experiment, per variation: the raw variable usages `(variable id, value)`.
    usages: Vec<Vec<Vec<(String, String)>>>,
    audience_by_id: &'a FxHashMap<&'a str, AudienceIndex>,
}

impl Experiments<'_> {
    fn push(&mut self, v: &Value, at: &At<'_>, origin: Origin) -> Result<ExperimentIndex, DatafileError> {
        let o = as_obj(v, at)?;
        let id = o.req_str("id")?.to_owned();
        let key = o.req_str("key")?.to_owned();
        let layer_id = o.req_str("layerId")?.to_owned();
        let status = o.req_str("status")?.to_owned();
        let mut usages = Vec::new();
        let variations = o.each("variations", true, |v, at| {
            let (variation, u) = parse_variation(v, at)?;
            usages.push(u);
            Ok(variation)
        })?;
        let mut traffic_allocation = traffic(&o, !matches!(origin, Origin::Rollout(_)))?;
        for range in &mut traffic_allocation {
            range.variation = variations.iter().position(|v| v.id == range.entity_id);
        }
        let audience = rule_audience(&o, self.audience_by_id)?;
        let at_forced = at.key("forcedVariations");
        let forced = as_obj(o.req("forcedVariations")?, &at_forced)?;
        let forced_variations = forced
            .map
            .iter()
            .map(|(user, key)| {
                let variation = key.as_str().and_then(|k| variations.iter().position(|v| v.key == k));
                (user.clone(), variation)
            })
            .collect();
        let cmab = match o.opt("cmab") {
            None => None,
            Some(c) => {
                let at_c = at.key("cmab");
                let c = as_obj(c, &at_c)?;
                Some(Cmab {
                    attribute_ids: c.str_list("attributeIds", false)?,
                    traffic_allocation: c.opt("trafficAllocation").and_then(Value::as_i64).unwrap_or(0),
                })
            }
        };
        let index = self.list.len();
        self.list.push(Experiment {
            is_running: status == "Running",
            id,
            key,
            layer_id,
            status,
            variations,
            traffic_allocation,
            audience,
            forced_variations,
            origin,
            rule_type: o.opt_str("type")?.map(str::to_owned),
            cmab,
            is_feature_test: false,
        });
        self.usages.push(usages);
        Ok(index)
    }
}

fn parse_variation(v: &Value, at: &At<'_>) -> Result<(Variation, Vec<(String, String)>), DatafileError> {
    let o = as_obj(v, at)?;
    let id = o.req_str("id")?.to_owned();
    let usages = o.each("variables", false, |v, at| {
        let u = as_obj(v, at)?;
        Ok((u.req_str("id")?.to_owned(), u.req_str("value")?.to_owned()))
    })?;
    let variation = Variation {
        id_is_numeric: !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()),
        id,
        key: o.req_str("key")?.to_owned(),
        feature_enabled: o.opt("featureEnabled") == Some(&Value::Bool(true)),
    };
    Ok((variation, usages))
}

/// `trafficAllocation`; `strict` demands JSON integers for `endOfRange` (the schema
/// check covers experiments and groups, not rollout rules).
fn traffic(o: &Obj<'_, '_>, strict: bool) -> Result<Vec<TrafficRange>, DatafileError> {
    o.each("trafficAllocation", true, |v, at| {
        let r = as_obj(v, at)?;
        let end = r.req("endOfRange")?;
        let at_end = at.key("endOfRange");
        let end_of_range = match end.as_i64() {
            Some(i) => i,
            // Integers beyond i64 behave as "everything is below the end".
            None if end.is_u64() => i64::MAX,
            None if strict => return Err(at_end.wrong_type("an integer", end)),
            // Rollout rules escape the reference SDK's schema check: a float bound still
            // works there; anything else (which crashes it when bucketing) never matches.
            None => match end.as_f64() {
                Some(f) if f.is_finite() => f.ceil().clamp(i64::MIN as f64, i64::MAX as f64) as i64,
                _ => 0,
            },
        };
        Ok(TrafficRange { entity_id: r.req_str("entityId")?.to_owned(), end_of_range, variation: None })
    })
}

/// A rule's audience combination: `audienceConditions` when present (even `[]`), else
/// `audienceIds`; an empty combination means everyone (`None`).
fn rule_audience(
    o: &Obj<'_, '_>,
    audience_by_id: &FxHashMap<&str, AudienceIndex>,
) -> Result<Option<AudienceTree>, DatafileError> {
    let ids = o.req("audienceIds")?;
    let at_ids = o.at.key("audienceIds");
    for (i, id) in as_array(ids, &at_ids)?.iter().enumerate() {
        as_str(id, &at_ids.index(i))?;
    }
    let chosen = o.opt("audienceConditions").unwrap_or(ids);
    if chosen.as_array().is_some_and(Vec::is_empty) {
        return Ok(None);
    }
    Ok(Some(tree::compile(chosen, &mut |leaf| match leaf.as_str().and_then(|id| audience_by_id.get(id)) {
        Some(&i) => Tree::Leaf(i),
        None => Tree::Unknown,
    })))
}

fn parse_flag(
    v: &Value,
    at: &At<'_>,
    experiment_by_id: &FxHashMap<String, ExperimentIndex>,
    rollout_by_id: &FxHashMap<&str, usize>,
) -> Result<Flag, DatafileError> {
    let o = as_obj(v, at)?;
    let experiments = o.each("experimentIds", true, |v, at| {
        let id = as_str(v, at)?;
        experiment_by_id
            .get(id)
            .copied()
            .ok_or_else(|| at.error(Problem::UnknownReference { kind: "experiment", id: id.to_owned() }))
    })?;
    let rollout_id = o.req_str("rolloutId").or_else(|e| match o.map.get("rolloutId") {
        Some(Value::Null) => Err(o.at.key("rolloutId").wrong_type("a string", &Value::Null)),
        _ => Err(e),
    })?;
    let rollout = match rollout_id {
        "" => None,
        id => Some(rollout_by_id.get(id).copied().ok_or_else(|| {
            o.at.key("rolloutId").error(Problem::UnknownReference { kind: "rollout", id: id.to_owned() })
        })?),
    };
    let variables = o.each("variables", true, |v, at| {
        let var = as_obj(v, at)?;
        Ok(Variable {
            id: var.req_str("id")?.to_owned(),
            key: var.req_str("key")?.to_owned(),
            kind: VariableType::parse(var.req_str("type")?, var.opt_str("subType")?),
            default_value: var.req_str("defaultValue")?.to_owned(),
        })
    })?;
    Ok(Flag {
        id: o.req_str("id")?.to_owned(),
        key: o.req_str("key")?.to_owned(),
        experiments,
        rollout,
        variables,
        variations: Vec::new(),
        values: Vec::new(),
        value_table: Vec::new(),
    })
}

/// Feature rollouts (`type: "fr"`): users outside the experiment's own ranges fall into
/// the flag's "everyone else" variation (datafile.md §3 item 8).
fn inject_feature_rollouts(flags: &[Flag], rollouts: &[Rollout], experiments: &mut [Experiment]) {
    for flag in flags {
        let everyone_else = flag
            .rollout
            .and_then(|r| rollouts[r].rules.last())
            .and_then(|&rule| experiments[rule].variations.first().cloned());
        let Some(variation) = everyone_else else { continue };
        for &e in &flag.experiments {
            let exp = &mut experiments[e];
            if exp.rule_type.as_deref() != Some("fr") {
                continue;
            }
            exp.traffic_allocation.push(TrafficRange {
                entity_id: variation.id.clone(),
                end_of_range: 10_000,
                variation: Some(exp.variations.len()),
            });
            exp.variations.push(variation.clone());
        }
    }
}

/// Variable usages keyed by variation id across all experiments, last writer winning,
/// as the reference SDK keys them.
fn variable_usages<'a>(
    experiments: &'a [Experiment],
    usages: &'a [Vec<Vec<(String, String)>>],
) -> FxHashMap<&'a str, &'a [(String, String)]> {
    let mut map = FxHashMap::default();
    for (exp, per_variation) in experiments.iter().zip(usages) {
        for (variation, u) in exp.variations.iter().zip(per_variation) {
            map.insert(variation.id.as_str(), u.as_slice());
        }
    }
    map
}

/// The flag's variation list (feature tests, then rollout rules, first id wins) and its
/// table of cast variable values.
fn fill_variations_and_values(
    flag: &mut Flag,
    rollouts: &[Rollout],
    experiments: &[Experiment],
    usage_by_variation: &FxHashMap<&str, &[(String, String)]>,
) {
    let rules = flag.rollout.map_or(&[][..], |r| rollouts[r].rules.as_slice());
    for &e in flag.experiments.iter().chain(rules) {
        for (i, v) in experiments[e].variations.iter().enumerate() {
            let seen = flag.variations.iter().any(|r| experiments[r.experiment].variations[r.variation].id == v.id);
            if !seen {
                flag.variations.push(VariationRef { experiment: e, variation: i });
            }
        }
    }
    flag.values = flag.variables.iter().map(|var| var.kind.cast(&var.default_value)).collect();
    let mut table = Vec::with_capacity(flag.variations.len());
    for r in &flag.variations {
        let id = experiments[r.experiment].variations[r.variation].id.as_str();
        let usages = usage_by_variation.get(id).copied().unwrap_or_default();
        let row = flag
            .variables
            .iter()
            .enumerate()
            .map(|(i, var)| match usages.iter().find(|(var_id, _)| *var_id == var.id) {
                Some((_, raw)) => {
                    flag.values.push(var.kind.cast(raw));
                    (flag.values.len() - 1) as u32
                }
                None => i as u32,
            })
            .collect();
        table.push(row);
    }
    flag.value_table = table;
}

fn parse_holdout(
    v: &Value,
    at: &At<'_>,
    audience_by_id: &FxHashMap<&str, AudienceIndex>,
) -> Result<Holdout, DatafileError> {
    let o = as_obj(v, at)?;
    let variations = o.each("variations", true, |v, at| parse_variation(v, at).map(|(v, _)| v))?;
    let mut traffic_allocation = traffic(&o, false)?;
    for range in &mut traffic_allocation {
        range.variation = variations.iter().position(|v| v.id == range.entity_id);
    }
    Ok(Holdout {
        id: o.req_str("id")?.to_owned(),
        key: o.req_str("key")?.to_owned(),
        is_running: o.req_str("status")? == "Running",
        variations,
        traffic_allocation,
        audience: rule_audience(&o, audience_by_id)?,
        included_rules: o.str_list("includedRules", false)?,
        exclude_targeted_deliveries: o.opt("excludeTargetedDeliveries") == Some(&Value::Bool(true)),
    })
}
