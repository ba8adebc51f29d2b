use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use vario_cli::commands::eval::{Evaluator, EventLines};
use vario_datafile::ProjectConfig;

fn compat_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec/compat")
}

/// A `Write` whose bytes the test can take after each request.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    fn take_lines(&self) -> Vec<Value> {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap());
        String::from_utf8(bytes).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

/// Numbers compare by value (`3 == 3.0`); objects ignore key order.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(x), Some(y), _, _) => x == y,
            (_, _, Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Drops what the protocol does not compare.
fn normalize_response(mut v: Value) -> Value {
    if let Value::Object(map) = &mut v {
        map.remove("reasons");
        if map.contains_key("error") {
            map.insert("error".into(), Value::Bool(true));
        }
        if let Some(Value::Array(keys)) = map.get_mut("feature_keys") {
            keys.sort_by_key(|a| a.to_string());
        }
        if let Some(Value::Object(decisions)) = map.get_mut("decisions") {
            for d in decisions.values_mut() {
                if let Value::Object(d) = d {
                    d.remove("reasons");
                }
            }
        }
    }
    v
}

fn normalize_event(mut v: Value) -> Value {
    if let Some(params) = v.get_mut("params").and_then(Value::as_object_mut) {
        params.remove("client_name");
        params.remove("client_version");
        for visitor in params.get_mut("visitors").and_then(Value::as_array_mut).into_iter().flatten() {
            for snapshot in visitor.get_mut("snapshots").and_then(Value::as_array_mut).into_iter().flatten() {
                for event in snapshot.get_mut("events").and_then(Value::as_array_mut).into_iter().flatten() {
                    if let Some(e) = event.as_object_mut() {
                        e.remove("uuid");
                        e.remove("timestamp");
                    }
                }
            }
        }
    }
    v
}

/// Runs one case set; returns a description of every disagreement.
fn run_case_set(dir: &Path) -> Vec<String> {
    let datafile = std::fs::read_to_string(dir.join("datafile.json")).unwrap();
    let config = ProjectConfig::from_json(&datafile).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let sink = SharedBuf::default();
    let event_lines = EventLines::new(Box::new(sink.clone()), None);
    let evaluator = Evaluator::new(config, Some(event_lines.clone())).unwrap();
    let requests = std::fs::read_to_string(dir.join("requests.jsonl")).unwrap();
    let expected = std::fs::read_to_string(dir.join("expected.jsonl")).unwrap();
    let mut failures = Vec::new();
    for (i, (request, expected)) in requests.lines().zip(expected.lines()).enumerate() {
        let expected: Map<String, Value> = serde_json::from_str(expected).unwrap();
        let response = normalize_response(evaluator.answer_line(request));
        let events: Vec<Value> = {
            event_lines.flush().unwrap();
            let lines = sink.take_lines();
            lines.into_iter().map(normalize_event).collect()
        };
        let want_response = normalize_response(expected["response"].clone());
        let want_events: Vec<Value> =
            expected["events"].as_array().unwrap().iter().cloned().map(normalize_event).collect();
        if !same(&response, &want_response) {
            failures.push(format!("line {}: {request}\n  response: {response}\n  expected: {want_response}", i + 1));
        }
        if !same(&Value::Array(events.clone()), &Value::Array(want_events.clone())) {
            failures.push(format!(
                "line {}: {request}\n  events:   {}\n  expected: {}",
                i + 1,
                Value::Array(events),
                Value::Array(want_events)
            ));
        }
    }
    assert_eq!(requests.lines().count(), expected.lines().count(), "{}: line counts differ", dir.display());
    failures
}

fn check(name: &str) {
    let failures = run_case_set(&compat_dir().join(name));
    if !failures.is_empty() {
        let shown: Vec<_> = failures.iter().take(10).cloned().collect();
        panic!("{name}: {} disagreements with the official SDK; first ones:\n{}", failures.len(), shown.join("\n"));
    }
}

macro_rules! case_sets {
    ($($test:ident => $dir:literal,)*) => {
        $(#[test] fn $test() { check($dir); })*

        /// Every case set on disk has a test above.
        #[test]
        fn every_case_set_is_listed() {
            let listed = [$($dir),*];
            let mut on_disk: Vec<String> = std::fs::read_dir(compat_dir()).unwrap()
                .map(|e| e.unwrap())
                .filter(|e| e.path().join("requests.jsonl").exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            on_disk.sort();
            assert_eq!(on_disk, listed, "add new case sets to the list in compat.rs");
        }
    };
}

case_sets! {
    events_examples_agree_with_official_sdk => "01-events-examples",
    ab_experiments_agree_with_official_sdk => "02-ab-experiments",
    groups_agree_with_official_sdk => "03-groups",
    audiences_agree_with_official_sdk => "04-audiences",
    feature_variables_agree_with_official_sdk => "05-feature-variables",
    decide_agrees_with_official_sdk => "06-decide",
    rollouts_agree_with_official_sdk => "07-rollouts",
    sticky_state_agrees_with_official_sdk => "08-sticky-state",
    events_and_tags_agree_with_official_sdk => "09-events-and-tags",
    odd_ids_agree_with_official_sdk => "10-odd-ids",
    invalid_requests_agree_with_official_sdk => "11-invalid-requests",
    mixed_requests_agree_with_official_sdk => "12-mixed",
    odd_variable_values_agree_with_official_sdks => "13-odd-variable-values",
    duplicate_variation_ids_agree_with_official_sdks => "14-duplicate-variation-ids",
    duplicate_experiment_keys_agree_with_official_sdks => "15-duplicate-experiment-keys",
    duplicate_experiment_ids_agree_with_official_sdk => "16-duplicate-experiment-ids",
    odd_feature_enabled_agrees_with_official_sdk => "17-odd-feature-enabled",
}

/// Datafiles the official SDK accepts or rejects; Vario must judge them the same way.
#[test]
fn datafile_validity_agrees_with_official_sdk() {
    let dir = compat_dir().join("datafile-validity");
    let expected: Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    assert!(expected.len() >= 20, "expected at least 20 validity cases");
    let mut failures = Vec::new();
    for (file, valid) in &expected {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let result = ProjectConfig::from_json(&text);
        if result.is_ok() != valid.as_bool().unwrap() {
            failures.push(format!("{file}: official SDK says valid={valid}, Vario says {result:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The real binary over stdin/stdout with `--events-out` gives the same answers.
#[test]
fn binary_answers_a_case_set_like_the_library() {
    let dir = compat_dir().join("01-events-examples");
    let events_path = std::env::temp_dir().join(format!("vario-eval-events-{}.jsonl", std::process::id()));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vario"))
        .args(["eval", "--datafile"])
        .arg(dir.join("datafile.json"))
        .arg("--events-out")
        .arg(&events_path)
        .stdin(std::fs::File::open(dir.join("requests.jsonl")).unwrap())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let responses: Vec<Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let expected: Vec<Value> = std::fs::read_to_string(dir.join("expected.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(responses.len(), expected.len());
    for (got, want) in responses.iter().zip(&expected) {
        assert!(
            same(&normalize_response(got.clone()), &normalize_response(want["response"].clone())),
            "{got} vs {want}"
        );
    }
    let events: Vec<Value> = std::fs::read_to_string(&events_path)
        .unwrap()
        .lines()
        .map(|l| normalize_event(serde_json::from_str(l).unwrap()))
        .collect();
    let want_events: Vec<Value> =
        expected.iter().flat_map(|e| e["events"].as_array().unwrap().clone()).map(normalize_event).collect();
    assert!(same(&Value::Array(events), &Value::Array(want_events)));
    let _ = std::fs::remove_file(events_path);
}
