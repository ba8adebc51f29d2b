//! Data directories of other versions: the previous format opens with the same results
//! (`vario migrate --dry-run` says what changes, `vario migrate` does it), and files of
//! a newer version are refused with both versions named.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::Server;

fn vario(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vario")).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = vario(args);
    assert!(out.status.success(), "vario {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn query(dir: &Path, sql: &str) -> Value {
    let text = ok(&["query", "--format", "json", "--data-dir", dir.to_str().unwrap(), sql]);
    serde_json::from_str::<Value>(&text).unwrap()["rows"].clone()
}

fn batch(id: &str, events: usize) -> Vec<u8> {
    let visitors: Vec<Value> = (0..events)
        .map(|k| {
            json!({"visitor_id": format!("user-{k}"), "attributes": [],
                   "snapshots": [{"events": [{"entity_id": "90001", "uuid": format!("{id}-{k}"), "key": "purchase",
                                              "timestamp": 1_700_000_000_000_i64 + k as i64, "revenue": 10 * k}]}]})
        })
        .collect();
    serde_json::to_vec(&json!({"account_id": "1", "project_id": "2", "revision": "3", "visitors": visitors})).unwrap()
}

fn post(url: &str, body: &[u8]) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    agent
        .post(format!("{url}/v1/events"))
        .header("content-type", "application/json")
        .send(body)
        .unwrap()
        .status()
        .as_u16()
}

const DUMP: &str = "SELECT seq, uuid, visitor_id, timestamp, revenue FROM events ORDER BY seq";

/// A data directory as the previous release wrote it: a version-2 log (the uuid keys in
/// a `uuids` table, no run files) and a watermark without its layout version. Made by
/// the current server, then turned back, as the store's own migration tests do.
fn previous_release_dir() -> (tempfile::TempDir, Value) {
    let server = Server::start();
    assert_eq!(post(&server.url, &batch("compacted", 30)), 204);
    assert_eq!(post(&server.url, &batch("recent", 12)), 204);
    // Compacts at shutdown: the events are in the log and in Parquet files.
    let dir = server.stop();
    let expected = query(dir.path(), DUMP);
    assert_eq!(expected.as_array().unwrap().len(), 42);

    let log = dir.path().join("log");
    let conn = rusqlite::Connection::open(log.join("events.sqlite3")).unwrap();
    conn.execute_batch(
        "DROP TABLE uuid_runs;
         CREATE TABLE uuids (key BLOB PRIMARY KEY) STRICT, WITHOUT ROWID;
         INSERT INTO uuids SELECT CAST(X'02' || uuid AS BLOB) FROM events;
         PRAGMA user_version = 2;",
    )
    .unwrap();
    drop(conn);
    // A log this small may not have written a run yet.
    match std::fs::remove_dir_all(log.join("uuids")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{e}"),
        _ => {}
    }
    let mark = dir.path().join("events/_compacted.json");
    let seq: Value = serde_json::from_slice(&std::fs::read(&mark).unwrap()).unwrap();
    std::fs::write(&mark, format!("{{\"seq\": {}}}\n", seq["seq"])).unwrap();
    (dir, expected)
}

fn user_version(path: &Path) -> i64 {
    rusqlite::Connection::open(path).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
}

#[test]
fn the_previous_formats_data_directory_migrates_with_unchanged_results() {
    let (dir, expected) = previous_release_dir();
    let data_dir = dir.path().to_str().unwrap();
    let log = dir.path().join("log/events.sqlite3");

    let plan = ok(&["migrate", "--dry-run", "--data-dir", data_dir]);
    assert!(
        plan.contains(
            "event log schema (log/events.sqlite3): version 2, this Vario writes 3; would change: schema 2 -> 3"
        ),
        "{plan}"
    );
    assert!(plan.contains("Parquet layout (events): version 1, this Vario writes 1; would change:"), "{plan}");
    assert!(!plan.contains("nothing to migrate"), "{plan}");
    assert_eq!(user_version(&log), 2, "--dry-run changed the log");
    assert!(!dir.path().join("log/uuids").exists(), "--dry-run wrote run files");
    // Read as it is, before any migration.
    assert_eq!(query(dir.path(), DUMP), expected);

    let done = ok(&["migrate", "--data-dir", data_dir]);
    assert!(done.contains("changes: schema 2 -> 3") && done.contains("migrated"), "{done}");
    assert_eq!(user_version(&log), 3);
    assert_eq!(query(dir.path(), DUMP), expected);
    let again = ok(&["migrate", "--dry-run", "--data-dir", data_dir]);
    assert!(again.contains("nothing to migrate"), "{again}");

    // A server on it: old events stay duplicates, results unchanged.
    let server = Server::start_in(dir, &[]);
    assert_eq!(post(&server.url, &batch("compacted", 30)), 204);
    assert_eq!(post(&server.url, &batch("recent", 12)), 204);
    assert_eq!(query(server.data_dir(), DUMP), expected);
}

#[test]
fn serve_migrates_the_previous_format_by_itself() {
    let (dir, expected) = previous_release_dir();
    let server = Server::start_in(dir, &[]);
    assert_eq!(post(&server.url, &batch("recent", 12)), 204, "a retry");
    assert_eq!(query(server.data_dir(), DUMP), expected);
    let dir = server.stop();
    assert_eq!(user_version(&dir.path().join("log/events.sqlite3")), 3);
    assert!(ok(&["migrate", "--dry-run", "--data-dir", dir.path().to_str().unwrap()]).contains("nothing to migrate"));
}

/// The message of a failed `vario` run, which must name both versions.
fn refusal(args: &[&str]) -> String {
    let out = vario(args);
    assert!(!out.status.success(), "vario {args:?} should refuse: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What `vario serve` says as it refuses to start on `data_dir`. A server that starts
/// anyway fails the test (and is stopped) instead of leaving it waiting.
fn serve_refusal(data_dir: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vario"))
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-token", "upgrade-test-token-0123456789abcdef"])
        .args(["--data-dir", data_dir])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    if first.contains("listening") {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!("vario serve started on files of a newer version: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "vario serve ended with {}", out.status);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn files_of_a_newer_version_are_refused_naming_both_versions() {
    let server = Server::start();
    assert_eq!(post(&server.url, &batch("x", 3)), 204);
    let dir = server.stop();
    let data_dir = dir.path().to_str().unwrap();
    ok(&["project", "apply", fixture(), "--data-dir", data_dir]);

    // The log.
    let log = dir.path().join("log/events.sqlite3");
    rusqlite::Connection::open(&log).unwrap().execute_batch("PRAGMA user_version = 4").unwrap();
    let message = serve_refusal(data_dir);
    assert!(message.contains("schema version 4") && message.contains("up to 3"), "{message}");
    let message = refusal(&["migrate", "--dry-run", "--data-dir", data_dir]);
    assert!(message.contains("schema version 4") && message.contains("up to 3"), "{message}");
    rusqlite::Connection::open(&log).unwrap().execute_batch("PRAGMA user_version = 3").unwrap();

    // The Parquet layout.
    let mark = dir.path().join("events/_compacted.json");
    let original = std::fs::read(&mark).unwrap();
    let seq: Value = serde_json::from_slice(&original).unwrap();
    std::fs::write(&mark, format!("{{\"seq\": {}, \"layout\": 2}}\n", seq["seq"])).unwrap();
    let message = refusal(&["query", "--data-dir", data_dir, "SELECT count(*) FROM events"]);
    assert!(message.contains("layout version 2") && message.contains("up to 1"), "{message}");
    let message = serve_refusal(data_dir);
    assert!(message.contains("layout version 2") && message.contains("up to 1"), "{message}");
    let message = refusal(&["migrate", "--dry-run", "--data-dir", data_dir]);
    assert!(message.contains("layout version 2"), "{message}");
    std::fs::write(&mark, original).unwrap();

    // The project database.
    let projects = dir.path().join("projects.sqlite3");
    rusqlite::Connection::open(&projects).unwrap().execute_batch("PRAGMA user_version = 2").unwrap();
    let message = refusal(&["migrate", "--dry-run", "--data-dir", data_dir]);
    assert!(message.contains("schema version 2 is newer than this Vario understands (1)"), "{message}");
    rusqlite::Connection::open(&projects).unwrap().execute_batch("PRAGMA user_version = 1").unwrap();

    assert!(ok(&["migrate", "--dry-run", "--data-dir", data_dir]).contains("nothing to migrate"));
}

/// A project to apply, so the directory has a project database.
pub(crate) fn fixture() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/project.yaml")
}
