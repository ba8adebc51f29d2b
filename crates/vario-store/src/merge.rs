//! Streaming k-way merge of sorted Parquet files into one sorted file.
//!
//! Every file [`crate::compact`] writes is sorted by [`SORT_KEYS`] (files written by
//! older versions, sorted by fewer keys, merge into files sorted only as well as they
//! were: the merge keeps every row whatever the order of its inputs). Merging them by loading all rows and sorting again would hold the
//! whole group in memory several times over (decoded, concatenated, taken): gigabytes for
//! a 128 MB group. Here each input is read a small batch at a time and the smallest head
//! row is emitted next, so memory is bounded by one batch per input plus one output row
//! group, whatever the sizes of the files.

use std::fs::File;
use std::path::Path;

use arrow::array::RecordBatch;
use arrow::compute::interleave_record_batch;
use arrow::row::{RowConverter, Rows, SortField};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::error::StoreError;
use crate::parquet::{SORT_KEYS, SortedFileWriter, events_schema};

/// Rows decoded at a time from each input, and rows per output batch.
const BATCH_ROWS: usize = 4096;

/// Writes the rows of the sorted files `inputs` to `out`, sorted, without loading them.
pub(crate) fn merge_sorted_files(inputs: &[&Path], out: &Path) -> Result<(), StoreError> {
    let converter = sort_converter()?;
    let mut cursors = Vec::with_capacity(inputs.len());
    for path in inputs {
        if let Some(cursor) = Cursor::open(path, &converter)? {
            cursors.push(cursor);
        }
    }
    let mut writer = SortedFileWriter::create(out)?;
    let mut heap = Heap::new(cursors.len());
    for i in 0..cursors.len() {
        heap.push(i, &cursors);
    }
    // Output rows as (index into `batches`, row): `batches` holds every input batch a
    // pending output row points into, and is rebuilt after each output batch.
    let mut batches: Vec<RecordBatch> = cursors.iter().map(|c| c.batch.clone()).collect();
    let mut slot: Vec<usize> = (0..cursors.len()).collect();
    let mut pending: Vec<(usize, usize)> = Vec::with_capacity(BATCH_ROWS);
    while let Some(i) = heap.pop(&cursors) {
        pending.push((slot[i], cursors[i].row));
        if cursors[i].advance(&converter)? {
            if cursors[i].row == 0 {
                // A fresh batch: keep the old one for rows still pending.
                batches.push(cursors[i].batch.clone());
                slot[i] = batches.len() - 1;
            }
            heap.push(i, &cursors);
        }
        if pending.len() == BATCH_ROWS {
            flush(&mut writer, &mut batches, &mut slot, &mut pending, &cursors)?;
        }
    }
    flush(&mut writer, &mut batches, &mut slot, &mut pending, &cursors)?;
    writer.finish()
}

fn flush(
    writer: &mut SortedFileWriter,
    batches: &mut Vec<RecordBatch>,
    slot: &mut [usize],
    pending: &mut Vec<(usize, usize)>,
    cursors: &[Cursor],
) -> Result<(), StoreError> {
    if !pending.is_empty() {
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        let batch = interleave_record_batch(&refs, pending).map_err(arrow_err)?;
        writer.write(&batch)?;
        pending.clear();
    }
    // Only the cursors' current batches can be pointed at from now on.
    batches.clear();
    for (i, cursor) in cursors.iter().enumerate() {
        batches.push(cursor.batch.clone());
        slot[i] = i;
    }
    Ok(())
}

/// The row converter of the sort key, so that comparing two rows is comparing bytes.
fn sort_converter() -> Result<RowConverter, StoreError> {
    let schema = events_schema();
    let mut fields = Vec::with_capacity(SORT_KEYS.len());
    for key in SORT_KEYS {
        let field = schema.field_with_name(key).map_err(arrow_err)?;
        fields.push(SortField::new(field.data_type().clone()));
    }
    RowConverter::new(fields).map_err(arrow_err)
}

fn arrow_err(e: arrow::error::ArrowError) -> StoreError {
    StoreError::Internal(format!("arrow: {e}"))
}

/// One input file: its reader, current batch, that batch's sort keys and the next row.
struct Cursor {
    reader: ParquetRecordBatchReader,
    batch: RecordBatch,
    keys: Rows,
    row: usize,
    path: std::path::PathBuf,
}

impl Cursor {
    /// Opens `path` at its first row; `None` when it has no rows.
    fn open(path: &Path, converter: &RowConverter) -> Result<Option<Self>, StoreError> {
        let file = File::open(path).map_err(|e| StoreError::io(path, &e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(BATCH_ROWS).build())
            .map_err(|e| StoreError::Internal(format!("reading {}: {e}", path.display())))?;
        let mut cursor = Self {
            reader,
            batch: RecordBatch::new_empty(events_schema()),
            keys: converter.empty_rows(0, 0),
            row: 0,
            path: path.to_path_buf(),
        };
        Ok(cursor.next_batch(converter)?.then_some(cursor))
    }

    /// The sort key of the current row.
    fn key(&self) -> arrow::row::Row<'_> {
        self.keys.row(self.row)
    }

    /// Moves to the next row; false when the file is exhausted.
    fn advance(&mut self, converter: &RowConverter) -> Result<bool, StoreError> {
        self.row += 1;
        if self.row < self.batch.num_rows() {
            return Ok(true);
        }
        self.next_batch(converter)
    }

    /// Loads the next non-empty batch at row 0; false at the end of the file.
    fn next_batch(&mut self, converter: &RowConverter) -> Result<bool, StoreError> {
        for batch in self.reader.by_ref() {
            let batch = batch.map_err(|e| StoreError::Internal(format!("reading {}: {e}", self.path.display())))?;
            if batch.num_rows() == 0 {
                continue;
            }
            let mut columns = Vec::with_capacity(SORT_KEYS.len());
            for key in SORT_KEYS {
                let column = batch
                    .column_by_name(key)
                    .ok_or_else(|| StoreError::Internal(format!("{}: no column {key}", self.path.display())))?;
                columns.push(column.clone());
            }
            self.keys = converter.convert_columns(&columns).map_err(arrow_err)?;
            self.batch = batch;
            self.row = 0;
            return Ok(true);
        }
        Ok(false)
    }
}

/// A binary min-heap of cursor indices ordered by their current keys; ties go to the
/// lower index, so equal keys keep the order of the inputs.
struct Heap {
    items: Vec<usize>,
}

impl Heap {
    fn new(capacity: usize) -> Self {
        Self { items: Vec::with_capacity(capacity) }
    }

    fn less(cursors: &[Cursor], a: usize, b: usize) -> bool {
        match cursors[a].key().cmp(&cursors[b].key()) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Equal => a < b,
            std::cmp::Ordering::Greater => false,
        }
    }

    fn push(&mut self, cursor: usize, cursors: &[Cursor]) {
        self.items.push(cursor);
        let mut child = self.items.len() - 1;
        while child > 0 {
            let parent = (child - 1) / 2;
            if !Self::less(cursors, self.items[child], self.items[parent]) {
                break;
            }
            self.items.swap(child, parent);
            child = parent;
        }
    }

    fn pop(&mut self, cursors: &[Cursor]) -> Option<usize> {
        let last = self.items.pop()?;
        if self.items.is_empty() {
            return Some(last);
        }
        let top = std::mem::replace(&mut self.items[0], last);
        let mut parent = 0;
        loop {
            let (left, right) = (2 * parent + 1, 2 * parent + 2);
            let mut smallest = parent;
            for child in [left, right] {
                if child < self.items.len() && Self::less(cursors, self.items[child], self.items[smallest]) {
                    smallest = child;
                }
            }
            if smallest == parent {
                break;
            }
            self.items.swap(parent, smallest);
            parent = smallest;
        }
        Some(top)
    }
}
