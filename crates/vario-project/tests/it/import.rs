//! A datafile imported and built again decides exactly as the original for every flag
//! and experiment, over users with attributes drawn from the audiences' own values.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use vario_core::{AttributeValue, Attributes, User, decide_flag, experiment_variation};
use vario_datafile::{Origin, ProjectConfig};
use vario_project::{ProjectError, build_datafile, import_datafile};

use crate::support::{apply, store};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The datafiles of the compatibility case sets and the examples.
fn datafiles() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let compat = repo_root().join("spec/compat");
    let mut dirs: Vec<_> = std::fs::read_dir(&compat).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    for dir in dirs {
        let file = dir.join("datafile.json");
        if file.exists() {
            out.push((dir.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(file).unwrap()));
        }
    }
    out.push((
        "examples/eval".into(),
        std::fs::read_to_string(repo_root().join("examples/eval/datafile.json")).unwrap(),
    ));
    out
}

/// Attribute name → values seen in the datafile's conditions (plus a few extras).
fn attribute_values(datafile: &Value) -> BTreeMap<String, Vec<Value>> {
    fn walk(tree: &Value, out: &mut BTreeMap<String, Vec<Value>>) {
        match tree {
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(leaf) => {
                if let Some(name) = leaf.get("name").and_then(Value::as_str) {
                    let values = out.entry(name.to_owned()).or_default();
                    if let Some(v) = leaf.get("value").filter(|v| !v.is_null() && !values.contains(v)) {
                        values.push(v.clone());
                        if let Some(n) = v.as_f64() {
                            values.push(Value::from(n + 1.0));
                            values.push(Value::from(n - 1.0));
                        }
                    }
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
        if let Some(text) = a["conditions"].as_str()
            && let Ok(tree) = serde_json::from_str::<Value>(text)
        {
            walk(&tree, &mut out);
        }
    }
    out
}

fn attributes_for(i: usize, values: &BTreeMap<String, Vec<Value>>) -> Attributes {
    let mut attributes = Attributes::new();
    for (j, (name, options)) in values.iter().enumerate() {
        let pick = (i * 7 + j * 3) % (options.len() + 1);
        if let Some(v) = options.get(pick) {
            let value = match v {
                Value::String(s) => AttributeValue::from(s.as_str()),
                Value::Bool(b) => AttributeValue::from(*b),
                Value::Number(n) => AttributeValue::from(n.as_f64().unwrap_or(0.0)),
                _ => continue,
            };
            attributes.insert(name.as_str(), value);
        }
    }
    attributes
}

fn decisions(config: &ProjectConfig, user: &User<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for (f, flag) in config.flags.iter().enumerate() {
        let d = decide_flag(config, f, user, None, &mut ());
        let variables: Vec<&Value> = (0..flag.variables.len()).map(|v| d.variable_value(config, v)).collect();
        out.push(format!(
            "{} {} {:?} {:?} {variables:?}",
            flag.key,
            d.enabled,
            d.variation(config).map(|v| &v.key),
            d.rule_key(config)
        ));
    }
    // Experiments applications activate: rollout rules are reached through their flags
    // (a rollout rule's status, which only `activate` on a rule would read, is not kept).
    let mut keys: Vec<&str> =
        config.experiments.iter().filter(|e| !matches!(e.origin, Origin::Rollout(_))).map(|e| e.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        let e = config.experiment_by_key(key).unwrap();
        let (v, _) = experiment_variation(config, e, user, None, &mut ());
        out.push(format!("{key} {:?}", v.map(|v| &config.variation(v).key)));
    }
    out
}

#[test]
fn imported_datafiles_decide_as_the_originals() {
    let mut imported = Vec::new();
    let mut refused = Vec::new();
    for (name, text) in datafiles() {
        let project = match import_datafile(&text, "imported", "production") {
            Ok(p) => p,
            Err(ProjectError::Import(why)) => {
                refused.push(format!("{name}: {why}"));
                continue;
            }
            Err(e) => panic!("{name}: {e}"),
        };
        let (_dir, store) = store();
        let outcome = apply(&store, project).unwrap_or_else(|e| panic!("{name}: {e}"));
        let rebuilt = &outcome.datafiles[0].record.json;
        let original = ProjectConfig::from_json(&text).unwrap();
        let built = ProjectConfig::from_json(rebuilt).unwrap();
        assert_eq!((&built.account_id, &built.project_id), (&original.account_id, &original.project_id));
        let values = attribute_values(&serde_json::from_str(&text).unwrap());
        for i in 0..400 {
            let attributes = attributes_for(i, &values);
            let id = format!("user-{i}");
            let user = User::new(&id, &attributes);
            assert_eq!(decisions(&built, &user), decisions(&original, &user), "{name}, user {i}: {attributes:?}");
        }
        // Building again from the stored project gives the same bytes.
        assert_eq!(&build_datafile(&outcome.project, &outcome.project.environments[0], 1).unwrap(), rebuilt);
        imported.push(name);
    }
    eprintln!("imported: {imported:?}\nrefused: {refused:#?}");
    assert!(imported.len() >= 3, "imported only {imported:?}; refused {refused:#?}");
}
