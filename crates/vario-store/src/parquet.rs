//! The Parquet form of the event log: one row per event, the log's columns.
//!
//! - **Columns.** The same names and meanings as the log's `events` table
//!   (`docs/storage.md`), with plain Arrow types every engine reads: strings, 64-bit
//!   integers, a double and a boolean. Times stay Unix epoch milliseconds, as in the
//!   log, so a value means the same wherever it is read.
//! - **Row order.** Rows are sorted by (experiment id, event key, visitor id, timestamp,
//!   seq): the results engine reads one experiment's decisions, then the conversions of
//!   its metric events, so a sorted file lets both reads skip row groups and pages by
//!   their min/max statistics (conversions have no experiment id, so they sit together,
//!   grouped by event key), and a visitor's rows stay together.
//! - **Encoding.** Dictionary encoding for every column except the ones that are unique
//!   or nearly so (`uuid`, `attributes`, `tags`, `decisions`, `cmab_uuid`): ids, keys,
//!   kinds and client names repeat a few values over millions of rows, so a dictionary
//!   shrinks them to a few bits per row and lets readers compare codes, not strings; a
//!   dictionary of unique values would only add a second copy. Pages are compressed with
//!   zstd.
//! - **Atomic files.** A file is written under a temporary name, fsynced and renamed, and
//!   its directory fsynced, so a reader never sees a partial file and a crash leaves at
//!   most a stray temporary file (ignored: readers only take `*.parquet`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch, StringBuilder};
use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::StoreError;
use crate::reader::StoredEvent;

/// Columns whose values are (nearly) unique per row: no dictionary for them.
const UNIQUE_COLUMNS: [&str; 5] = ["uuid", "attributes", "tags", "decisions", "cmab_uuid"];

/// Columns with min/max statistics (per page and row group), which let readers skip
/// what a filter rules out: the sort key (so a results scan reads one experiment's or
/// one metric's events), the numbers and times, and the project. Statistics of the other
/// text columns cost more than all the rest of compaction together (comparing every value
/// against the running min and max), and filters on them are rare.
const STATISTICS_COLUMNS: [&str; 12] = [
    "seq",
    "batch_id",
    "kind",
    "project_id",
    "visitor_id",
    "experiment_id",
    "event_key",
    "timestamp",
    "revenue",
    "value",
    "enabled",
    "received_at",
];

/// Rows per row group: small enough that min/max statistics can skip parts of a file.
const ROW_GROUP_ROWS: usize = 128 * 1024;

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use DataType::{Boolean, Float64, Int64, Utf8};
    let f = |name: &str, ty: DataType, nullable: bool| Field::new(name, ty, nullable);
    Arc::new(Schema::new(vec![
        f("seq", Int64, false),
        f("batch_id", Int64, false),
        f("kind", Utf8, false),
        f("account_id", Utf8, false),
        f("project_id", Utf8, false),
        f("revision", Utf8, false),
        f("visitor_id", Utf8, false),
        f("attributes", Utf8, false),
        f("entity_id", Utf8, false),
        f("campaign_id", Utf8, true),
        f("experiment_id", Utf8, true),
        f("variation_id", Utf8, true),
        f("flag_key", Utf8, true),
        f("rule_key", Utf8, true),
        f("rule_type", Utf8, true),
        f("variation_key", Utf8, true),
        f("enabled", Boolean, true),
        f("cmab_uuid", Utf8, true),
        f("decisions", Utf8, true),
        f("event_key", Utf8, false),
        f("timestamp", Int64, false),
        f("uuid", Utf8, false),
        f("revenue", Int64, true),
        f("value", Float64, true),
        f("tags", Utf8, true),
        f("client_name", Utf8, false),
        f("client_version", Utf8, false),
        f("received_at", Int64, false),
    ]))
});

/// The Arrow schema of the `events` table, in the Parquet files and in queries.
pub fn events_schema() -> SchemaRef {
    Arc::clone(&SCHEMA)
}

/// The events as one Arrow batch with [`events_schema`], in the given order.
pub fn to_record_batch(events: &[StoredEvent]) -> Result<RecordBatch, StoreError> {
    let n = events.len();
    let strings = || StringBuilder::with_capacity(n, n * 8);
    let (mut seq, mut batch_id, mut timestamp, mut revenue, mut received_at) = (
        Int64Builder::with_capacity(n),
        Int64Builder::with_capacity(n),
        Int64Builder::with_capacity(n),
        Int64Builder::with_capacity(n),
        Int64Builder::with_capacity(n),
    );
    let mut value = Float64Builder::with_capacity(n);
    let mut enabled = BooleanBuilder::with_capacity(n);
    // Every string column, in schema order after `batch_id`, except `enabled` handled apart.
    let mut s: Vec<StringBuilder> = (0..21).map(|_| strings()).collect();
    for e in events {
        let r = &e.row;
        let d = r.decision.as_ref();
        seq.append_value(e.seq);
        batch_id.append_value(e.batch_id);
        s[0].append_value(r.kind.as_str());
        s[1].append_value(&r.account_id);
        s[2].append_value(&r.project_id);
        s[3].append_value(&r.revision);
        s[4].append_value(&r.visitor_id);
        s[5].append_value(&r.attributes);
        s[6].append_value(&r.entity_id);
        s[7].append_option(d.map(|d| &d.campaign_id));
        s[8].append_option(d.map(|d| &d.experiment_id));
        s[9].append_option(d.and_then(|d| d.variation_id.as_ref()));
        s[10].append_option(d.map(|d| &d.flag_key));
        s[11].append_option(d.map(|d| &d.rule_key));
        s[12].append_option(d.map(|d| &d.rule_type));
        s[13].append_option(d.map(|d| &d.variation_key));
        enabled.append_option(d.map(|d| d.enabled));
        s[14].append_option(d.and_then(|d| d.cmab_uuid.as_ref()));
        s[15].append_option(r.decisions.as_ref());
        s[16].append_value(&r.event_key);
        timestamp.append_value(r.timestamp);
        s[17].append_value(&r.uuid);
        revenue.append_option(r.revenue);
        value.append_option(r.value);
        s[18].append_option(r.tags.as_ref());
        s[19].append_value(&r.client_name);
        s[20].append_value(&r.client_version);
        received_at.append_value(r.received_at);
    }
    let mut s = s.into_iter().map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let mut next = || s.next().ok_or_else(|| StoreError::Internal("parquet: column count".into()));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(seq.finish()),
        Arc::new(batch_id.finish()),
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        Arc::new(enabled.finish()),
        next()?,
        next()?,
        next()?,
        Arc::new(timestamp.finish()),
        next()?,
        Arc::new(revenue.finish()),
        Arc::new(value.finish()),
        next()?,
        next()?,
        next()?,
        Arc::new(received_at.finish()),
    ];
    RecordBatch::try_new(events_schema(), columns).map_err(|e| StoreError::Internal(format!("arrow batch: {e}")))
}

/// The order of the rows in every file: a results query reads one experiment's rows,
/// which sit together, and row-group statistics let it skip the rest.
pub(crate) const SORT_KEYS: [&str; 5] = ["experiment_id", "event_key", "visitor_id", "timestamp", "seq"];

/// The rows of `batches` in one batch, sorted by [`SORT_KEYS`].
pub(crate) fn sorted(batches: &[RecordBatch]) -> Result<RecordBatch, StoreError> {
    let arrow_err = |e: arrow::error::ArrowError| StoreError::Internal(format!("arrow: {e}"));
    let all = concat_batches(&events_schema(), batches).map_err(arrow_err)?;
    let mut columns = Vec::with_capacity(SORT_KEYS.len());
    for key in SORT_KEYS {
        let values = all.column_by_name(key).ok_or_else(|| StoreError::Internal(format!("no column {key}")))?;
        columns.push(SortColumn { values: Arc::clone(values), options: None });
    }
    let indices = lexsort_to_indices(&columns, None).map_err(arrow_err)?;
    take_record_batch(&all, &indices).map_err(arrow_err)
}

fn writer_properties() -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("vario {}", env!("CARGO_PKG_VERSION")));
    for column in UNIQUE_COLUMNS {
        props = props.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    for column in STATISTICS_COLUMNS {
        props = props.set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::Page);
    }
    props.build()
}

/// Writes `batch` to `path` atomically (see [`SortedFileWriter`]).
pub(crate) fn write_file(path: &Path, batch: &RecordBatch) -> Result<(), StoreError> {
    let mut writer = SortedFileWriter::create(path)?;
    writer.write(batch)?;
    writer.finish()
}

/// Writes a Parquet file batch by batch and atomically: into a temporary file in the same
/// directory, which [`SortedFileWriter::finish`] fsyncs and renames over the final path
/// (replacing a file of the same name), then fsyncs the directory. Dropped unfinished (a
/// write failed, say for lack of space), it removes the temporary file; one left by a
/// crash is removed by [`remove_unfinished`] when the store is next opened.
pub(crate) struct SortedFileWriter {
    writer: Option<ArrowWriter<File>>,
    tmp: PathBuf,
    path: PathBuf,
}

impl Drop for SortedFileWriter {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Whether `name` is a temporary file of [`SortedFileWriter`].
fn is_unfinished(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".parquet.tmp")
}

/// Removes the temporary Parquet files a crashed write left in the event directories
/// of `data_dir`; how many. Call only while holding the writer lock.
pub(crate) fn remove_unfinished(data_dir: &Path) -> usize {
    let root = data_dir.join(crate::compact::EVENTS_DIR);
    let Ok(dates) = std::fs::read_dir(&root) else { return 0 };
    let mut removed = 0;
    for dir in dates.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
        let Ok(files) = std::fs::read_dir(&dir) else { continue };
        for file in files.flatten() {
            if is_unfinished(&file.file_name().to_string_lossy()) {
                match std::fs::remove_file(file.path()) {
                    Ok(()) => removed += 1,
                    Err(e) => {
                        tracing::warn!(path = %file.path().display(), error = %e, "cannot remove an unfinished Parquet file")
                    }
                }
            }
        }
    }
    if removed > 0 {
        tracing::info!(removed, "removed unfinished Parquet files of an interrupted compaction");
    }
    removed
}

impl SortedFileWriter {
    pub(crate) fn create(path: &Path) -> Result<Self, StoreError> {
        let dir = path.parent().ok_or_else(|| StoreError::Internal(format!("no directory: {}", path.display())))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp"));
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let writer = ArrowWriter::try_new(file, events_schema(), Some(writer_properties()))
            .map_err(|e| StoreError::Internal(format!("writing {}: {e}", path.display())))?;
        Ok(Self { writer: Some(writer), tmp, path: path.to_path_buf() })
    }

    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<(), StoreError> {
        let path = &self.path;
        let writer =
            self.writer.as_mut().ok_or_else(|| StoreError::Internal(format!("{} is finished", path.display())))?;
        writer.write(batch).map_err(|e| StoreError::Internal(format!("writing {}: {e}", path.display())))
    }

    pub(crate) fn finish(mut self) -> Result<(), StoreError> {
        let Some(writer) = self.writer.take() else { return Ok(()) };
        let (tmp, path) = (self.tmp.clone(), self.path.clone());
        // From here on a failure removes the temporary file itself.
        let finished = (|| {
            let file =
                writer.into_inner().map_err(|e| StoreError::Internal(format!("writing {}: {e}", path.display())))?;
            file.sync_all().map_err(io(&tmp))?;
            drop(file);
            std::fs::rename(&tmp, &path).map_err(io(&path))
        })();
        if finished.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        finished?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))
    }
}

/// `map_err` for I/O on `path`.
pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::io(path, &e)
}

/// Makes a rename or a new entry in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(dir, &e))
}

#[cfg(test)]
mod unfinished_tests {
    use super::*;

    #[test]
    fn a_writer_dropped_unfinished_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seq-1-2.parquet");
        let writer = SortedFileWriter::create(&path).unwrap();
        assert!(dir.path().join(".seq-1-2.parquet.tmp").exists());
        drop(writer);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the temporary file is gone");
    }

    #[test]
    fn unfinished_files_are_found_by_name() {
        assert!(is_unfinished(".seq-1-2.parquet.tmp"));
        assert!(!is_unfinished("seq-1-2.parquet"));
        assert!(!is_unfinished(".watermark.json.tmp"));
    }
}
