use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use vario_store::{CompactOptions, Store, compact};

fn vario_query(dir: &Path, sql: &str, format: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vario"))
        .args(["query", "--data-dir"])
        .arg(dir)
        .args([sql, "--format", format])
        .output()
        .unwrap()
}

fn batch(uuids: &[&str]) -> vario_events::EventBatch {
    let visitors: Vec<Value> = uuids
        .iter()
        .map(|uuid| {
            json!({"visitor_id": format!("v-{uuid}"), "attributes": [], "snapshots": [{"events": [
                {"entity_id": "90001", "key": "purchase", "uuid": uuid, "timestamp": 1_700_000_000_000_i64,
                 "revenue": 250, "tags": {"note": "a, \"quoted\" tag"}}]}]})
        })
        .collect();
    serde_json::from_value(json!({"account_id": "1", "project_id": "2", "revision": "3", "visitors": visitors}))
        .unwrap()
}

/// A data directory with two events in Parquet and one only in the log.
fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(&batch(&["u1", "u2"]), 1_700_000_000_500).unwrap();
    compact(dir.path(), &CompactOptions::default()).unwrap();
    store.append(&batch(&["u3"]), 1_700_000_000_900).unwrap();
    store.close();
    dir
}

const SQL: &str = "SELECT uuid, revenue, tags, variation_id FROM events ORDER BY uuid";

#[test]
fn query_prints_json_rows_from_files_and_log() {
    let dir = data_dir();
    let out = vario_query(dir.path(), SQL, "json");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tags = r#"{"note":"a, \"quoted\" tag"}"#;
    assert_eq!(
        answer,
        json!({"columns": ["uuid", "revenue", "tags", "variation_id"], "rows": [
            ["u1", 250, tags, null], ["u2", 250, tags, null], ["u3", 250, tags, null]]})
    );
}

#[test]
fn query_prints_csv_and_a_table() {
    let dir = data_dir();
    let out = vario_query(dir.path(), SQL, "csv");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut lines = csv.split("\r\n");
    assert_eq!(lines.next(), Some("uuid,revenue,tags,variation_id"));
    assert_eq!(lines.next(), Some(r#"u1,250,"{""note"":""a, \""quoted\"" tag""}","#));
    assert_eq!(csv.matches("\r\n").count(), 4);

    let out = vario_query(dir.path(), "SELECT count(*) AS n FROM events", "table");
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "n\n-\n3\n(1 row)\n");
}

#[test]
fn query_refuses_writes_and_bad_sql_with_status_2() {
    let dir = data_dir();
    for sql in ["DELETE FROM events", "SELECT nope FROM events"] {
        let out = vario_query(dir.path(), sql, "table");
        assert_eq!(out.status.code(), Some(2), "{sql}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("invalid query"), "{sql}");
    }
    let out = vario_query(&dir.path().join("missing"), "SELECT 1", "table");
    assert_eq!(out.status.code(), Some(2));
}
