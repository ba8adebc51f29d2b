//! Property tests: loading never panics, whatever the text. Arbitrary JSON (including
//! integers beyond 64 bits), arbitrary bytes, and a valid datafile with keys removed,
//! values replaced and types changed all give `Ok` or `Err`.

use proptest::prelude::*;
use serde_json::{Map, Number, Value};
use vario_datafile::ProjectConfig;

use crate::validity::full;

/// Keys and strings of the datafile format, so that random documents reach deep.
const VOCAB: &[&str] = &[
    "version",
    "accountId",
    "projectId",
    "revision",
    "groups",
    "experiments",
    "events",
    "audiences",
    "attributes",
    "typedAudiences",
    "featureFlags",
    "rollouts",
    "holdouts",
    "localHoldouts",
    "integrations",
    "id",
    "key",
    "layerId",
    "status",
    "variations",
    "trafficAllocation",
    "entityId",
    "endOfRange",
    "audienceIds",
    "audienceConditions",
    "forcedVariations",
    "policy",
    "experimentIds",
    "rolloutId",
    "variables",
    "defaultValue",
    "type",
    "subType",
    "featureEnabled",
    "conditions",
    "name",
    "value",
    "match",
    "includedRules",
    "cmab",
    "botFiltering",
    "anonymizeIP",
    "sendFlagDecisions",
    "region",
    "4",
    "3",
    "2",
    "Running",
    "random",
    "and",
    "or",
    "not",
    "custom_attribute",
    "json",
    "string",
    "integer",
];

fn text_leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<u64>().prop_map(|u| u.to_string()),
        "-?[1-9][0-9]{19,60}",
        "-?[0-9]{1,4}(\\.[0-9]{1,6})?([eE][+-]?[0-9]{1,4})?",
        "[a-zA-Z0-9 _.$é-]{0,10}".prop_map(|s| Value::String(s).to_string()),
        prop::sample::select(VOCAB).prop_map(|s| Value::String(s.to_owned()).to_string()),
    ]
}

/// JSON text of arbitrary shape, numbers written as raw digits (so beyond u64 too).
fn json_text() -> impl Strategy<Value = String> {
    text_leaf().prop_recursive(5, 96, 8, |inner| {
        let key = prop_oneof![prop::sample::select(VOCAB).prop_map(str::to_owned), "[a-z$_]{0,6}",];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((key, inner), 0..8).prop_map(|fields| {
                let fields: Vec<String> =
                    fields.into_iter().map(|(k, v)| format!("{}:{v}", Value::String(k))).collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

/// Arbitrary JSON values.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        "[a-zA-Z0-9 _.$-]{0,10}".prop_map(Value::String),
        prop::sample::select(VOCAB).prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(VOCAB).prop_map(str::to_owned), inner), 0..6)
                .prop_map(|f| Value::Object(f.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Every JSON pointer of `v` (the root excluded).
fn pointers(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(child, &p, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(child, &p, out);
            }
        }
        _ => {}
    }
}

/// A huge integer that `serde_json::Value` cannot hold; spliced in as text.
const HUGE: &str = "__huge_integer__";

#[derive(Debug, Clone)]
enum Edit {
    Remove,
    Replace(Value),
    /// Same value, other JSON type: a string becomes a number, a list an object...
    ChangeType,
    Huge,
    Duplicate,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => Just(Edit::Remove),
        3 => json_value().prop_map(Edit::Replace),
        3 => Just(Edit::ChangeType),
        1 => Just(Edit::Huge),
        1 => Just(Edit::Duplicate),
    ]
}

fn other_type(v: &Value) -> Value {
    match v {
        Value::Null => Value::from(0),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::String(s) => s.parse::<f64>().ok().and_then(Number::from_f64).map_or(Value::Null, Value::Number),
        Value::Array(items) => {
            Value::Object(items.iter().enumerate().map(|(i, v)| (i.to_string(), v.clone())).collect())
        }
        Value::Object(map) => Value::Array(map.values().cloned().collect()),
    }
}

/// Applies `edits` to a valid datafile; each picks one pointer of the current document.
fn mutated(edits: &[(usize, Edit)]) -> String {
    let mut doc = full();
    for (at, e) in edits {
        let mut all = Vec::new();
        pointers(&doc, "", &mut all);
        if all.is_empty() {
            break;
        }
        let p = &all[at % all.len()];
        let (parent, key) = p.rsplit_once('/').unwrap();
        let Some(parent) = doc.pointer_mut(parent) else { continue };
        let key = key.replace("~1", "/").replace("~0", "~");
        match parent {
            Value::Object(map) => match e {
                Edit::Remove => {
                    map.remove(&key);
                }
                Edit::Replace(v) => {
                    map.insert(key, v.clone());
                }
                Edit::ChangeType => {
                    let v = other_type(&map[&key]);
                    map.insert(key, v);
                }
                Edit::Huge => {
                    map.insert(key, Value::String(HUGE.to_owned()));
                }
                Edit::Duplicate => {
                    let v = map[&key].clone();
                    map.insert(key, Value::Array(vec![v.clone(), v]));
                }
            },
            Value::Array(items) => {
                let i: usize = key.parse().unwrap();
                match e {
                    Edit::Remove => {
                        items.remove(i);
                    }
                    Edit::Replace(v) => items[i] = v.clone(),
                    Edit::ChangeType => items[i] = other_type(&items[i]),
                    Edit::Huge => items[i] = Value::String(HUGE.to_owned()),
                    Edit::Duplicate => {
                        let v = items[i].clone();
                        items.push(v);
                    }
                }
            }
            _ => {}
        }
    }
    doc.to_string().replace(&format!("\"{HUGE}\""), "123456789012345678901234567890")
}

proptest! {
    #[test]
    fn loading_arbitrary_json_text_never_panics(text in json_text()) {
        let _ = ProjectConfig::from_json(&text);
    }

    #[test]
    fn loading_arbitrary_json_values_never_panics(v in json_value()) {
        let _ = ProjectConfig::from_value(&v);
        let _ = ProjectConfig::from_json(&v.to_string());
    }

    #[test]
    fn loading_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = ProjectConfig::from_json(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn loading_a_mutated_valid_datafile_never_panics(edits in prop::collection::vec((any::<usize>(), edit()), 1..6)) {
        let text = mutated(&edits);
        let from_text = ProjectConfig::from_json(&text);
        // Loading is a function of the document: loading twice agrees.
        let again = ProjectConfig::from_json(&text);
        match (&from_text, &again) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            _ => prop_assert!(false, "loading the same text twice disagreed"),
        }
        if let Err(e) = &from_text {
            prop_assert!(!e.to_string().is_empty());
        }
    }
}

#[test]
fn the_mutation_helpers_start_from_a_valid_datafile_and_change_it() {
    assert!(ProjectConfig::from_json(&mutated(&[])).is_ok());
    let removed = mutated(&[(0, Edit::Remove)]);
    assert_ne!(removed, mutated(&[]));
    let huge = mutated(&[(0, Edit::Huge)]);
    assert!(huge.contains(":123456789012345678901234567890"), "{huge}");
}
