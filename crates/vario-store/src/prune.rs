//! Pruning: compacted events leave the log, so it holds only the uncompacted tail.
//!
//! Only events at or below the watermark go (they are in fsync'd Parquet files), in
//! small transactions so the writer is never held up long, and `pruned.through` moves in
//! the same transaction as the delete, so a reader can tell that rows it expected are
//! gone (see [`crate::query`]). Only events whose uuid keys are in the uuid index's run
//! files go (`uuid_runs.through`), so a retry of a pruned event is still a duplicate. The row with the largest seq always stays, because SQLite gives
//! a new row the largest seq plus one: with an empty table, seqs would start again below
//! the watermark.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior, params};

use crate::compact::watermark;
use crate::error::StoreError;
use crate::schema::LOG_FILE;
use crate::store::LOG_DIR;

/// Rows deleted per transaction.
const CHUNK: i64 = 20_000;

/// Deletes the log's events with `seq <= through` that are compacted, and the batches
/// left without events. Returns the number of events deleted.
pub fn prune_log(data_dir: &Path, through: i64) -> Result<u64, StoreError> {
    let path = data_dir.join(LOG_DIR).join(LOG_FILE);
    if !path.exists() {
        return Ok(0);
    }
    // A backup's snapshot must not see events leave the log under it.
    let _lock = crate::maintenance::lock(data_dir)?;
    let sqlite = |e: rusqlite::Error| StoreError::sqlite(&path, &e);
    let mut conn = Connection::open(&path).map_err(sqlite)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sqlite)?;
    let through = through.min(watermark(data_dir)?);
    let (mut done, max, indexed): (i64, Option<i64>, i64) = conn
        .query_row(
            "SELECT (SELECT through FROM pruned), (SELECT max(seq) FROM events), (SELECT through FROM uuid_runs)",
            [],
            |r| Ok((r.get::<_, Option<i64>>(0)?.unwrap_or(0), r.get(1)?, r.get::<_, Option<i64>>(2)?.unwrap_or(0))),
        )
        .map_err(sqlite)?;
    let Some(max) = max else { return Ok(0) };
    let limit = through.min(max - 1).min(indexed);
    let mut deleted = 0;
    while done < limit {
        let upto = limit.min(done.saturating_add(CHUNK));
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
        let n = tx.execute("DELETE FROM events WHERE seq > ?1 AND seq <= ?2", params![done, upto]).map_err(sqlite)?;
        tx.execute("UPDATE pruned SET through = ?1 WHERE id = 0", [upto]).map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
        deleted += n as u64;
        done = upto;
    }
    if deleted > 0 {
        let oldest: Option<i64> =
            conn.query_row("SELECT min(batch_id) FROM events", [], |r| r.get(0)).map_err(sqlite)?;
        if let Some(oldest) = oldest {
            conn.execute("DELETE FROM batches WHERE batch_id < ?1", [oldest]).map_err(sqlite)?;
        }
    }
    Ok(deleted)
}
