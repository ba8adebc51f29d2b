//! `vario project import` of a datafile, then the datafile Vario builds back from the
//! project: the official Python SDK (`optimizely-sdk` 5.7.0, through
//! `tools/official-clients/decide_all.py`) must answer every flag's decide and every
//! experiment's get_variation identically on both, for generated users with attributes,
//! and Vario's own SDK must answer the same on the rebuilt one.
//!
//! Needs `.venv-oracle/`, which `tools/official-clients/setup.sh` installs (`scripts/test`
//! runs it first); without it these tests fail, they do not skip.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value, json};
use vario_sdk::{Attributes, Client, DecideOptions};

use super::{repo, text, vario};
use crate::official_clients::missing;

/// Users asked about, per datafile.
const USERS: usize = 300;

/// The official SDK's interpreter, or a failure saying how to install it.
fn python() -> PathBuf {
    let python = repo(".venv-oracle/bin/python");
    assert!(python.exists(), "{}", missing(&python));
    python
}

/// Imports `datafile` as project `p` into a fresh data directory; the datafile Vario built.
fn import_and_build(datafile: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = vario(dir.path(), &["project", "import", datafile.to_str().unwrap(), "--project", "p"]);
    assert!(out.status.success(), "import of {}: {}", datafile.display(), text(&out));
    // The SDK key is the datafile's own when it has one, so take the only datafile written.
    let written: Vec<PathBuf> =
        std::fs::read_dir(dir.path().join("datafiles")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(written.len(), 1, "{written:?}");
    std::fs::read_to_string(&written[0]).unwrap()
}

/// Attribute name → values to try: every value the datafile's conditions compare with,
/// numbers next to them, and a value of another type (so type mismatches are asked too).
fn attribute_values(datafile: &Value) -> BTreeMap<String, Vec<Value>> {
    fn walk(tree: &Value, out: &mut BTreeMap<String, Vec<Value>>) {
        match tree {
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(leaf) => {
                let Some(name) = leaf.get("name").and_then(Value::as_str) else { return };
                let values = out.entry(name.to_owned()).or_default();
                let mut add = |v: Value| {
                    if !values.contains(&v) {
                        values.push(v);
                    }
                };
                match leaf.get("value") {
                    Some(Value::Number(n)) => {
                        let n = n.as_f64().unwrap_or_default();
                        for v in [n, n + 1.0, n - 1.0, n + 0.5] {
                            add(json!(v));
                        }
                        add(json!("text"));
                    }
                    Some(Value::String(s)) => {
                        add(json!(s));
                        add(json!(format!("{s}-other")));
                        add(json!(7));
                    }
                    Some(v @ Value::Bool(_)) => add(v.clone()),
                    // `exists` and its like compare with nothing: any value will do.
                    _ => add(json!("present")),
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    for a in datafile["typedAudiences"].as_array().into_iter().flatten() {
        walk(&a["conditions"], &mut out);
    }
    for a in datafile["audiences"].as_array().into_iter().flatten() {
        // Legacy audiences hold their conditions as a JSON string.
        if let Some(tree) = a["conditions"].as_str().and_then(|t| serde_json::from_str::<Value>(t).ok()) {
            walk(&tree, &mut out);
        }
    }
    out
}

/// `USERS` users `{"id", "attributes"}`; each attribute is one of its values or absent.
fn generated_users(datafile: &Value) -> Vec<Value> {
    let values = attribute_values(datafile);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |below: usize| {
        // xorshift64: deterministic and spread enough to mix the values.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % below as u64) as usize
    };
    (0..USERS)
        .map(|i| {
            let mut attributes = Map::new();
            for (name, options) in &values {
                if let Some(v) = options.get(next(options.len() + 1)) {
                    attributes.insert(name.clone(), v.clone());
                }
            }
            json!({"id": format!("user-{i}"), "attributes": attributes})
        })
        .collect()
}

/// Keys of the experiments get_variation is asked about (rollout rules are reached
/// through their flags), as `decide_all.py` lists them.
fn experiment_keys(datafile: &Value) -> Vec<String> {
    let top = datafile["experiments"].as_array().into_iter().flatten();
    let grouped =
        datafile["groups"].as_array().into_iter().flatten().flat_map(|g| g["experiments"].as_array()).flatten();
    let mut keys: Vec<String> = top.chain(grouped).filter_map(|e| e["key"].as_str().map(str::to_owned)).collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The official SDK's answers for every user, as `decide_all.py` prints them.
fn official_answers(python: &Path, datafile: &str, users: &Path, scratch: &Path) -> Vec<Value> {
    let file = scratch.join("datafile.json");
    std::fs::write(&file, datafile).unwrap();
    let out = Command::new(python)
        .arg(repo("tools/official-clients/decide_all.py"))
        .arg(&file)
        .arg(users)
        .output()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
    assert!(out.status.success(), "decide_all.py failed ({}): {}", out.status, text(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("decide_all.py printed no JSON ({e}): {}", text(&out)))
}

/// Vario's SDK's answers in the shape `decide_all.py` prints.
fn vario_answers(datafile: &str, users: &[Value]) -> Vec<Value> {
    let client = Client::from_datafile(datafile).unwrap();
    let experiments = experiment_keys(&serde_json::from_str(datafile).unwrap());
    users
        .iter()
        .map(|user| {
            let id = user["id"].as_str().unwrap();
            let attributes = Attributes::from(user["attributes"].as_object().cloned().unwrap_or_default());
            let flags: Map<String, Value> = client
                .create_user_context(id, attributes.clone())
                .decide_all(DecideOptions::DISABLE_DECISION_EVENT)
                .iter()
                .map(|d| {
                    let answer = json!({
                        "enabled": d.enabled(),
                        "variation_key": d.variation_key(),
                        "rule_key": d.rule_key(),
                        "variables": d.variables(),
                    });
                    (d.flag_key().to_owned(), answer)
                })
                .collect();
            let variations: Map<String, Value> = experiments
                .iter()
                .map(|key| (key.clone(), json!(client.get_variation(key, id, &attributes).map(|v| v.key().to_owned()))))
                .collect();
            json!({"id": id, "flags": flags, "experiments": variations})
        })
        .collect()
}

/// Numbers as `f64`: Python and Rust print whole doubles differently (`2.0`, `2`).
fn numbers_as_f64(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.iter().map(numbers_as_f64).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), numbers_as_f64(v))).collect()),
        other => other.clone(),
    }
}

/// Fails on the first user whose answers differ, showing the user and both answers.
fn assert_same(name: &str, what: &str, users: &[Value], left: &[Value], right: &[Value]) {
    assert_eq!(left.len(), users.len(), "{name}: {what}: one answer per user");
    assert_eq!(right.len(), users.len(), "{name}: {what}: one answer per user");
    for ((user, l), r) in users.iter().zip(left).zip(right) {
        assert_eq!(l, r, "{name}: {what} differ for {user}");
    }
}

/// The whole check for one original datafile.
fn check(python: &Path, name: &str, original: &str) {
    let scratch = tempfile::tempdir().unwrap();
    let original_file = scratch.path().join("original.json");
    std::fs::write(&original_file, original).unwrap();
    let rebuilt = import_and_build(&original_file);

    let parsed: Value = serde_json::from_str(original).unwrap();
    let users = generated_users(&parsed);
    let users_file = scratch.path().join("users.json");
    std::fs::write(&users_file, Value::Array(users.clone()).to_string()).unwrap();

    let before = official_answers(python, original, &users_file, scratch.path());
    let after = official_answers(python, &rebuilt, &users_file, scratch.path());
    // The users must reach more than one answer, or the comparison proves little.
    let distinct: std::collections::BTreeSet<String> =
        before.iter().map(|a| format!("{}{}", a["flags"], a["experiments"])).collect();
    assert!(distinct.len() > 1, "{name}: every user gets the same answers");
    assert_same(name, "the official SDK's answers on the original and the rebuilt datafile", &users, &before, &after);

    let vario: Vec<Value> = vario_answers(&rebuilt, &users).iter().map(numbers_as_f64).collect();
    let official: Vec<Value> = after.iter().map(numbers_as_f64).collect();
    assert_same(name, "Vario's and the official SDK's answers on the rebuilt datafile", &users, &vario, &official);
}

#[test]
fn imported_datafiles_rebuilt_decide_identically_in_the_official_sdk() {
    let python = python();
    for name in ["spec/compat/01-events-examples", "spec/compat/02-ab-experiments", "examples/eval"] {
        let original = std::fs::read_to_string(repo(name).join("datafile.json")).unwrap();
        check(&python, name, &original);
    }
}

#[test]
fn the_example_project_imported_back_decides_identically_in_the_official_sdk() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let out = vario(dir.path(), &["project", "apply", repo("examples/project.yaml").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let built = std::fs::read_to_string(dir.path().join("datafiles/shop-production.json")).unwrap();
    check(&python, "examples/project.yaml", &built);
}
