//! The log's SQLite schema and connection settings. `docs/storage.md` documents the
//! same tables; change both together.

use std::path::Path;

use rusqlite::Connection;

use crate::dedup::{Key, uuid_key};
use crate::error::{StoreError, Unavailable};

/// `PRAGMA user_version` of the current schema; a newer file is refused.
pub(crate) const SCHEMA_VERSION: i64 = 3;

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

-- Exactly once: the keys of every stored uuid are in the uuid index (run files in
-- `uuids/`) for the events with seq <= through, and are read back from `events` for the
-- rest. Moves only once a run file is durable.
CREATE TABLE IF NOT EXISTS uuid_runs (
    id      INTEGER PRIMARY KEY CHECK (id = 0),
    through INTEGER NOT NULL
) STRICT;
INSERT OR IGNORE INTO uuid_runs (id, through) VALUES (0, 0);

-- Every event with seq <= through has left `events` (it is in the Parquet files).
CREATE TABLE IF NOT EXISTS pruned (
    id      INTEGER PRIMARY KEY CHECK (id = 0),
    through INTEGER NOT NULL
) STRICT;
INSERT OR IGNORE INTO pruned (id, through) VALUES (0, 0);
";

/// Version 1 kept a UNIQUE index on `events.uuid`, version 2 a `uuids` table of keys;
/// version 3 keeps the keys in run files (see [`crate::dedup`]).
const DROP_OLD_UUIDS: &str = "DROP INDEX IF EXISTS events_uuid; DROP TABLE IF EXISTS uuids;";

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
         -- 8 MiB of page cache: rows are appended in seq order, so a commit touches
         -- the last few pages of each table; a larger cache was no faster.
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
            reason: Unavailable::NewerFormat,
            path: path.to_path_buf(),
            detail: format!(
                "the log has schema version {version}; this Vario understands up to {SCHEMA_VERSION}: \
                 run a newer Vario (or restore a backup made by this one)"
            ),
        });
    }
    if version < SCHEMA_VERSION {
        let tx =
            rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate).map_err(sqlite)?;
        if version >= 1 {
            // The keys of the uuids already stored go into the index first, durably, so
            // their retries stay duplicates; a crash before the commit below leaves the
            // old version, and the migration runs again.
            let last: i64 =
                tx.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0)).map_err(sqlite)?;
            let keys = old_keys(&tx, version).map_err(sqlite)?;
            let log_dir = path.parent().unwrap_or(Path::new("."));
            crate::dedup::write_initial_run(log_dir, 0, last, keys)?;
            tx.execute_batch(CREATE).map_err(sqlite)?;
            tx.execute("UPDATE uuid_runs SET through = ?1 WHERE id = 0", [last]).map_err(sqlite)?;
            tx.execute_batch(DROP_OLD_UUIDS).map_err(sqlite)?;
        } else {
            tx.execute_batch(CREATE).map_err(sqlite)?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}")).map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
    }
    Ok(())
}

/// The uuid keys a version-1 or version-2 log holds.
fn old_keys(conn: &Connection, version: i64) -> rusqlite::Result<Vec<Key>> {
    let mut keys = Vec::new();
    if version == 1 {
        let mut select = conn.prepare("SELECT uuid FROM events")?;
        let mut rows = select.query([])?;
        while let Some(row) = rows.next()? {
            keys.push(uuid_key(&row.get::<_, String>(0)?));
        }
    } else {
        // Version 2's keys: tag 1 and the 16 bytes of a canonical uuid, or tag 2 and the
        // UTF-8 of any other string.
        let mut select = conn.prepare("SELECT key FROM uuids")?;
        let mut rows = select.query([])?;
        while let Some(row) = rows.next()? {
            let old: Vec<u8> = row.get(0)?;
            match old.split_first() {
                Some((1, bytes)) if bytes.len() == 16 => keys.push(bytes.try_into().unwrap_or_default()),
                Some((_, bytes)) => keys.push(uuid_key(&String::from_utf8_lossy(bytes))),
                None => {}
            }
        }
    }
    Ok(keys)
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
