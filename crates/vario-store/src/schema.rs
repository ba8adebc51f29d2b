//! The log's SQLite schema and connection settings. `docs/storage.md` documents the
//! same tables; change both together.

use std::path::Path;

use rusqlite::Connection;

use crate::error::{StoreError, Unavailable};

/// `PRAGMA user_version` of the current schema; a newer file is refused.
pub(crate) const SCHEMA_VERSION: i64 = 2;

/// File name of the log inside the store's `log/` directory.
pub(crate) const LOG_FILE: &str = "events.sqlite3";

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS batches (
    batch_id         INTEGER PRIMARY KEY,
    received_at      INTEGER NOT NULL,
    account_id       TEXT NOT NULL,
    project_id       TEXT NOT NULL,
    revision         TEXT NOT NULL,
    client_name      TEXT NOT NULL,
    client_version   TEXT NOT NULL,
    anonymize_ip     INTEGER,
    enrich_decisions INTEGER NOT NULL,
    event_count      INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS events (
    seq            INTEGER PRIMARY KEY,
    batch_id       INTEGER NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('decision', 'conversion')),
    account_id     TEXT NOT NULL,
    project_id     TEXT NOT NULL,
    revision       TEXT NOT NULL,
    visitor_id     TEXT NOT NULL,
    attributes     TEXT NOT NULL,
    entity_id      TEXT NOT NULL,
    campaign_id    TEXT,
    experiment_id  TEXT,
    variation_id   TEXT,
    flag_key       TEXT,
    rule_key       TEXT,
    rule_type      TEXT,
    variation_key  TEXT,
    enabled        INTEGER,
    cmab_uuid      TEXT,
    decisions      TEXT,
    event_key      TEXT NOT NULL,
    timestamp      INTEGER NOT NULL,
    uuid           TEXT NOT NULL,
    revenue        INTEGER,
    value          REAL,
    tags           TEXT,
    client_name    TEXT NOT NULL,
    client_version TEXT NOT NULL,
    received_at    INTEGER NOT NULL
) STRICT;

-- Exactly once: every uuid ever stored, as `uuid_key` encodes it. An event is inserted
-- only if its uuid's key is new here (INSERT OR IGNORE), so a retried batch or a
-- duplicated event inserts nothing. Compacted events leave `events`; their keys stay.
CREATE TABLE IF NOT EXISTS uuids (key BLOB PRIMARY KEY) STRICT, WITHOUT ROWID;

-- Every event with seq <= through has left `events` (it is in the Parquet files).
CREATE TABLE IF NOT EXISTS pruned (
    id      INTEGER PRIMARY KEY CHECK (id = 0),
    through INTEGER NOT NULL
) STRICT;
INSERT OR IGNORE INTO pruned (id, through) VALUES (0, 0);
";

/// Version 1 kept a UNIQUE index on `events.uuid`; version 2 moves the keys to `uuids`
/// so that compacted events can leave the log.
const MIGRATE_1_TO_2: &str = "DROP INDEX IF EXISTS events_uuid;";

/// Settings of the writing connection. `synchronous = FULL` in WAL mode fsyncs the WAL
/// at every commit, so a commit that returned is on disk.
pub(crate) fn configure_writer(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let sqlite = |e: rusqlite::Error| StoreError::sqlite(path, &e);
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).map_err(sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable {
            reason: Unavailable::Io,
            path: path.to_path_buf(),
            detail: format!("the log needs WAL mode, but SQLite chose {mode} on this file system"),
        });
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA busy_timeout = 5000;
         -- 8 MiB of page cache: uuid keys arrive in random order, so no cache the server
         -- can afford holds their B-tree, and the operating system's file cache serves
         -- the rest (measured: 64 MiB was no faster, and commits spent a fifth of their
         -- time walking the larger cache).
         PRAGMA cache_size = -8192;
         -- Checkpoint every 16 MiB of WAL rather than 4, so fewer commits pay for one;
         -- a checkpoint leaves the WAL at most 64 MiB on disk.
         PRAGMA wal_autocheckpoint = 4096;
         PRAGMA journal_size_limit = 67108864;",
    )
    .map_err(sqlite)
}

/// Creates the tables of a new log, or checks the version of an existing one.
pub(crate) fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let sqlite = |e: rusqlite::Error| StoreError::sqlite(path, &e);
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(sqlite)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Unavailable {
            reason: Unavailable::Corrupt,
            path: path.to_path_buf(),
            detail: format!("the log has schema version {version}; this Vario understands up to {SCHEMA_VERSION}"),
        });
    }
    if version < SCHEMA_VERSION {
        let tx =
            rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate).map_err(sqlite)?;
        tx.execute_batch(CREATE).map_err(sqlite)?;
        if version == 1 {
            // Keys of the uuids already stored, so their retries stay duplicates.
            {
                let mut select = tx.prepare("SELECT uuid FROM events").map_err(sqlite)?;
                let mut insert = tx.prepare(INSERT_UUID).map_err(sqlite)?;
                let mut rows = select.query([]).map_err(sqlite)?;
                while let Some(row) = rows.next().map_err(sqlite)? {
                    let uuid: String = row.get(0).map_err(sqlite)?;
                    insert.execute([uuid_key(&uuid)]).map_err(sqlite)?;
                }
            }
            tx.execute_batch(MIGRATE_1_TO_2).map_err(sqlite)?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}")).map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
    }
    Ok(())
}

pub(crate) const INSERT_UUID: &str = "INSERT OR IGNORE INTO uuids (key) VALUES (?1)";

/// The key of an event uuid in the `uuids` table. Uuids are compared as strings (a
/// retry sends the same string); the usual lowercase `8-4-4-4-12` form is stored as its
/// 16 bytes behind a tag byte, any other string as its UTF-8 bytes behind another tag,
/// so two different strings never share a key.
pub(crate) fn uuid_key(uuid: &str) -> Vec<u8> {
    let bytes = uuid.as_bytes();
    let canonical = bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        });
    if canonical {
        let mut key = Vec::with_capacity(17);
        key.push(1);
        let mut digits = bytes.iter().filter(|&&b| b != b'-').map(|&b| match b {
            b'0'..=b'9' => b - b'0',
            _ => b - b'a' + 10,
        });
        while let (Some(high), Some(low)) = (digits.next(), digits.next()) {
            key.push(high << 4 | low);
        }
        key
    } else {
        let mut key = Vec::with_capacity(bytes.len() + 1);
        key.push(2);
        key.extend_from_slice(bytes);
        key
    }
}

pub(crate) const INSERT_BATCH: &str = "INSERT INTO batches (received_at, account_id, project_id, revision, \
     client_name, client_version, anonymize_ip, enrich_decisions, event_count) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

pub(crate) const INSERT_EVENT: &str = "INSERT INTO events (batch_id, kind, account_id, project_id, \
     revision, visitor_id, attributes, entity_id, campaign_id, experiment_id, variation_id, flag_key, rule_key, \
     rule_type, variation_key, enabled, cmab_uuid, decisions, event_key, timestamp, uuid, revenue, value, tags, \
     client_name, client_version, received_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, \
     ?23, ?24, ?25, ?26, ?27)";

/// Columns read back, in [`crate::EventRow`] order after `seq` and `batch_id`.
pub(crate) const SELECT_EVENTS: &str = "SELECT seq, batch_id, kind, account_id, project_id, revision, visitor_id, \
     attributes, entity_id, campaign_id, experiment_id, variation_id, flag_key, rule_key, rule_type, variation_key, \
     enabled, cmab_uuid, decisions, event_key, timestamp, uuid, revenue, value, tags, client_name, client_version, \
     received_at FROM events";

#[cfg(test)]
mod tests {
    use super::uuid_key;

    #[test]
    fn canonical_uuids_take_sixteen_bytes_and_other_strings_stay_distinct() {
        let key = uuid_key("0a1b2c3d-4e5f-6789-abcd-ef0123456789");
        assert_eq!(
            key,
            [1, 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89]
        );
        // Upper case is another string, so another key.
        let upper = uuid_key("0A1B2C3D-4E5F-6789-ABCD-EF0123456789");
        assert_eq!(upper[0], 2);
        assert_ne!(upper, key);
        assert_eq!(uuid_key("r-0"), [2, b'r', b'-', b'0']);
        assert_ne!(uuid_key(""), uuid_key("\0"));
        assert_eq!(uuid_key(""), [2]);
    }
}
