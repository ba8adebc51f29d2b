//! Datafile JSON → [`ProjectConfig`]: the typed read of `raw.rs`, then the checks and
//! derived maps of the reference SDK (datafile.md §3–§4).
//!
//! The JSON is read once, straight into borrowed raw structs (no intermediate tree).
//! When that read fails it is repeated with path tracking, so the error names the field.

use std::borrow::Cow;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::condition::{Slots, compile_conditions};
use crate::config::*;
use crate::error::{DatafileError, Problem, Warning};
use crate::raw;
use crate::tree::{self, Tree};
use crate::variable::VariableType;
use crate::walk::{At, ROOT};

/// The versions this crate reads; they share one format.
const SUPPORTED_VERSIONS: [&str; 3] = ["2", "3", "4"];

pub(crate) fn parse(text: &str) -> Result<ProjectConfig, DatafileError> {
    match serde_json::from_str::<raw::Datafile<'_>>(text) {
        Ok(raw) => compile(raw, text),
        Err(e) if e.is_syntax() || e.is_eof() => Err(DatafileError::Json(e)),
        Err(_) => Err(located_error(text)),
    }
}

pub(crate) fn from_value(value: &Value) -> Result<ProjectConfig, DatafileError> {
    // Values are rare input (tests, tools); going through text keeps one code path.
    parse(&value.to_string())
}

/// Reads the text again, this time tracking the path, to say where it went wrong.
fn located_error(text: &str) -> DatafileError {
    let mut de = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, raw::Datafile<'_>>(&mut de) {
        Ok(_) => DatafileError::Invalid { path: "$".into(), problem: Problem::Other("unreadable datafile".into()) },
        Err(e) => {
            let (path, problem) = raw::describe_error(&e.path().to_string(), &e.inner().to_string());
            DatafileError::Invalid { path, problem }
        }
    }
}

fn owned(s: Cow<'_, str>) -> String {
    s.into_owned()
}

/// Collects into a vector without spare capacity. `into_iter().map().collect()` may reuse
/// the (larger) raw vector's allocation, which would keep its whole size alive.
fn exact<T>(iter: impl Iterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = iter.collect();
    v.shrink_to_fit();
    v
}

fn compile(raw: raw::Datafile<'_>, text: &str) -> Result<ProjectConfig, DatafileError> {
    if !SUPPORTED_VERSIONS.contains(&&*raw.version) {
        return Err(DatafileError::UnsupportedVersion(format!("{:?}", raw.version)));
    }
    let attributes: Vec<Attribute> =
        exact(raw.attributes.into_iter().map(|a| Attribute { id: owned(a.id), key: owned(a.key) }));
    let events: Vec<Event> = exact(raw.events.into_iter().map(|e| Event {
        id: owned(e.id),
        key: owned(e.key),
        experiment_ids: exact(e.experiment_ids.into_iter().map(owned)),
    }));

    let mut slots = Slots::default();
    let audiences = compile_audiences(raw.audiences, raw.typed_audiences, &mut slots)?;
    let audience_by_id: FxHashMap<&str, AudienceIndex> =
        audiences.iter().enumerate().map(|(i, a)| (a.id.as_str(), i)).collect();

    // Experiments in the reference SDK's id-map order: top level, rollout rules, grouped.
    let mut warnings = Vec::new();
    let mut builder = Experiments {
        list: Vec::new(),
        usages: Vec::new(),
        whitelists: Vec::new(),
        audience_by_id: &audience_by_id,
        warnings: &mut warnings,
    };
    let at_experiments = ROOT.key("experiments");
    for (i, e) in raw.experiments.into_iter().enumerate() {
        builder.push(e, &at_experiments.index(i), Origin::TopLevel)?;
    }
    let at_rollouts = ROOT.key("rollouts");
    let mut rollouts = Vec::with_capacity(raw.rollouts.len());
    for (r, rollout) in raw.rollouts.into_iter().enumerate() {
        let at_r = at_rollouts.index(r);
        let at_rules = at_r.key("experiments");
        let mut rules = Vec::with_capacity(rollout.experiments.len());
        for (i, e) in rollout.experiments.into_iter().enumerate() {
            rules.push(builder.push(e, &at_rules.index(i), Origin::Rollout(r))?);
        }
        rollouts.push(Rollout { id: owned(rollout.id), rules });
    }
    let at_groups = ROOT.key("groups");
    let mut groups = Vec::with_capacity(raw.groups.len());
    for (g, group) in raw.groups.into_iter().enumerate() {
        let at_g = at_groups.index(g);
        let traffic_allocation = traffic(group.traffic_allocation, &at_g, true)?;
        let at_exps = at_g.key("experiments");
        let mut experiments = Vec::with_capacity(group.experiments.len());
        for (i, e) in group.experiments.into_iter().enumerate() {
            experiments.push(builder.push(e, &at_exps.index(i), Origin::Group(g))?);
        }
        groups.push(Group { id: owned(group.id), policy: owned(group.policy), traffic_allocation, experiments });
    }
    let Experiments { list: mut experiments, mut usages, whitelists, .. } = builder;

    let mut experiment_by_id = FxHashMap::default();
    for (i, e) in experiments.iter().enumerate() {
        experiment_by_id.insert(e.id.clone(), i);
    }
    decide_rules_as_their_id(&mut experiments, &mut usages, &mut rollouts, &experiment_by_id);
    let id_order = id_map_order(&experiments);
    let mut experiment_by_key = FxHashMap::default();
    for &i in &id_order {
        experiment_by_key.insert(experiments[i].key.clone(), i);
    }
    for e in &mut experiments {
        e.key_owner = experiment_by_key.get(&e.key).copied();
    }
    resolve_through_key_owners(&mut experiments, whitelists);
    let rollout_by_id: FxHashMap<&str, usize> = rollouts.iter().enumerate().map(|(i, r)| (r.id.as_str(), i)).collect();

    let at_flags = ROOT.key("featureFlags");
    let mut flags = Vec::with_capacity(raw.feature_flags.len());
    for (i, f) in raw.feature_flags.into_iter().enumerate() {
        flags.push(compile_flag(f, &at_flags.index(i), &experiment_by_id, &rollout_by_id, &mut warnings)?);
    }
    inject_feature_rollouts(&flags, &rollouts, &mut experiments);
    for flag in &flags {
        for &e in &flag.experiments {
            experiments[e].is_feature_test = true;
        }
    }
    let usage_by_variation = variable_usages(&experiments, &usages, &id_order);
    for flag in &mut flags {
        fill_variations_and_values(flag, &rollouts, &experiments, &usage_by_variation);
    }

    let holdouts = compile_holdouts(raw.holdouts, "holdouts", &audience_by_id)?;
    let mut local_holdouts = compile_holdouts(raw.local_holdouts, "localHoldouts", &audience_by_id)?;
    local_holdouts.retain(|h| !h.included_rules.is_empty());

    let odd_enabled = |v: &Variation| v.feature_enabled_truthy && !v.feature_enabled;
    let truthy_feature_enabled = experiments.iter().flat_map(|e| &e.variations).any(odd_enabled)
        || holdouts.iter().chain(&local_holdouts).flat_map(|h| &h.variations).any(odd_enabled);
    let flag_by_key = flags.iter().enumerate().map(|(i, f)| (f.key.clone(), i)).collect();
    let event_by_key = events.iter().enumerate().map(|(i, e)| (e.key.clone(), i)).collect();
    let attribute_by_key = attributes.iter().enumerate().map(|(i, a)| (a.key.clone(), i)).collect();

    Ok(ProjectConfig {
        version: owned(raw.version),
        account_id: owned(raw.account_id),
        project_id: owned(raw.project_id),
        revision: owned(raw.revision),
        sdk_key: raw.sdk_key.map(owned),
        environment_key: raw.environment_key.map(owned),
        anonymize_ip: raw.anonymize_ip.unwrap_or(Value::Bool(false)),
        bot_filtering: raw.bot_filtering.as_ref().and_then(Value::as_bool),
        send_flag_decisions: raw.send_flag_decisions.as_ref().is_some_and(truthy),
        region: match raw.region.as_ref().and_then(Value::as_str) {
            Some(r) if r.eq_ignore_ascii_case("eu") => Region::Eu,
            _ => Region::Us,
        },
        attributes,
        audiences,
        condition_attributes: slots.names,
        experiments,
        groups,
        flags,
        rollouts,
        events,
        holdouts,
        local_holdouts,
        experiment_by_key,
        experiment_by_id,
        warnings,
        truthy_feature_enabled,
        flag_by_key,
        event_by_key,
        attribute_by_key,
        datafile: Arc::from(text),
    })
}

/// Python truthiness of a JSON value (how the reference SDK reads `sendFlagDecisions`).
pub(crate) fn truthy(v: &Value) -> bool {
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
fn compile_audiences(
    legacy: Vec<raw::Audience<'_>>,
    typed: Vec<raw::TypedAudience<'_>>,
    slots: &mut Slots,
) -> Result<Vec<Audience>, DatafileError> {
    let mut audiences: Vec<Audience> = Vec::with_capacity(legacy.len() + typed.len());
    let mut position: FxHashMap<String, usize> = FxHashMap::default();
    let mut insert = |a: Audience| match position.get(&a.id) {
        Some(&i) => audiences[i] = a,
        None => {
            position.insert(a.id.clone(), audiences.len());
            audiences.push(a);
        }
    };
    let at_legacy = ROOT.key("audiences");
    for (i, a) in legacy.into_iter().enumerate() {
        let conditions: Value = serde_json::from_str(&a.conditions)
            .map_err(|e| at_legacy.index(i).key("conditions").error(Problem::ConditionsNotJson(e.to_string())))?;
        insert(Audience { id: owned(a.id), name: owned(a.name), conditions: compile_conditions(&conditions, slots) });
    }
    for a in typed {
        let conditions = match &a.conditions.0 {
            // The reference SDK crashes evaluating string conditions here; we read "unknown".
            Value::String(_) => Tree::Unknown,
            other => compile_conditions(other, slots),
        };
        insert(Audience { id: owned(a.id), name: owned(a.name), conditions });
    }
    Ok(audiences)
}

/// Collects experiments of every origin into one list.
struct Experiments<'a> {
    list: Vec<Experiment>,
    /// Per experiment, per variation: the raw variable usages `(variable id, value)`.
    usages: Vec<Vec<Vec<(String, Value)>>>,
    /// Per experiment, its raw whitelist (user id → variation key as written).
    whitelists: Vec<Vec<(String, Value)>>,
    audience_by_id: &'a FxHashMap<&'a str, AudienceIndex>,
    warnings: &'a mut Vec<Warning>,
}

impl Experiments<'_> {
    fn push(&mut self, e: raw::Experiment<'_>, at: &At<'_>, origin: Origin) -> Result<ExperimentIndex, DatafileError> {
        let mut usages = Vec::with_capacity(e.variations.len());
        let at_variations = at.key("variations");
        let variations: Vec<Variation> = exact(e.variations.into_iter().enumerate().map(|(i, v)| {
            let (variation, u) = compile_variation(v);
            let at_usages = at_variations.index(i);
            let at_usages = at_usages.key("variables");
            for (j, (_, value)) in u.iter().enumerate() {
                if !value.is_string() {
                    let at_value = at_usages.index(j);
                    self.warnings.push(odd_value(&at_value.key("value"), value));
                }
            }
            usages.push(u);
            variation
        }));
        let mut traffic_allocation = traffic(e.traffic_allocation, at, !matches!(origin, Origin::Rollout(_)))?;
        let repeats_variations = variations_repeat(&variations);
        for range in &mut traffic_allocation {
            range.variation = if repeats_variations {
                variation_by_id_among_repeats(&variations, &range.entity_id)
            } else {
                variations.iter().position(|v| v.id == range.entity_id)
            };
        }
        let audience = rule_audience(&e.audience_ids, e.audience_conditions.as_ref(), self.audience_by_id);
        let index = self.list.len();
        let forced_variations = e
            .forced_variations
            .iter()
            .map(|(user, key)| {
                // The later variation with a key wins, as in the reference SDK's key map.
                let variation = key.as_str().and_then(|k| variations.iter().rposition(|v| v.key == k));
                (user.clone(), variation.map(|variation| VariationRef { experiment: index, variation }))
            })
            .collect();
        // Kept until the key owners are known (`resolve_through_key_owners`).
        self.whitelists.push(e.forced_variations.into_iter().collect());
        let cmab = e.cmab.map(|c| Cmab {
            attribute_ids: exact(c.attribute_ids.into_iter().map(owned)),
            traffic_allocation: c.traffic_allocation.as_ref().and_then(Value::as_i64).unwrap_or(0),
        });
        self.list.push(Experiment {
            is_running: e.status == "Running",
            key_is_blank: e.key.trim().is_empty(),
            id: owned(e.id),
            key: owned(e.key),
            layer_id: owned(e.layer_id),
            status: owned(e.status),
            variations,
            traffic_allocation,
            audience,
            forced_variations,
            origin,
            rule_type: e.rule_type.map(owned),
            cmab: cmab.map(Box::new),
            is_feature_test: false,
            bucket_group: match origin {
                Origin::Group(g) => Some(g),
                _ => None,
            },
            key_owner: None,
            repeats_variations,
        });
        self.usages.push(usages);
        Ok(index)
    }
}

/// The reference SDK's id map in its order: each id keeps the place where it first
/// appeared (in the order experiments are read: top level, rollout rules, grouped) and
/// holds the last experiment with it. Without repeated ids: every experiment, in order.
fn id_map_order(experiments: &[Experiment]) -> Vec<ExperimentIndex> {
    let mut order: Vec<ExperimentIndex> = Vec::with_capacity(experiments.len());
    let mut first_place: FxHashMap<&str, usize> = FxHashMap::default();
    for (i, e) in experiments.iter().enumerate() {
        match first_place.get(e.id.as_str()) {
            Some(&place) => order[place] = i,
            None => {
                first_place.insert(&e.id, order.len());
                order.push(i);
            }
        }
    }
    order
}

/// Repeated experiment ids (hand-written datafiles), as the reference SDK reads them: a
/// rollout lists each rule id once (at its first place, the later rule winning), and a rule
/// keeps its own key, id and layer but is decided as the experiment its id names in the
/// global id map (the last one with the id): that one's audiences, ranges, variations and
/// group step.
fn decide_rules_as_their_id(
    experiments: &mut [Experiment],
    usages: &mut [Vec<Vec<(String, Value)>>],
    rollouts: &mut [Rollout],
    experiment_by_id: &FxHashMap<String, ExperimentIndex>,
) {
    for rollout in rollouts.iter_mut() {
        let mut rules: Vec<ExperimentIndex> = Vec::with_capacity(rollout.rules.len());
        for &r in &rollout.rules {
            match rules.iter_mut().find(|q| experiments[**q].id == experiments[r].id) {
                Some(slot) => *slot = r,
                None => rules.push(r),
            }
        }
        rollout.rules = rules;
    }
    for r in 0..experiments.len() {
        let Some(&g) = experiment_by_id.get(&experiments[r].id) else { continue };
        if g == r || !matches!(experiments[r].origin, Origin::Rollout(_)) {
            continue;
        }
        let global = experiments[g].clone();
        let rule = &mut experiments[r];
        rule.variations = global.variations;
        rule.traffic_allocation = global.traffic_allocation;
        rule.audience = global.audience;
        rule.key_is_blank = global.key_is_blank;
        rule.cmab = global.cmab;
        rule.repeats_variations = global.repeats_variations;
        rule.bucket_group = global.bucket_group;
        usages[r] = usages[g].clone();
    }
}

/// The reference SDKs find a whitelisted variation by the experiment's key: in the
/// variations of the experiment that key names (the last one with it), none when no
/// reachable experiment has the key. Only repeated keys or ids make that another experiment.
fn resolve_through_key_owners(experiments: &mut [Experiment], whitelists: Vec<Vec<(String, Value)>>) {
    for (i, whitelist) in whitelists.into_iter().enumerate() {
        let owner = experiments[i].key_owner;
        if owner == Some(i) || whitelist.is_empty() {
            continue;
        }
        let forced = whitelist
            .into_iter()
            .map(|(user, key)| {
                let variation = owner.and_then(|o| {
                    let variation = experiments[o].variation_by_key(key.as_str()?)?;
                    Some(VariationRef { experiment: o, variation })
                });
                (user, variation)
            })
            .collect();
        experiments[i].forced_variations = forced;
    }
}

/// The warning for a variable value that is not a string (the reference SDKs cast it anyway).
fn odd_value(at: &At<'_>, value: &Value) -> Warning {
    Warning {
        path: at.to_string(),
        message: format!(
            "expected a string, found {}; answered as the reference SDK casts it (null where its cast fails)",
            crate::walk::describe(value)
        ),
    }
}

fn compile_variation(v: raw::Variation<'_>) -> (Variation, Vec<(String, Value)>) {
    let id = owned(v.id);
    let usages = exact(v.variables.into_iter().map(|u| (owned(u.id), u.value.0)));
    let variation = Variation {
        id_is_numeric: !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()),
        id,
        key: owned(v.key),
        feature_enabled: v.feature_enabled == Some(Value::Bool(true)),
        feature_enabled_truthy: v.feature_enabled.as_ref().is_some_and(truthy),
    };
    (variation, usages)
}

/// `trafficAllocation` of the object at `at`; `strict` demands JSON integers for
/// `endOfRange` (the reference SDK's schema check covers experiments and groups, not
/// rollout rules).
fn traffic(ranges: Vec<raw::TrafficRange<'_>>, at: &At<'_>, strict: bool) -> Result<Vec<TrafficRange>, DatafileError> {
    let at_ranges = at.key("trafficAllocation");
    let mut ranges = ranges
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let end_of_range = match r.end_of_range {
                raw::Number::Int(i) => i,
                // Integers beyond i64 behave as "everything is below the end".
                raw::Number::Big => i64::MAX,
                // Integers beyond 64 bits reach here as floats (serde_json reads them so);
                // the reference SDK reads them as integers.
                raw::Number::Float(f) if strict && f.fract() == 0.0 && f.abs() >= 2f64.powi(63) => {
                    if f > 0.0 {
                        i64::MAX
                    } else {
                        i64::MIN
                    }
                }
                raw::Number::Float(f) if strict => {
                    let found = serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number);
                    return Err(at_ranges.index(i).key("endOfRange").wrong_type("an integer", &found));
                }
                raw::Number::Other(found) if strict => {
                    let problem = Problem::WrongType { expected: "an integer", found };
                    return Err(at_ranges.index(i).key("endOfRange").error(problem));
                }
                // A float bound still works in the reference SDK's rollout rules; anything
                // else crashes it when bucketing, and never matches here.
                raw::Number::Float(f) if f.is_finite() => f.ceil().clamp(i64::MIN as f64, i64::MAX as f64) as i64,
                raw::Number::Float(_) | raw::Number::Other(_) => 0,
            };
            Ok(TrafficRange { entity_id: owned(r.entity_id), end_of_range, variation: None })
        })
        .collect::<Result<Vec<_>, _>>()?;
    ranges.shrink_to_fit();
    Ok(ranges)
}

/// A rule's audience combination: `audienceConditions` when present (even `[]`), else
/// `audienceIds`; an empty combination means everyone (`None`).
fn rule_audience(
    ids: &[Cow<'_, str>],
    conditions: Option<&Value>,
    audience_by_id: &FxHashMap<&str, AudienceIndex>,
) -> Option<AudienceTree> {
    let resolve = |id: &str| match audience_by_id.get(id) {
        Some(&i) => Tree::Leaf(i),
        None => Tree::Unknown,
    };
    match conditions.filter(|v| !v.is_null()) {
        Some(Value::Array(items)) if items.is_empty() => None,
        Some(tree) => Some(tree::compile(tree, &mut |leaf| leaf.as_str().map_or(Tree::Unknown, resolve))),
        None if ids.is_empty() => None,
        // A list of ids is an implicit "or" unless its first id is an operator name, as in
        // the reference SDK, which reads `audienceIds` with the same tree grammar.
        None => {
            let list = Value::Array(ids.iter().map(|id| Value::String(id.to_string())).collect());
            Some(tree::compile(&list, &mut |leaf| leaf.as_str().map_or(Tree::Unknown, resolve)))
        }
    }
}

fn compile_flag(
    f: raw::Flag<'_>,
    at: &At<'_>,
    experiment_by_id: &FxHashMap<String, ExperimentIndex>,
    rollout_by_id: &FxHashMap<&str, usize>,
    warnings: &mut Vec<Warning>,
) -> Result<Flag, DatafileError> {
    let at_ids = at.key("experimentIds");
    let experiments = f
        .experiment_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            experiment_by_id.get(&**id).copied().ok_or_else(|| {
                at_ids.index(i).error(Problem::UnknownReference { kind: "experiment", id: id.to_string() })
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let rollout = match &*f.rollout_id {
        "" => None,
        id => Some(rollout_by_id.get(id).copied().ok_or_else(|| {
            at.key("rolloutId").error(Problem::UnknownReference { kind: "rollout", id: id.to_owned() })
        })?),
    };
    let at_variables = at.key("variables");
    let variables = exact(f.variables.into_iter().enumerate().map(|(i, v)| {
        let at_v = at_variables.index(i);
        if !v.kind.0.is_string() {
            let message = format!(
                "expected a string, found {}; an unknown type, answered with the raw default value",
                crate::walk::describe(&v.kind.0)
            );
            warnings.push(Warning { path: at_v.key("type").to_string(), message });
        }
        let kind = VariableType::parse_value(&v.kind.0, v.sub_type.as_ref());
        if let (Some(name), VariableType::Other) = (v.kind.0.as_str(), kind) {
            let message = format!("unknown variable type {name:?}, answered with the raw default value");
            warnings.push(Warning { path: at_v.key("type").to_string(), message });
        }
        if !v.default_value.0.is_string() {
            warnings.push(odd_value(&at_v.key("defaultValue"), &v.default_value.0));
        }
        Variable { kind, id: owned(v.id), key: owned(v.key), default_value: v.default_value.0 }
    }));
    Ok(Flag {
        id: owned(f.id),
        key: owned(f.key),
        experiments,
        rollout,
        variables,
        variations: Vec::new(),
        variation_ids_repeat: false,
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
            exp.repeats_variations = variations_repeat(&exp.variations);
        }
    }
}

/// Variable usages keyed by variation id across all experiments, last writer winning,
/// as the reference SDK keys them.
fn variable_usages<'a>(
    experiments: &'a [Experiment],
    usages: &'a [Vec<Vec<(String, Value)>>],
    id_order: &[ExperimentIndex],
) -> FxHashMap<&'a str, &'a [(String, Value)]> {
    let mut map = FxHashMap::default();
    // The reference SDK reads usages from its id map's values, in its order: an experiment
    // whose id a later one repeats contributes none.
    for &i in id_order {
        let (exp, per_variation) = (&experiments[i], &usages[i]);
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
    usage_by_variation: &FxHashMap<&str, &[(String, Value)]>,
) {
    let rules = flag.rollout.map_or(&[][..], |r| rollouts[r].rules.as_slice());
    for &e in flag.experiments.iter().chain(rules) {
        let exp = &experiments[e];
        flag.variation_ids_repeat |= exp.repeats_variations;
        // As the reference SDK lists them: the variations its id → variation map keeps.
        let reachable: Vec<usize> = if exp.repeats_variations {
            variations_by_id_map(&exp.variations)
        } else {
            (0..exp.variations.len()).collect()
        };
        for i in reachable {
            let v = &exp.variations[i];
            let seen = flag.variations.iter().any(|r| experiments[r.experiment].variations[r.variation].id == v.id);
            if seen {
                flag.variation_ids_repeat = true;
            } else {
                flag.variations.push(VariationRef { experiment: e, variation: i });
            }
        }
    }
    flag.values = flag.variables.iter().map(|var| var.kind.cast_value(&var.default_value)).collect();
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
                    flag.values.push(var.kind.cast_value(raw));
                    (flag.values.len() - 1) as u32
                }
                None => i as u32,
            })
            .collect();
        table.push(row);
    }
    flag.values.shrink_to_fit();
    flag.value_table = table;
}

fn compile_holdouts(
    list: Vec<raw::Holdout<'_>>,
    field: &'static str,
    audience_by_id: &FxHashMap<&str, AudienceIndex>,
) -> Result<Vec<Holdout>, DatafileError> {
    let at_list = ROOT.key(field);
    list.into_iter()
        .enumerate()
        .map(|(i, h)| {
            let variations: Vec<Variation> = exact(h.variations.into_iter().map(|v| compile_variation(v).0));
            let mut traffic_allocation = traffic(h.traffic_allocation, &at_list.index(i), false)?;
            for range in &mut traffic_allocation {
                range.variation = variations.iter().position(|v| v.id == range.entity_id);
            }
            Ok(Holdout {
                audience: rule_audience(&h.audience_ids, h.audience_conditions.as_ref(), audience_by_id),
                id: owned(h.id),
                key: owned(h.key),
                is_running: h.status == "Running",
                variations,
                traffic_allocation,
                included_rules: exact(h.included_rules.into_iter().map(owned)),
                exclude_targeted_deliveries: h.exclude_targeted_deliveries == Some(Value::Bool(true)),
            })
        })
        .collect()
}
