//! Events written straight into Parquet partitions, without the log: for generated
//! benchmark and demonstration data sets of a size the log would take hours to ingest.
//!
//! Only a fresh data directory is accepted (no log, no event files), because the log
//! numbers its events from 1 and would reuse the seqs written here. A directory made
//! this way is for reading (`vario query`, `vario results`); serving it would hide new
//! events behind the watermark, so [`BulkWriter::create`] leaves a marker that the server
//! refuses to start on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::compact::{EVENTS_DIR, file_name, save_watermark, utc_date};
use crate::error::StoreError;
use crate::parquet::{io, sorted, to_record_batch, write_file};
use crate::reader::StoredEvent;
use crate::schema::LOG_FILE;
use crate::store::LOG_DIR;

/// Marks a data directory written by [`BulkWriter`].
pub const BULK_MARKER: &str = "_bulk_loaded";

/// Writes events into the Parquet partitions of a fresh data directory.
#[derive(Debug)]
pub struct BulkWriter {
    data_dir: PathBuf,
    last_seq: i64,
}

impl BulkWriter {
    /// Starts writing into `data_dir`, which must have neither a log nor event files.
    pub fn create(data_dir: &Path) -> Result<Self, StoreError> {
        let events = data_dir.join(EVENTS_DIR);
        if data_dir.join(LOG_DIR).join(LOG_FILE).exists()
            || std::fs::read_dir(&events).is_ok_and(|mut d| d.next().is_some())
        {
            return Err(StoreError::Internal(format!(
                "{}: already holds events; bulk loading needs a fresh data directory",
                data_dir.display()
            )));
        }
        std::fs::create_dir_all(&events).map_err(io(&events))?;
        let marker = events.join(BULK_MARKER);
        std::fs::write(&marker, b"written without the log; read-only\n").map_err(io(&marker))?;
        Ok(Self { data_dir: data_dir.to_owned(), last_seq: 0 })
    }

    /// The seq the next event must have (events are numbered 1, 2, ... in the order
    /// they are written).
    pub fn next_seq(&self) -> i64 {
        self.last_seq + 1
    }

    /// Writes `events` (numbered from [`BulkWriter::next_seq`] on, in order) as one
    /// sorted file per UTC date they fall on.
    pub fn write(&mut self, events: Vec<StoredEvent>) -> Result<(), StoreError> {
        for (expected, e) in (self.next_seq()..).zip(&events) {
            if e.seq != expected {
                return Err(StoreError::Internal(format!("bulk load: seq {} where {expected} was due", e.seq)));
            }
        }
        let Some(last) = events.last().map(|e| e.seq) else { return Ok(()) };
        let mut by_date: BTreeMap<String, Vec<StoredEvent>> = BTreeMap::new();
        for event in events {
            by_date.entry(utc_date(event.row.timestamp)).or_default().push(event);
        }
        for (date, events) in by_date {
            let dir = self.data_dir.join(EVENTS_DIR).join(format!("date={date}"));
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            let (first, last) = (events[0].seq, events[events.len() - 1].seq);
            write_file(&dir.join(file_name(first, last)), &sorted(&[to_record_batch(&events)?])?)?;
        }
        self.last_seq = last;
        Ok(())
    }

    /// Makes every written event visible (saves the watermark).
    pub fn finish(self) -> Result<(), StoreError> {
        save_watermark(&self.data_dir, self.last_seq)
    }
}

/// Whether `data_dir` was written by a [`BulkWriter`].
pub fn is_bulk_loaded(data_dir: &Path) -> bool {
    data_dir.join(EVENTS_DIR).join(BULK_MARKER).exists()
}
