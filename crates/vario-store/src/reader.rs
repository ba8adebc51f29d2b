//! [`LogReader`]: read-only access to the log, for the Parquet stage, queries and tests.
//! It may run in another process than the writer, while the writer runs.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, Row, params};

use crate::error::StoreError;
use crate::row::{DecisionRow, EventKind, EventRow};
use crate::schema::{LOG_FILE, SELECT_EVENTS};
use crate::store::LOG_DIR;

/// An event as stored, with its place in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Position in the log: increases with every stored event, in commit order.
    pub seq: i64,
    /// The append (request) the event came in.
    pub batch_id: i64,
    /// The event.
    pub row: EventRow,
}

/// A read-only connection to the log of a data directory.
pub struct LogReader {
    conn: Connection,
    path: PathBuf,
}

impl LogReader {
    /// Opens the log of data directory `dir` for reading. Fails if there is no log yet.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = dir.as_ref().join(LOG_DIR).join(LOG_FILE);
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(|e| StoreError::sqlite(&path, &e))?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| StoreError::sqlite(&path, &e))?;
        Ok(Self { conn, path })
    }

    /// Up to `limit` events with `seq > after`, in `seq` order. Reading in pages of
    /// this is how the Parquet stage will follow the log.
    pub fn events_since(&self, after: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!("{SELECT_EVENTS} WHERE seq > ?1 ORDER BY seq LIMIT ?2");
        self.query(&sql, params![after, limit])
    }

    /// The events in the log whose uuid is `uuid` (none or one). It reads the whole
    /// log (no index on the text: the `uuids` table holds keys), so it is for checks,
    /// not hot paths; pruned events are in the Parquet files instead.
    pub fn events_with_uuid(&self, uuid: &str) -> Result<Vec<StoredEvent>, StoreError> {
        self.query(&format!("{SELECT_EVENTS} WHERE uuid = ?1"), params![uuid])
    }

    /// Number of events in the log: every stored event until compacted events are
    /// pruned ([`crate::prune_log`]), then only the ones not yet pruned.
    pub fn count(&self) -> Result<u64, StoreError> {
        self.scalar("SELECT count(*) FROM events")
    }

    /// The largest stored `seq` (0 when the log is empty): with the watermark and the
    /// file list it tells whether the data changed since a cached answer.
    pub fn last_seq(&self) -> Result<u64, StoreError> {
        self.scalar("SELECT coalesce(max(seq), 0) FROM events")
    }

    /// Every event with `seq` at or below this has been pruned from the log (0: none).
    pub fn pruned_through(&self) -> Result<i64, StoreError> {
        match self.conn.query_row("SELECT through FROM pruned WHERE id = 0", [], |r| r.get(0)) {
            Ok(through) => Ok(through),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(0),
            // A log of schema version 1, opened read-only before a writer migrated it.
            Err(e) if e.to_string().contains("no such table") => Ok(0),
            Err(e) => Err(self.error(&e)),
        }
    }

    /// Number of appends recorded (including ones whose events were all duplicates).
    pub fn batch_count(&self) -> Result<u64, StoreError> {
        self.scalar("SELECT count(*) FROM batches")
    }

    /// Runs SQLite's full consistency check; `Ok(())` when the file is sound.
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        let answer: String =
            self.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(|e| self.error(&e))?;
        if answer == "ok" { Ok(()) } else { Err(StoreError::Internal(format!("integrity check: {answer}"))) }
    }

    fn scalar(&self, sql: &str) -> Result<u64, StoreError> {
        let n: i64 = self.conn.query_row(sql, [], |r| r.get(0)).map_err(|e| self.error(&e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn query(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<StoredEvent>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.error(&e))?;
        let rows = stmt.query_map(params, read_event).map_err(|e| self.error(&e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.error(&e))
    }

    fn error(&self, e: &rusqlite::Error) -> StoreError {
        StoreError::sqlite(&self.path, e)
    }
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader").field("path", &self.path).finish_non_exhaustive()
    }
}

fn read_event(r: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    let kind: String = r.get(2)?;
    let kind = EventKind::parse(&kind).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, format!("unknown kind {kind}").into())
    })?;
    let campaign_id: Option<String> = r.get(9)?;
    let decision = match campaign_id {
        None => None,
        Some(campaign_id) => Some(DecisionRow {
            campaign_id,
            experiment_id: r.get::<_, Option<String>>(10)?.unwrap_or_default(),
            variation_id: r.get(11)?,
            flag_key: r.get::<_, Option<String>>(12)?.unwrap_or_default(),
            rule_key: r.get::<_, Option<String>>(13)?.unwrap_or_default(),
            rule_type: r.get::<_, Option<String>>(14)?.unwrap_or_default(),
            variation_key: r.get::<_, Option<String>>(15)?.unwrap_or_default(),
            enabled: r.get::<_, Option<bool>>(16)?.unwrap_or_default(),
            cmab_uuid: r.get(17)?,
        }),
    };
    Ok(StoredEvent {
        seq: r.get(0)?,
        batch_id: r.get(1)?,
        row: EventRow {
            kind,
            account_id: r.get(3)?,
            project_id: r.get(4)?,
            revision: r.get(5)?,
            visitor_id: r.get(6)?,
            attributes: r.get(7)?,
            entity_id: r.get(8)?,
            decision,
            decisions: r.get(18)?,
            event_key: r.get(19)?,
            timestamp: r.get(20)?,
            uuid: r.get(21)?,
            revenue: r.get(22)?,
            value: r.get(23)?,
            tags: r.get(24)?,
            client_name: r.get(25)?,
            client_version: r.get(26)?,
            received_at: r.get(27)?,
        },
    })
}
