//! Pruning compacted events from the log: nothing is lost, nothing doubles, and retries
//! of pruned events stay duplicates.

use serde_json::json;
use vario_store::{CompactOptions, LOG_DIR, LogReader, ScanError, Store, compact, prune_log, query, scan, watermark};

use crate::log::batch;

fn total(dir: &std::path::Path) -> serde_json::Value {
    query(dir, "SELECT count(*), count(DISTINCT uuid) FROM events").unwrap().rows[0].clone().into()
}

#[test]
fn pruning_keeps_every_event_queryable_once_and_retries_stay_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(&batch("a", 100), 1).unwrap();
    store.append(&batch("b", 100), 2).unwrap();
    compact(dir.path(), &CompactOptions::default()).unwrap();
    let mark = watermark(dir.path()).unwrap();
    assert_eq!(mark, 200);
    store.append(&batch("c", 50), 3).unwrap();
    store.flush_uuid_index().unwrap();

    // Up to the watermark, keeping the row with the largest seq below it... and every
    // row past it.
    assert_eq!(prune_log(dir.path(), i64::MAX).unwrap(), 200);
    let reader = LogReader::open(dir.path()).unwrap();
    assert_eq!(reader.count().unwrap(), 50);
    assert_eq!(reader.pruned_through().unwrap(), 200);
    assert_eq!(total(dir.path()), json!([250, 250]));

    // A retry of a pruned batch stores nothing; new events continue the seqs.
    let retry = store.append(&batch("a", 100), 4).unwrap();
    assert_eq!((retry.stored, retry.duplicates), (0, 100));
    store.append(&batch("d", 10), 5).unwrap();
    assert_eq!(reader.last_seq().unwrap(), 260);
    assert_eq!(total(dir.path()), json!([260, 260]));

    // Compact and prune everything: the last row stays so that seqs never restart.
    compact(dir.path(), &CompactOptions::default()).unwrap();
    store.flush_uuid_index().unwrap();
    assert_eq!(prune_log(dir.path(), i64::MAX).unwrap(), 59);
    assert_eq!(reader.count().unwrap(), 1);
    store.append(&batch("e", 5), 6).unwrap();
    assert_eq!(reader.last_seq().unwrap(), 265);
    assert_eq!(total(dir.path()), json!([265, 265]));
    store.close();
}

#[test]
fn pruning_never_passes_the_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(&batch("a", 30), 1).unwrap();
    store.flush_uuid_index().unwrap();
    assert_eq!(prune_log(dir.path(), 1000).unwrap(), 0, "nothing is compacted yet");
    compact(dir.path(), &CompactOptions::default()).unwrap();
    store.append(&batch("b", 30), 2).unwrap();
    store.flush_uuid_index().unwrap();
    assert_eq!(prune_log(dir.path(), 10).unwrap(), 10, "only as far as asked");
    assert_eq!(prune_log(dir.path(), 1000).unwrap(), 20, "then up to the watermark");
    assert_eq!(LogReader::open(dir.path()).unwrap().count().unwrap(), 30);
    assert_eq!(total(dir.path()), json!([60, 60]));
    store.close();
}

#[test]
fn a_query_whose_log_tail_is_pruned_while_it_runs_fails_instead_of_missing_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(&batch("a", 100), 1).unwrap();
    compact(dir.path(), &CompactOptions::default()).unwrap();
    // A tail of many pages of the query's log reader.
    for i in 0..10 {
        store.append(&batch(&format!("t{i}"), 10_000), 2).unwrap();
    }
    let mut pruned = false;
    let result = scan(dir.path(), "SELECT uuid FROM events", |_| {
        if !pruned {
            pruned = true;
            compact(dir.path(), &CompactOptions::default()).unwrap();
            store.flush_uuid_index().unwrap();
            prune_log(dir.path(), i64::MAX).unwrap();
        }
        Ok::<(), String>(())
    });
    match result {
        Err(ScanError::Query(e)) => assert!(e.to_string().contains("run the query again"), "{e}"),
        other => panic!("expected the query to fail, got {other:?}"),
    }
    // Run again, it sees every event once.
    assert_eq!(total(dir.path()), json!([100_100, 100_100]));
    store.close();
}

#[test]
fn a_version_one_log_is_migrated_and_its_uuids_stay_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(&batch("old", 20), 1).unwrap();
    store.close();
    // Turn it back into a version-1 log: the uuid index on events, no uuids table.
    let path = dir.path().join(LOG_DIR).join("events.sqlite3");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE uuid_runs; DROP TABLE pruned; CREATE UNIQUE INDEX events_uuid ON events (uuid);
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);

    let store = Store::open(dir.path()).unwrap();
    let retry = store.append(&batch("old", 20), 2).unwrap();
    assert_eq!((retry.stored, retry.duplicates), (0, 20));
    assert_eq!(store.append(&batch("new", 5), 3).unwrap().stored, 5);
    store.close();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    let indexes: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'events_uuid'", [], |r| r.get(0)).unwrap();
    assert_eq!((version, indexes), (3, 0));
    assert_eq!(total(dir.path()), json!([25, 25]));
}

#[test]
fn a_version_two_log_is_migrated_and_its_uuids_stay_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(&batch("old", 20), 1).unwrap();
    store.append(&canonical_batch(), 1).unwrap();
    store.close();
    // Turn it back into a version-2 log: the keys in a `uuids` table (tag 1 and the 16
    // bytes of a canonical uuid, tag 2 and the text of any other), no run files.
    let log = dir.path().join(LOG_DIR);
    let conn = rusqlite::Connection::open(log.join("events.sqlite3")).unwrap();
    conn.execute_batch(
        "DROP TABLE uuid_runs;
         CREATE TABLE uuids (key BLOB PRIMARY KEY) STRICT, WITHOUT ROWID;
         INSERT INTO uuids SELECT CASE WHEN length(uuid) = 36 AND uuid GLOB '*-*-*-*-*' AND lower(uuid) = uuid
             THEN CAST(X'01' || unhex(replace(uuid, '-', '')) AS BLOB) ELSE CAST(X'02' || uuid AS BLOB) END
             FROM events;
         PRAGMA user_version = 2;",
    )
    .unwrap();
    drop(conn);
    assert!(!log.join("uuids").exists(), "no keys were written out before the migration");

    let store = Store::open(dir.path()).unwrap();
    // The migration wrote the old keys as one run.
    assert_eq!(std::fs::read_dir(log.join("uuids")).unwrap().count(), 1);
    let retry = store.append(&batch("old", 20), 2).unwrap();
    assert_eq!((retry.stored, retry.duplicates), (0, 20));
    let retry = store.append(&canonical_batch(), 2).unwrap();
    assert_eq!((retry.stored, retry.duplicates), (0, 1));
    assert_eq!(store.append(&batch("new", 5), 3).unwrap().stored, 5);
    store.close();
    let conn = rusqlite::Connection::open(log.join("events.sqlite3")).unwrap();
    let (version, tables): (i64, i64) = conn
        .query_row("SELECT (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_master WHERE name = 'uuids')", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((version, tables), (3, 0));
    assert_eq!(total(dir.path()), json!([26, 26]));
}

/// One conversion whose uuid is in the canonical lowercase form.
fn canonical_batch() -> vario_events::EventBatch {
    serde_json::from_value(json!({
        "account_id": "1", "project_id": "2", "revision": "3",
        "visitors": [{"visitor_id": "u", "attributes": [], "snapshots": [{"events": [
            {"entity_id": "9", "key": "purchase", "uuid": "6f1d2c3b-4a59-4e8f-9d7c-0b1a2c3d4e5f", "timestamp": 1}]}]}]
    }))
    .unwrap()
}
