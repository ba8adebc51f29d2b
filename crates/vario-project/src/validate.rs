//! The rules a project must follow before it is stored: unique keys and ids, references
//! that resolve to live objects, traffic ranges within 0..=10000 that do not overlap,
//! variable values of their declared type, running experiments with variations.
//! Every problem names the field path and the failing value.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use crate::conditions;
use crate::error::{Problem, ProjectError};
use crate::model::{Project, Range, RuleKind, Status, StatusMap, VariableType};

/// Largest bucket bound.
pub(crate) const MAX_END: i64 = 10_000;
/// Longest key of any object.
pub(crate) const MAX_KEY_LEN: usize = 128;

/// Checks `project`; all problems at once, or `Ok`.
pub fn validate(project: &Project) -> Result<(), ProjectError> {
    let mut v = Validator::new(project);
    v.run();
    if v.problems.is_empty() { Ok(()) } else { Err(ProjectError::Invalid(v.problems)) }
}

/// Whether `key` may name a project, environment or SDK key: letters, digits, `-`, `_`
/// (they become file names and URL segments).
pub fn is_plain_key(key: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

struct Validator<'a> {
    p: &'a Project,
    problems: Vec<Problem>,
    environments: HashSet<&'a str>,
    /// Audience key → archived.
    audiences: HashMap<&'a str, bool>,
    events: HashMap<&'a str, bool>,
    groups: HashMap<&'a str, bool>,
    /// Experiment and rule keys → their group.
    grouped: HashMap<&'a str, Option<&'a str>>,
    ids: HashMap<&'a str, String>,
}

impl<'a> Validator<'a> {
    fn new(p: &'a Project) -> Self {
        Self {
            p,
            problems: Vec::new(),
            environments: p.environments.iter().map(|e| e.key.as_str()).collect(),
            audiences: p.audiences.iter().map(|a| (a.key.as_str(), a.archived)).collect(),
            events: p.events.iter().map(|e| (e.key.as_str(), e.archived)).collect(),
            groups: p.groups.iter().map(|g| (g.key.as_str(), g.archived)).collect(),
            grouped: HashMap::new(),
            ids: HashMap::new(),
        }
    }

    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    fn run(&mut self) {
        let p = self.p;
        if !is_plain_key(&p.key) {
            self.problem("key", format!("project key {:?} must be 1 to 128 letters, digits, '-' or '_'", p.key));
        }
        self.environments();
        let mut keys = Keys::default();
        for (i, a) in p.attributes.iter().enumerate() {
            let path = format!("attributes[{i}]");
            self.key(&mut keys, "attribute", &path, &a.key);
            self.id(&path, &a.id);
            if a.key.starts_with("$opt_") {
                self.problem(
                    format!("{path}.key"),
                    format!("attribute key {:?}: keys starting with $opt_ are reserved", a.key),
                );
            }
        }
        for (i, a) in p.audiences.iter().enumerate() {
            let path = format!("audiences[{i}]");
            self.key(&mut keys, "audience", &path, &a.key);
            self.id(&path, &a.id);
            if let Err(problem) = conditions::check_audience_conditions(&a.conditions, &format!("{path}.conditions")) {
                self.problems.push(problem);
            }
        }
        for (i, e) in p.events.iter().enumerate() {
            let path = format!("events[{i}]");
            self.key(&mut keys, "event", &path, &e.key);
            self.id(&path, &e.id);
        }
        for (i, g) in p.groups.iter().enumerate() {
            let path = format!("groups[{i}]");
            self.key(&mut keys, "group", &path, &g.key);
            self.id(&path, &g.id);
        }
        self.experiments(&mut keys);
        self.flags(&mut keys);
        self.group_traffic();
    }

    fn environments(&mut self) {
        let mut keys = HashSet::new();
        let mut sdk_keys = HashSet::new();
        for (i, e) in self.p.environments.iter().enumerate() {
            let path = format!("environments[{i}]");
            if !is_plain_key(&e.key) {
                self.problem(
                    format!("{path}.key"),
                    format!("environment key {:?} must be 1 to 128 letters, digits, '-' or '_'", e.key),
                );
            } else if !keys.insert(e.key.as_str()) {
                self.problem(format!("{path}.key"), format!("environment key {:?} is used twice", e.key));
            }
            if !e.sdk_key.is_empty() {
                if !is_plain_key(&e.sdk_key) {
                    self.problem(
                        format!("{path}.sdk_key"),
                        format!("SDK key {:?} must be 1 to 128 letters, digits, '-' or '_'", e.sdk_key),
                    );
                } else if !sdk_keys.insert(e.sdk_key.as_str()) {
                    self.problem(format!("{path}.sdk_key"), format!("SDK key {:?} is used twice", e.sdk_key));
                }
            }
        }
    }

    fn key(&mut self, keys: &mut Keys, kind: &'static str, path: &str, key: &str) {
        if key.trim().is_empty() || key.len() > MAX_KEY_LEN {
            self.problem(
                format!("{path}.key"),
                format!("{kind} key {key:?} must be 1 to {MAX_KEY_LEN} characters, not blank"),
            );
        } else if let Some(first) = keys.0.insert((kind, key.to_owned()), path.to_owned()) {
            self.problem(format!("{path}.key"), format!("duplicate {kind} key {key:?} (also at {first})"));
        }
    }

    /// Ids are unique in the whole project: events and caches key on them.
    fn id(&mut self, path: &str, id: &'a str) {
        if id.is_empty() {
            return;
        }
        if let Some(first) = self.ids.insert(id, path.to_owned()) {
            self.problem(format!("{path}.id"), format!("id {id:?} is also the id of {first}"));
        }
    }

    fn status(&mut self, path: &str, status: &StatusMap) {
        for env in status.keys() {
            if !self.environments.contains(env.as_str()) {
                self.problem(format!("{path}.status.{env}"), format!("unknown environment {env:?}"));
            }
        }
    }

    fn reference(&mut self, path: String, kind: &str, key: &str, known: Option<bool>) {
        match known {
            None => self.problem(path, format!("unknown {kind} {key:?}")),
            Some(true) => self.problem(path, format!("{kind} {key:?} is archived")),
            Some(false) => {}
        }
    }

    fn audiences(&mut self, path: &str, audiences: Option<&Value>) {
        let Some(tree) = audiences else { return };
        match conditions::audience_keys(tree, &format!("{path}.audiences")) {
            Err(problem) => self.problems.push(problem),
            Ok(keys) => {
                for (at, key) in keys {
                    let known = self.audiences.get(key).copied();
                    self.reference(at, "audience", key, known);
                }
            }
        }
    }

    fn metrics(&mut self, path: &str, metrics: &[String]) {
        for (i, m) in metrics.iter().enumerate() {
            let known = self.events.get(m.as_str()).copied();
            self.reference(format!("{path}.metrics[{i}]"), "event", m, known);
        }
    }

    fn group(&mut self, path: &str, key: &'a str, group: Option<&'a String>) {
        if let Some(g) = group {
            let known = self.groups.get(g.as_str()).copied();
            self.reference(format!("{path}.group"), "group", g, known);
        }
        self.grouped.insert(key, group.map(String::as_str));
    }

    fn experiments(&mut self, keys: &mut Keys) {
        let p = self.p;
        for (i, e) in p.experiments.iter().enumerate() {
            let path = format!("experiments[{i}]");
            self.key(keys, "experiment or rule", &path, &e.key);
            self.id(&path, &e.id);
            let mut variations = HashSet::new();
            for (j, v) in e.variations.iter().enumerate() {
                let vpath = format!("{path}.variations[{j}]");
                self.id(&vpath, &v.id);
                if v.key.trim().is_empty() {
                    self.problem(format!("{vpath}.key"), "variation key must not be blank");
                } else if !variations.insert(v.key.as_str()) {
                    self.problem(format!("{vpath}.key"), format!("duplicate variation key {:?}", v.key));
                }
            }
            self.running_needs_variations(&path, &e.status, e.variations.is_empty());
            self.traffic(&path, &e.traffic, "variation", &variations);
            self.whitelist(&path, &e.whitelist, &variations);
            self.audiences(&path, e.audiences.as_ref());
            self.metrics(&path, &e.metrics);
            self.group(&path, &e.key, e.group.as_ref());
            self.status(&path, &e.status);
        }
    }

    fn running_needs_variations(&mut self, path: &str, status: &StatusMap, empty: bool) {
        if !empty {
            return;
        }
        if let Some((env, _)) = status.iter().find(|(_, s)| **s == Status::Running) {
            self.problem(format!("{path}.variations"), format!("running in {env:?} but has no variations"));
        }
    }

    fn traffic(&mut self, path: &str, traffic: &[Range], kind: &str, targets: &HashSet<&str>) {
        let mut previous = 0;
        for (j, r) in traffic.iter().enumerate() {
            let rpath = format!("{path}.traffic[{j}]");
            if let Some(to) = &r.to
                && !targets.contains(to.as_str())
            {
                self.problem(format!("{rpath}.to"), format!("unknown {kind} {to:?}"));
            }
            if !(0..=MAX_END).contains(&r.end) {
                self.problem(format!("{rpath}.end"), format!("end {} is outside 0..=10000", r.end));
            } else if r.end < previous {
                self.problem(
                    format!("{rpath}.end"),
                    format!("end {} is below the previous range's end {previous}: ranges overlap", r.end),
                );
            }
            previous = previous.max(r.end);
        }
    }

    fn whitelist(&mut self, path: &str, whitelist: &BTreeMap<String, String>, variations: &HashSet<&str>) {
        for (user, variation) in whitelist {
            if !variations.contains(variation.as_str()) {
                self.problem(format!("{path}.whitelist.{user}"), format!("unknown variation {variation:?}"));
            }
        }
    }

    fn flags(&mut self, keys: &mut Keys) {
        let p = self.p;
        for (i, f) in p.flags.iter().enumerate() {
            let path = format!("flags[{i}]");
            self.key(keys, "flag", &path, &f.key);
            self.id(&path, &f.id);
            let mut variables = HashMap::new();
            for (j, var) in f.variables.iter().enumerate() {
                let vpath = format!("{path}.variables[{j}]");
                self.id(&vpath, &var.id);
                if var.key.trim().is_empty() {
                    self.problem(format!("{vpath}.key"), "variable key must not be blank");
                } else if variables.insert(var.key.as_str(), var.kind).is_some() {
                    self.problem(format!("{vpath}.key"), format!("duplicate variable key {:?}", var.key));
                }
                if let Err(message) = check_value(var.kind, &var.default) {
                    self.problem(format!("{vpath}.default"), message);
                }
            }
            let mut variations = HashSet::new();
            for (j, v) in f.variations.iter().enumerate() {
                let vpath = format!("{path}.variations[{j}]");
                self.id(&vpath, &v.id);
                if v.key.trim().is_empty() {
                    self.problem(format!("{vpath}.key"), "variation key must not be blank");
                } else if !variations.insert(v.key.as_str()) {
                    self.problem(format!("{vpath}.key"), format!("duplicate variation key {:?}", v.key));
                }
                for (name, value) in &v.variables {
                    match variables.get(name.as_str()) {
                        None => self.problem(format!("{vpath}.variables.{name}"), format!("unknown variable {name:?}")),
                        Some(kind) => {
                            if let Err(message) = check_value(*kind, value) {
                                self.problem(format!("{vpath}.variables.{name}"), message);
                            }
                        }
                    }
                }
            }
            let mut seen_delivery = false;
            for (j, r) in f.rules.iter().enumerate() {
                let rpath = format!("{path}.rules[{j}]");
                self.key(keys, "experiment or rule", &rpath, &r.key);
                self.id(&rpath, &r.id);
                match r.kind {
                    RuleKind::Delivery => {
                        seen_delivery = true;
                        if r.group.is_some() {
                            self.problem(format!("{rpath}.group"), "only A/B tests can be in an exclusion group");
                        }
                    }
                    RuleKind::AbTest if seen_delivery => self.problem(
                        format!("{rpath}.type"),
                        format!(
                            "A/B test {:?} comes after a delivery, but SDKs evaluate every A/B test first; move it up",
                            r.key
                        ),
                    ),
                    RuleKind::AbTest => {}
                }
                self.running_needs_variations(
                    &rpath,
                    &r.status,
                    r.kind == RuleKind::AbTest && r.traffic.iter().all(|t| t.to.is_none()),
                );
                self.traffic(&rpath, &r.traffic, "variation", &variations);
                self.whitelist(&rpath, &r.whitelist, &variations);
                self.audiences(&rpath, r.audiences.as_ref());
                self.metrics(&rpath, &r.metrics);
                self.group(&rpath, &r.key, r.group.as_ref());
                self.status(&rpath, &r.status);
            }
            let e = &f.everyone_else;
            self.id(&format!("{path}.everyone_else"), &e.id);
            if !e.key.is_empty() {
                self.key(keys, "experiment or rule", &format!("{path}.everyone_else"), &e.key);
            }
            if let Some(end) = e.end
                && !(0..=MAX_END).contains(&end)
            {
                self.problem(format!("{path}.everyone_else.end"), format!("end {end} is outside 0..=10000"));
            }
            self.traffic(&format!("{path}.everyone_else"), &e.traffic, "variation", &variations);
            if !e.traffic.is_empty() && (e.variation.is_some() || e.end.is_some()) {
                self.problem(
                    format!("{path}.everyone_else.traffic"),
                    "give either traffic or variation (and end), not both",
                );
            }
            if let Some(v) = &e.variation
                && !variations.contains(v.as_str())
            {
                self.problem(format!("{path}.everyone_else.variation"), format!("unknown variation {v:?}"));
            }
        }
    }

    /// Group ranges name experiments of the group.
    fn group_traffic(&mut self) {
        let p = self.p;
        for (i, g) in p.groups.iter().enumerate() {
            let path = format!("groups[{i}]");
            let members: HashSet<&str> =
                self.grouped.iter().filter(|(_, group)| **group == Some(g.key.as_str())).map(|(k, _)| *k).collect();
            self.traffic(&path, &g.traffic, "experiment of this group", &members);
        }
    }
}

#[derive(Default)]
struct Keys(HashMap<(&'static str, String), String>);

/// Whether `value` is a valid value of a variable of type `kind`.
pub fn check_value(kind: VariableType, value: &str) -> Result<(), String> {
    let ok = match kind {
        VariableType::Boolean => value == "true" || value == "false",
        VariableType::Integer => value.parse::<i64>().is_ok(),
        VariableType::Double => value.parse::<f64>().is_ok_and(f64::is_finite),
        VariableType::String => true,
        VariableType::Json => serde_json::from_str::<Value>(value).is_ok(),
    };
    if ok {
        Ok(())
    } else {
        let want = match kind {
            VariableType::Boolean => "\"true\" or \"false\"",
            VariableType::Integer => "an integer",
            VariableType::Double => "a finite number",
            VariableType::String => "text",
            VariableType::Json => "a JSON document",
        };
        Err(format!("value {value:?} is not {want}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_against_their_type() {
        assert!(check_value(VariableType::Boolean, "true").is_ok());
        assert_eq!(check_value(VariableType::Boolean, "yes").unwrap_err(), r#"value "yes" is not "true" or "false""#);
        assert!(check_value(VariableType::Integer, "3.0").is_err());
        assert!(check_value(VariableType::Double, "NaN").is_err());
        assert!(check_value(VariableType::Json, "{\"a\": 1}").is_ok());
        assert!(check_value(VariableType::Json, "{").is_err());
    }

    #[test]
    fn plain_keys() {
        assert!(is_plain_key("shop-production_1"));
        assert!(!is_plain_key(""));
        assert!(!is_plain_key("a/b"));
    }
}
