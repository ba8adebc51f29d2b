//! The versions of the event storage's files, and their upgrades (`vario migrate`).
//!
//! | files | version kept in | current |
//! |---|---|---|
//! | `log/events.sqlite3` | `PRAGMA user_version` | [`LOG_SCHEMA_VERSION`] |
//! | `log/uuids/run-*.keys` | the magic `VARIORUN` (format 1); a new run format comes with a new log schema version, so an older Vario refuses the log before it reads a run | 1 |
//! | `events/` (Parquet) | `layout` in `events/_compacted.json` (absent: 1) | [`crate::PARQUET_LAYOUT_VERSION`] |
//!
//! A newer binary opens older files and upgrades them as it opens them (the log) or
//! reads them as they are (layout 1 without its field); an older binary refuses newer
//! files with an error naming both versions. [`inspect`] says what [`migrate`] would do.

use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::compact::{EVENTS_DIR, PARQUET_LAYOUT_VERSION, read_watermark, save_watermark};
use crate::dedup::{UUIDS_DIR, run};
use crate::error::{StoreError, Unavailable};
use crate::schema::{LOG_FILE, SCHEMA_VERSION};
use crate::store::{LOG_DIR, Store};

/// `PRAGMA user_version` of the log this Vario writes.
pub const LOG_SCHEMA_VERSION: i64 = SCHEMA_VERSION;
/// The format of the uuid index's run files this Vario writes.
pub const RUN_FORMAT_VERSION: i64 = 1;

/// One kind of file of a data directory and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatStatus {
    /// What the files are, for people.
    pub what: &'static str,
    /// The file or directory, inside the data directory.
    pub path: PathBuf,
    /// The version found (`None`: the files do not exist yet).
    pub found: Option<i64>,
    /// The version this Vario writes.
    pub current: i64,
    /// What [`migrate`] changes; `None` when nothing.
    pub change: Option<String>,
}

/// The versions of the event storage's files in `data_dir` and what [`migrate`] would
/// change, without changing anything. Files of a newer version are an error naming it.
pub fn inspect(data_dir: &Path) -> Result<Vec<FormatStatus>, StoreError> {
    Ok(vec![inspect_log(data_dir)?, inspect_runs(data_dir)?, inspect_parquet(data_dir)?])
}

/// Upgrades the event storage's files of `data_dir` to the current versions; returns
/// what [`inspect`] saw before. Takes the log's writer lock (so no server may run on the
/// directory) and the maintenance lock.
pub fn migrate(data_dir: &Path) -> Result<Vec<FormatStatus>, StoreError> {
    let before = inspect(data_dir)?;
    if before[0].found.is_some() {
        // Opening the store migrates the log (and refuses while a server holds it).
        Store::open(data_dir)?.close();
    }
    if before[2].change.is_some() {
        record_parquet_layout(data_dir)?;
    }
    Ok(before)
}

/// Writes the Parquet layout version into a watermark of the first release, which had
/// none (the files stay as they are); `false` when there was nothing to write. `vario
/// serve` does it as it starts, as [`migrate`] does.
pub fn record_parquet_layout(data_dir: &Path) -> Result<bool, StoreError> {
    if !matches!(read_watermark(data_dir)?, Some((_, None))) {
        return Ok(false);
    }
    let _lock = crate::maintenance::lock(data_dir)?;
    // Read again under the lock: a compaction may have written it meanwhile.
    match read_watermark(data_dir)? {
        Some((seq, None)) => save_watermark(data_dir, seq).map(|()| true),
        _ => Ok(false),
    }
}

fn inspect_log(data_dir: &Path) -> Result<FormatStatus, StoreError> {
    let rel = Path::new(LOG_DIR).join(LOG_FILE);
    let path = data_dir.join(&rel);
    let mut status =
        FormatStatus { what: "event log schema", path: rel, found: None, current: SCHEMA_VERSION, change: None };
    if !path.exists() {
        return Ok(status);
    }
    let sqlite = |e: rusqlite::Error| StoreError::sqlite(&path, &e);
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sqlite)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sqlite)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sqlite)?;
    status.found = Some(version);
    if version > SCHEMA_VERSION {
        return Err(StoreError::Unavailable {
            reason: Unavailable::NewerFormat,
            path,
            detail: format!(
                "the log has schema version {version}; this Vario understands up to {SCHEMA_VERSION}: run a newer Vario"
            ),
        });
    }
    status.change = match version {
        SCHEMA_VERSION => None,
        0 => Some(format!("create the tables of schema {SCHEMA_VERSION}")),
        old => {
            let events: i64 = conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0)).map_err(sqlite)?;
            let from = if old == 1 { "the UNIQUE index on events.uuid" } else { "the `uuids` table" };
            Some(format!(
                "schema {old} -> {SCHEMA_VERSION}: the uuid keys of the {events} events in the log move from {from} \
                 into one run file of the uuid index (log/{UUIDS_DIR}/); events and Parquet files are unchanged"
            ))
        }
    };
    Ok(status)
}

fn inspect_runs(data_dir: &Path) -> Result<FormatStatus, StoreError> {
    let rel = Path::new(LOG_DIR).join(UUIDS_DIR);
    let dir = data_dir.join(&rel);
    let mut status = FormatStatus {
        what: "uuid index run files",
        path: rel,
        found: None,
        current: RUN_FORMAT_VERSION,
        change: None,
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(status),
        Err(e) => return Err(StoreError::io(&dir, &e)),
    };
    for entry in entries {
        let path = entry.map_err(|e| StoreError::io(&dir, &e))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if run::parse_name(&name).is_none() {
            continue;
        }
        let mut magic = [0; 8];
        let read = std::fs::File::open(&path).and_then(|mut f| f.read_exact(&mut magic));
        match read {
            Ok(()) if &magic == run::MAGIC => status.found = Some(RUN_FORMAT_VERSION),
            // Merged away since the listing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            _ => {
                return Err(StoreError::Unavailable {
                    reason: Unavailable::Corrupt,
                    path,
                    detail: format!("not a uuid index run file of format {RUN_FORMAT_VERSION} (damaged, or newer)"),
                });
            }
        }
    }
    Ok(status)
}

fn inspect_parquet(data_dir: &Path) -> Result<FormatStatus, StoreError> {
    let mut status = FormatStatus {
        what: "Parquet layout",
        path: PathBuf::from(EVENTS_DIR),
        found: None,
        current: PARQUET_LAYOUT_VERSION,
        change: None,
    };
    if let Some((_, layout)) = read_watermark(data_dir)? {
        status.found = Some(layout.unwrap_or(1));
        if layout.is_none() {
            status.change = Some(format!(
                "layout 1 stays; its version is written into events/{} (the files are unchanged)",
                crate::compact::WATERMARK_FILE
            ));
        }
    }
    Ok(status)
}
