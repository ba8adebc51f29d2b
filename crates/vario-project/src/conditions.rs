//! Condition trees, Optimizely style: `["and" | "or" | "not", node, ...]`, a list
//! without an operator being an `or`. Audiences have attribute leaves; experiments and
//! rules combine audiences, whose keys are the leaves here and whose ids are the
//! leaves in the datafile.

use serde_json::{Map, Value};

use crate::error::Problem;

const OPERATORS: [&str; 3] = ["and", "or", "not"];
const MATCHES: [&str; 13] = [
    "exact",
    "exists",
    "substring",
    "gt",
    "ge",
    "lt",
    "le",
    "semver_eq",
    "semver_gt",
    "semver_ge",
    "semver_lt",
    "semver_le",
    "qualified",
];

/// The operator of a list node, if its first element is one.
fn operator(list: &[Value]) -> Option<&str> {
    list.first().and_then(Value::as_str).filter(|s| OPERATORS.contains(s))
}

/// Checks an audience's attribute condition tree.
pub(crate) fn check_audience_conditions(tree: &Value, path: &str) -> Result<(), Problem> {
    match tree {
        Value::Array(list) => {
            let skip = usize::from(operator(list).is_some());
            for (i, node) in list.iter().enumerate().skip(skip) {
                check_audience_conditions(node, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        Value::Object(leaf) => check_leaf(leaf, path),
        other => Err(Problem::new(
            path,
            format!("expected a list [\"and\"|\"or\"|\"not\", ...] or a condition object, found {other}"),
        )),
    }
}

fn check_leaf(leaf: &Map<String, Value>, path: &str) -> Result<(), Problem> {
    let Some(Value::String(_)) = leaf.get("name") else {
        return Err(Problem::new(format!("{path}.name"), "a condition needs the attribute \"name\" as a string"));
    };
    match leaf.get("type") {
        None => {}
        Some(Value::String(t)) if t == "custom_attribute" || t == "third_party_dimension" => {}
        Some(other) => {
            return Err(Problem::new(
                format!("{path}.type"),
                format!("type {other} is not \"custom_attribute\" or \"third_party_dimension\""),
            ));
        }
    }
    let matcher = match leaf.get("match") {
        None | Some(Value::Null) => "exact",
        Some(Value::String(m)) if MATCHES.contains(&m.as_str()) => m.as_str(),
        Some(other) => {
            return Err(Problem::new(
                format!("{path}.match"),
                format!("unknown match {other}; one of {}", MATCHES.join(", ")),
            ));
        }
    };
    let value = leaf.get("value").unwrap_or(&Value::Null);
    let ok = match matcher {
        "exists" => true,
        "exact" => matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)),
        "gt" | "ge" | "lt" | "le" => value.is_number(),
        _ => value.is_string(),
    };
    if ok {
        Ok(())
    } else {
        Err(Problem::new(format!("{path}.value"), format!("value {value} does not suit match {matcher:?}")))
    }
}

/// The audience keys an experiment's audience tree names, each with its path.
pub(crate) fn audience_keys<'v>(tree: &'v Value, path: &str) -> Result<Vec<(String, &'v str)>, Problem> {
    let mut keys = Vec::new();
    collect(tree, path, &mut keys)?;
    Ok(keys)
}

fn collect<'v>(tree: &'v Value, path: &str, keys: &mut Vec<(String, &'v str)>) -> Result<(), Problem> {
    match tree {
        Value::String(key) => {
            keys.push((path.to_owned(), key));
            Ok(())
        }
        Value::Array(list) => {
            let skip = usize::from(operator(list).is_some());
            for (i, node) in list.iter().enumerate().skip(skip) {
                collect(node, &format!("{path}[{i}]"), keys)?;
            }
            Ok(())
        }
        other => Err(Problem::new(path, format!("expected an audience key or a list, found {other}"))),
    }
}

/// The tree with every audience key replaced by `id(key)`; a single key becomes
/// `["or", id]`, since datafiles want a list.
pub(crate) fn map_leaves(tree: &Value, id: &impl Fn(&str) -> String) -> Value {
    match tree {
        Value::String(key) => Value::Array(vec![Value::from("or"), Value::from(id(key))]),
        Value::Array(_) => map_list(tree, id),
        other => other.clone(),
    }
}

fn map_list(tree: &Value, id: &impl Fn(&str) -> String) -> Value {
    match tree {
        Value::Array(list) => {
            let op = operator(list).is_some();
            Value::Array(
                list.iter()
                    .enumerate()
                    .map(|(i, node)| match node {
                        Value::String(s) if i == 0 && op => Value::from(s.as_str()),
                        Value::String(key) => Value::from(id(key)),
                        other => map_list(other, id),
                    })
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

/// Fills in `"type": "custom_attribute"` where a leaf has none: SDKs treat a leaf
/// without a type as unknown, which nobody writing a YAML file means.
pub(crate) fn with_leaf_types(tree: &Value) -> Value {
    match tree {
        Value::Array(list) => Value::Array(list.iter().map(with_leaf_types).collect()),
        Value::Object(leaf) if !leaf.contains_key("type") => {
            let mut leaf = leaf.clone();
            leaf.insert("type".into(), Value::from("custom_attribute"));
            Value::Object(leaf)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn leaves_are_checked() {
        let ok = json!(["and", {"name": "country", "match": "exact", "value": "de"}, ["not", {"name": "age", "match": "lt", "value": 18}]]);
        assert!(check_audience_conditions(&ok, "c").is_ok());
        let bad = json!(["and", {"name": "age", "match": "gt", "value": "x"}]);
        assert_eq!(check_audience_conditions(&bad, "c").unwrap_err().path, "c[1].value");
        let unknown = json!([{"name": "a", "match": "regex", "value": "x"}]);
        assert_eq!(check_audience_conditions(&unknown, "c").unwrap_err().path, "c[0].match");
    }

    #[test]
    fn audience_trees_map_keys_to_ids() {
        let tree = json!(["and", "de", ["not", "bots"]]);
        let keys = audience_keys(&tree, "a").unwrap();
        assert_eq!(keys, vec![("a[1]".to_owned(), "de"), ("a[2][1]".to_owned(), "bots")]);
        let mapped = map_leaves(&tree, &|k| format!("id-{k}"));
        assert_eq!(mapped, json!(["and", "id-de", ["not", "id-bots"]]));
        assert_eq!(map_leaves(&json!("de"), &|k| format!("id-{k}")), json!(["or", "id-de"]));
    }
}
