//! The Parquet files read by another engine: pyarrow (`tools/parquet-check/check.py`)
//! must see the log's events, field for field, in Hive partitions.
//!
//! Needs pyarrow in `.venv-oracle/`, which `tools/parquet-check/setup.sh` installs
//! (`scripts/test` runs it first); without it this test fails and says so.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};
use vario_store::{CompactOptions, Store, compact};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn pyarrow_reads_the_parquet_files_as_the_log_has_them() {
    let python = repo_root().join(".venv-oracle/bin/python");
    assert!(python.exists(), "{} is missing: run tools/parquet-check/setup.sh (scripts/test does)", python.display());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let batch = json!({"account_id": "1", "project_id": "2", "revision": "3", "client_name": "python-sdk",
        "client_version": "5.7.0", "visitors": [
        {"visitor_id": "ann", "attributes": [{"entity_id": "7", "key": "plan", "type": "custom", "value": "gold"}],
         "snapshots": [{"events": [{"entity_id": "41", "key": "campaign_activated", "uuid": "imp-1",
                                    "timestamp": 1_700_000_000_000_i64}],
                        "decisions": [{"campaign_id": "41", "experiment_id": "40", "variation_id": "401",
                                       "metadata": {"flag_key": "f", "rule_key": "r", "rule_type": "experiment",
                                                    "variation_key": "on", "enabled": true}}]}]},
        {"visitor_id": "bob", "attributes": [],
         "snapshots": [{"events": [{"entity_id": "90", "key": "purchase", "uuid": "conv-1",
                                    "timestamp": 1_700_090_000_000_i64, "revenue": 4200, "value": 12.5,
                                    "tags": {"coupon": "x"}}]}]}]});
    store.append(&serde_json::from_value(batch).unwrap(), 1_700_100_000_000).unwrap();
    compact(dir.path(), &CompactOptions::default()).unwrap();
    let log = store.reader().unwrap().events_since(0, 10).unwrap();
    store.close();

    let out =
        Command::new(&python).arg(repo_root().join("tools/parquet-check/check.py")).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["files"], 2, "one file per UTC date");
    let types = &seen["columns"];
    assert_eq!((types["seq"].as_str(), types["kind"].as_str()), (Some("int64"), Some("string")));
    assert_eq!((types["value"].as_str(), types["enabled"].as_str()), (Some("double"), Some("bool")));
    assert_eq!(seen["dictionary"]["kind"], true);
    assert_eq!(seen["dictionary"]["uuid"], false);

    let rows = seen["rows"].as_array().unwrap();
    assert_eq!(rows.len(), log.len());
    let (imp, conv) = (&rows[0], &rows[1]);
    assert_eq!(imp["seq"], log[0].seq);
    assert_eq!(imp["date"].as_str().map(|d| &d[..10]), Some("2023-11-14"));
    assert_eq!(
        (&imp["kind"], &imp["uuid"], &imp["visitor_id"], &imp["experiment_id"], &imp["variation_key"], &imp["enabled"]),
        (&json!("decision"), &json!("imp-1"), &json!("ann"), &json!("40"), &json!("on"), &json!(true))
    );
    assert_eq!(imp["attributes"].as_str(), Some(log[0].row.attributes.as_str()));
    assert_eq!(imp["timestamp"], 1_700_000_000_000_i64);
    assert_eq!(conv["date"].as_str().map(|d| &d[..10]), Some("2023-11-15"));
    assert_eq!(
        (&conv["kind"], &conv["revenue"], &conv["value"], &conv["experiment_id"], &conv["received_at"]),
        (&json!("conversion"), &json!(4200), &json!(12.5), &Value::Null, &json!(1_700_100_000_000_i64))
    );
    assert_eq!(conv["tags"].as_str(), log[1].row.tags.as_deref());
}
