use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

fn vario() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vario"))
}

const MINIMAL: &str = r#"{"version": "4", "accountId": "1", "projectId": "2", "revision": "3",
  "groups": [], "experiments": [], "events": [], "audiences": [], "attributes": []}"#;

fn datafile(text: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "vario-eval-{}-{}.json",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn invalid_datafile_exits_2_before_any_output() {
    let path = datafile(r#"{"version": 4}"#);
    let out = vario().args(["eval", "--datafile"]).arg(&path).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr}");
    assert!(stderr.contains("version"), "{stderr}");
}

#[test]
fn malformed_lines_get_an_error_and_processing_continues() {
    let path = datafile(MINIMAL);
    let mut child =
        vario().args(["eval", "--datafile"]).arg(&path).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"not json\n[1]\n{\"op\": \"nope\"}\n{\"op\": \"get_variation\", \"experiment_key\": \"x\", \"user_id\": \"u\"}\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let lines: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    for line in &lines {
        assert!(line.get("error").is_some_and(Value::is_string), "{line}");
    }
    assert_eq!(lines[3]["variation_key"], Value::Null);
}

#[test]
fn each_answer_is_flushed_before_the_next_request_arrives() {
    use std::io::{BufRead, BufReader};
    let path = datafile(MINIMAL);
    let mut child =
        vario().args(["eval", "--datafile"]).arg(&path).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..3 {
        stdin.write_all(b"{\"op\": \"get_enabled_features\", \"user_id\": \"u\"}\n").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), serde_json::json!({"feature_keys": []}));
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn falsy_non_object_attributes_decide_like_the_reference_sdk_and_are_flagged() {
    use vario_cli::commands::eval::Evaluator;
    let config = vario_datafile::ProjectConfig::from_json(MINIMAL).unwrap();
    let evaluator = Evaluator::new(config, None).unwrap();
    // Legacy calls read `[]` as "no attributes" (with an error flag); decide refuses it.
    let legacy = evaluator.answer_line(r#"{"op": "get_enabled_features", "user_id": "u", "attributes": []}"#);
    assert_eq!(legacy["feature_keys"], serde_json::json!([]));
    assert!(legacy["error"].is_string());
    let truthy =
        evaluator.answer_line(r#"{"op": "is_feature_enabled", "feature_key": "f", "user_id": "u", "attributes": [1]}"#);
    assert_eq!(truthy["enabled"], Value::Bool(false));
    assert!(truthy["error"].is_string());
}

/// A datafile with fields of another JSON type than the format's loads: each such field is
/// named once on standard error and every flag is still answered.
#[test]
fn odd_fields_are_warned_once_by_path_and_every_flag_is_served() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec/compat/13-odd-variable-values/datafile.json");
    let mut child = vario()
        .args(["eval", "--datafile"])
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"{\"op\": \"decide_all\", \"user_id\": \"u\"}\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warned = |path: &str| stderr.lines().filter(|l| l.contains(&format!("warning: {path}:"))).count();
    assert_eq!(warned("featureFlags[0].variables[1].defaultValue"), 1, "{stderr}");
    assert_eq!(warned("featureFlags[0].variables[4].type"), 1, "{stderr}");
    assert!(stderr.lines().all(|l| l.starts_with("vario eval: datafile warning: ")), "{stderr}");
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let decisions = answer["decisions"].as_object().unwrap();
    assert_eq!(decisions.len(), 3, "{answer}");
    assert_eq!(answer["decisions"]["odd_flag"]["variables"]["json_object_default"], Value::Null);
    assert_eq!(answer["decisions"]["plain_flag"]["variables"]["label"], "hi");
}
