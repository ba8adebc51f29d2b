//! `Client::optimizely_config()` against the official Python SDK's
//! `get_optimizely_config()`: every case set's datafile (`spec/compat/*/`) and the
//! hand-written ones (`spec/optimizely-config/*/`) with the oracle's answer beside it in
//! `optimizely-config.json` (`tools/oracle/optimizely_config.py`), compared as JSON values.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use vario_sdk::{Client, ProjectConfig};

fn spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec")
}

/// `(set, case)` of every fixture directory below.
const CASES: &[(&str, &str)] = &[
    ("compat", "01-events-examples"),
    ("compat", "02-ab-experiments"),
    ("compat", "03-groups"),
    ("compat", "04-audiences"),
    ("compat", "05-feature-variables"),
    ("compat", "06-decide"),
    ("compat", "07-rollouts"),
    ("compat", "08-sticky-state"),
    ("compat", "09-events-and-tags"),
    ("compat", "10-odd-ids"),
    ("compat", "11-invalid-requests"),
    ("compat", "12-mixed"),
    ("compat", "13-odd-variable-values"),
    ("compat", "14-duplicate-variation-ids"),
    ("compat", "15-duplicate-experiment-keys"),
    ("compat", "16-duplicate-experiment-ids"),
    ("compat", "17-odd-feature-enabled"),
    ("optimizely-config", "audiences"),
    ("optimizely-config", "feature-rollouts"),
    ("optimizely-config", "old-shapes"),
    ("optimizely-config", "repeated-keys"),
    ("optimizely-config", "variables"),
];

/// Where two JSON values differ, one line per path (objects by key, arrays by index;
/// numbers by value).
fn differences(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                match a.get(k) {
                    Some(w) => differences(&format!("{path}.{k}"), v, w, out),
                    None => out.push(format!("{path}.{k}: missing (expected {v})")),
                }
            }
            for (k, w) in a.iter().filter(|(k, _)| !e.contains_key(*k)) {
                out.push(format!("{path}.{k}: not expected (found {w})"));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                out.push(format!("{path}: {} items expected, found {}", e.len(), a.len()));
            }
            for (i, (v, w)) in e.iter().zip(a).enumerate() {
                differences(&format!("{path}[{i}]"), v, w, out);
            }
        }
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => {}
        _ if expected == actual => {}
        _ => out.push(format!("{path}: expected {expected}, found {actual}")),
    }
}

fn check(set: &str, case: &str) {
    let dir = spec().join(set).join(case);
    let text = std::fs::read_to_string(dir.join("datafile.json")).unwrap();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("optimizely-config.json")).unwrap()).unwrap();
    let client = Client::from_datafile(&text).unwrap_or_else(|e| panic!("{set}/{case}: datafile does not load: {e}"));
    let view = client.optimizely_config().unwrap_or_else(|| panic!("{set}/{case}: no OptimizelyConfig"));
    assert_eq!(view.datafile(), text, "{set}/{case}: datafile()");
    let actual = serde_json::to_value(&*view).unwrap();
    let mut diff = Vec::new();
    differences("$", &expected, &actual, &mut diff);
    if !diff.is_empty() {
        let shown = diff.iter().take(40).cloned().collect::<Vec<_>>().join("\n  ");
        panic!("{set}/{case}: OptimizelyConfig differs from the Python SDK's in {} places:\n  {shown}", diff.len());
    }
}

macro_rules! cases {
    ($($name:ident => ($set:literal, $case:literal),)*) => {
        $(
            #[test]
            fn $name() {
                check($set, $case);
            }
        )*

        /// Every case in `CASES` has its own test.
        #[test]
        fn each_case_has_a_test() {
            let tested: Vec<(&str, &str)> = vec![$(($set, $case)),*];
            assert_eq!(tested, CASES);
        }
    };
}

cases! {
    compat_01_events_examples => ("compat", "01-events-examples"),
    compat_02_ab_experiments => ("compat", "02-ab-experiments"),
    compat_03_groups => ("compat", "03-groups"),
    compat_04_audiences => ("compat", "04-audiences"),
    compat_05_feature_variables => ("compat", "05-feature-variables"),
    compat_06_decide => ("compat", "06-decide"),
    compat_07_rollouts => ("compat", "07-rollouts"),
    compat_08_sticky_state => ("compat", "08-sticky-state"),
    compat_09_events_and_tags => ("compat", "09-events-and-tags"),
    compat_10_odd_ids => ("compat", "10-odd-ids"),
    compat_11_invalid_requests => ("compat", "11-invalid-requests"),
    compat_12_mixed => ("compat", "12-mixed"),
    compat_13_odd_variable_values => ("compat", "13-odd-variable-values"),
    compat_14_duplicate_variation_ids => ("compat", "14-duplicate-variation-ids"),
    compat_15_duplicate_experiment_keys => ("compat", "15-duplicate-experiment-keys"),
    compat_16_duplicate_experiment_ids => ("compat", "16-duplicate-experiment-ids"),
    compat_17_odd_feature_enabled => ("compat", "17-odd-feature-enabled"),
    handwritten_audiences => ("optimizely-config", "audiences"),
    handwritten_feature_rollouts => ("optimizely-config", "feature-rollouts"),
    handwritten_old_shapes => ("optimizely-config", "old-shapes"),
    handwritten_repeated_keys => ("optimizely-config", "repeated-keys"),
    handwritten_variables => ("optimizely-config", "variables"),
}

/// A fixture directory added on disk fails here until it is listed (and so tested).
#[test]
fn every_fixture_on_disk_is_listed() {
    let mut on_disk = Vec::new();
    for set in ["compat", "optimizely-config"] {
        for entry in std::fs::read_dir(spec().join(set)).unwrap() {
            let path = entry.unwrap().path();
            if path.join("datafile.json").is_file() {
                assert!(path.join("optimizely-config.json").is_file(), "{}: no optimizely-config.json", path.display());
                on_disk.push((set.to_owned(), path.file_name().unwrap().to_string_lossy().into_owned()));
            }
        }
    }
    on_disk.sort();
    let listed: Vec<(String, String)> = CASES.iter().map(|(s, c)| (s.to_string(), c.to_string())).collect();
    assert_eq!(on_disk, listed);
}

#[test]
fn no_view_before_a_datafile_is_loaded() {
    let client = Client::builder().build().unwrap();
    assert!(client.optimizely_config().is_none());
}

#[test]
fn the_view_is_built_once_per_config_and_follows_updates() {
    let text = std::fs::read_to_string(spec().join("optimizely-config/variables/datafile.json")).unwrap();
    let client = Client::from_datafile(&text).unwrap();
    let first = client.optimizely_config().unwrap();
    assert!(Arc::ptr_eq(&first, &client.optimizely_config().unwrap()));
    // From another thread (its own handle on the config), the same view.
    let other = std::thread::scope(|s| s.spawn(|| client.optimizely_config().unwrap()).join().unwrap());
    assert!(Arc::ptr_eq(&first, &other));

    let updated = text.replace("\"revision\": \"12\"", "\"revision\": \"13\"");
    client.set_config(Arc::new(ProjectConfig::from_json(&updated).unwrap()));
    let second = client.optimizely_config().unwrap();
    assert_eq!((first.revision.as_str(), second.revision.as_str()), ("12", "13"));
    assert_eq!(second.datafile(), updated);
}
