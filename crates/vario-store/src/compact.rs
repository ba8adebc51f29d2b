//! Compaction: copies the log's events into Parquet files and merges small files.
//!
//! ```text
//! DATA_DIR/events/
//!   _compacted.json                        {"seq": N}: every event with seq <= N is in a file
//!   date=2026-11-28/seq-<first>-<last>.parquet
//! ```
//!
//! **Crash safety by order.** Compaction reads the log past the watermark `N` in pages,
//! writes each page's rows as one file per UTC date (atomically, see [`crate::parquet`]),
//! and only then saves the new watermark (also atomically). A crash in between leaves
//! files the watermark does not cover; they are never read ([`live_files`] ignores a file
//! whose first seq is past the watermark) and the next run deletes them and writes the
//! page again. So a crash repeats work and never loses or doubles a row.
//!
//! **Merging.** Each run makes small files (a page of the log spread over the days its
//! events fall on). When a partition has a run of [`CompactOptions::merge_min_files`]
//! consecutive files smaller than [`CompactOptions::merge_target_bytes`], they are
//! merged (up to that size and [`CompactOptions::merge_max_files`] files at a time,
//! streaming, see [`crate::merge`]) into one sorted file named by the seq range they
//! cover, and then deleted. A crash before the deletes leaves
//! the merged file and the small ones together; a file whose seq range lies inside another
//! file's of the same partition is redundant, ignored by readers and deleted next time.
//!
//! Compacted events leave the log later, through [`crate::prune_log`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::StoreError;
use crate::merge::merge_sorted_files;
use crate::parquet::{io, sorted, sync_dir, to_record_batch, write_file};
use crate::reader::{LogReader, StoredEvent};

/// Name of the Parquet directory inside the data directory.
pub const EVENTS_DIR: &str = "events";
/// The watermark file inside [`EVENTS_DIR`]; its leading `_` makes other engines skip it.
pub(crate) const WATERMARK_FILE: &str = "_compacted.json";

/// Tuning of [`compact`].
#[derive(Debug, Clone, Copy)]
pub struct CompactOptions {
    /// Log events read (and written) per step; also the most rows held in memory.
    pub page_events: usize,
    /// Merge a partition once it has at least this many small files.
    pub merge_min_files: usize,
    /// Files at least this big are left alone by merges.
    pub merge_target_bytes: u64,
    /// The most files one merge reads at once: each open input holds a batch and a
    /// decompressor per column in memory, so merges go in tiers of this many files.
    pub merge_max_files: usize,
}

impl Default for CompactOptions {
    fn default() -> Self {
        Self { page_events: 25_000, merge_min_files: 8, merge_target_bytes: 128 * 1024 * 1024, merge_max_files: 8 }
    }
}

/// What one [`compact`] run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Events copied into new files.
    pub events: u64,
    /// Files written from the log.
    pub files_written: u64,
    /// Merged files written.
    pub files_merged: u64,
    /// The watermark after the run.
    pub watermark: i64,
}

/// One Parquet file of the events directory, with the seq range its name states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFile {
    /// The file.
    pub path: PathBuf,
    /// The partition's date, `YYYY-MM-DD`.
    pub date: String,
    /// Smallest seq in the file.
    pub first: i64,
    /// Largest seq in the file.
    pub last: i64,
}

/// Version of the layout of [`EVENTS_DIR`] (partitioning, file names, columns), kept in
/// the watermark file. A file without one is layout 1 (the first release's).
pub const PARQUET_LAYOUT_VERSION: i64 = 1;

/// The seq up to which the log is in Parquet files (0 when nothing is). Refuses a
/// directory of a newer layout than this Vario reads.
pub fn watermark(data_dir: &Path) -> Result<i64, StoreError> {
    Ok(read_watermark(data_dir)?.map_or(0, |(seq, _)| seq))
}

/// The watermark and the layout version written in the file (`None` for a file of the
/// first release, which had none: layout 1), when the file exists.
pub(crate) fn read_watermark(data_dir: &Path) -> Result<Option<(i64, Option<i64>)>, StoreError> {
    let path = data_dir.join(EVENTS_DIR).join(WATERMARK_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(&path, &e)),
    };
    #[derive(serde::Deserialize)]
    struct Watermark {
        seq: i64,
        layout: Option<i64>,
    }
    let mark = serde_json::from_str::<Watermark>(&text)
        .map_err(|e| StoreError::Internal(format!("{}: {e}", path.display())))?;
    let layout = mark.layout.unwrap_or(1);
    if layout > PARQUET_LAYOUT_VERSION || layout < 1 {
        return Err(StoreError::Unavailable {
            reason: crate::error::Unavailable::NewerFormat,
            path,
            detail: format!(
                "the Parquet files have layout version {layout}; this Vario understands up to \
                 {PARQUET_LAYOUT_VERSION}: run a newer Vario"
            ),
        });
    }
    Ok(Some((mark.seq, mark.layout)))
}

/// Saves the watermark atomically (temporary file, fsync, rename, directory fsync).
pub(crate) fn save_watermark(data_dir: &Path, seq: i64) -> Result<(), StoreError> {
    let dir = data_dir.join(EVENTS_DIR);
    let path = dir.join(WATERMARK_FILE);
    let tmp = dir.join(format!(".{WATERMARK_FILE}.tmp"));
    std::fs::write(&tmp, format!("{{\"seq\": {seq}, \"layout\": {PARQUET_LAYOUT_VERSION}}}\n")).map_err(io(&tmp))?;
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    sync_dir(&dir)
}

/// Copies every log event past the watermark into Parquet files, then merges the
/// partitions that have many small files. Only one compaction may run on a data
/// directory at a time: a second one (or a backup) waits for the maintenance lock.
pub fn compact(data_dir: &Path, options: &CompactOptions) -> Result<CompactReport, StoreError> {
    let _lock = crate::maintenance::lock(data_dir)?;
    let events_dir = data_dir.join(EVENTS_DIR);
    std::fs::create_dir_all(&events_dir).map_err(|e| StoreError::io(&events_dir, &e))?;
    let mut mark = watermark(data_dir)?;
    remove_dead_files(data_dir, mark)?;
    let reader = LogReader::open(data_dir)?;
    // Up to the log's end as this run starts, not as it goes: under ingest faster than one
    // run compacts, a run that chased the end would never return, and pruning (after it)
    // would never run while the log grew.
    let end = i64::try_from(reader.last_seq()?).unwrap_or(i64::MAX);
    let mut report = CompactReport::default();
    while mark < end {
        let mut page = reader.events_since(mark, options.page_events.max(1))?;
        page.retain(|e| e.seq <= end);
        let Some(last) = page.last().map(|e| e.seq) else { break };
        let mut by_date: BTreeMap<String, Vec<StoredEvent>> = BTreeMap::new();
        for event in page {
            by_date.entry(utc_date(event.row.timestamp)).or_default().push(event);
        }
        for (date, events) in by_date {
            let dir = events_dir.join(format!("date={date}"));
            if !dir.exists() {
                std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, &e))?;
                sync_dir(&events_dir)?;
            }
            let (first, end) = (events[0].seq, events[events.len() - 1].seq);
            let batch = sorted(&[to_record_batch(&events)?])?;
            write_file(&dir.join(file_name(first, end)), &batch)?;
            report.events += events.len() as u64;
            report.files_written += 1;
        }
        // The files are durable; only now may the watermark pass them.
        save_watermark(data_dir, last)?;
        mark = last;
    }
    report.files_merged = merge(data_dir, options)?;
    report.watermark = mark;
    Ok(report)
}

/// Rewrites each partition's small files as one file when there are enough of them.
fn merge(data_dir: &Path, options: &CompactOptions) -> Result<u64, StoreError> {
    let mut by_date: BTreeMap<String, Vec<(EventFile, u64)>> = BTreeMap::new();
    for file in live_files(data_dir, watermark(data_dir)?)? {
        let size = std::fs::metadata(&file.path).map_err(io(&file.path))?.len();
        by_date.entry(file.date.clone()).or_default().push((file, size));
    }
    let mut merged = 0;
    for (date, mut files) in by_date {
        // Groups of consecutive small files, up to the target size. A big file ends a
        // group: a merged range must never span a file left out of it (that file would
        // look covered). So merged ranges never overlap. A merge streams its inputs
        // (`merge_sorted_files`), holding one small batch per input in memory.
        files.sort_by_key(|(f, _)| f.first);
        let mut group: Vec<(EventFile, u64)> = Vec::new();
        for (file, size) in files {
            let total: u64 = group.iter().map(|(_, s)| s).sum();
            if size >= options.merge_target_bytes
                || total + size > options.merge_target_bytes
                || group.len() >= options.merge_max_files.max(2)
            {
                merged += merge_group(data_dir, &date, &std::mem::take(&mut group), options)?;
            }
            if size < options.merge_target_bytes {
                group.push((file, size));
            }
        }
        merged += merge_group(data_dir, &date, &group, options)?;
    }
    Ok(merged)
}

/// Rewrites `group` (consecutive files of one date) as one file, if it has enough files.
fn merge_group(
    data_dir: &Path,
    date: &str,
    group: &[(EventFile, u64)],
    options: &CompactOptions,
) -> Result<u64, StoreError> {
    if group.len() < options.merge_min_files.max(2) {
        return Ok(0);
    }
    let first = group.iter().map(|(f, _)| f.first).min().unwrap_or_default();
    let last = group.iter().map(|(f, _)| f.last).max().unwrap_or_default();
    let dir = data_dir.join(EVENTS_DIR).join(format!("date={date}"));
    let inputs: Vec<&Path> = group.iter().map(|(f, _)| f.path.as_path()).collect();
    merge_sorted_files(&inputs, &dir.join(file_name(first, last)))?;
    // The merged file is durable; the small ones it covers are now redundant.
    for (file, _) in group {
        std::fs::remove_file(&file.path).map_err(io(&file.path))?;
    }
    sync_dir(&dir)?;
    Ok(1)
}

/// Deletes what [`live_files`] would ignore: files past the watermark (a crashed run's)
/// and files covered by a merged file (a crashed merge's).
fn remove_dead_files(data_dir: &Path, watermark: i64) -> Result<(), StoreError> {
    let live: std::collections::HashSet<PathBuf> =
        live_files(data_dir, watermark)?.into_iter().map(|f| f.path).collect();
    for file in all_files(data_dir)? {
        if !live.contains(&file.path) {
            tracing::info!(file = %file.path.display(), "removing a Parquet file left by an interrupted compaction");
            std::fs::remove_file(&file.path).map_err(|e| StoreError::io(&file.path, &e))?;
        }
    }
    Ok(())
}

/// The Parquet files that together hold every event with `seq <= watermark` exactly
/// once: files past the watermark and files inside another file's seq range are left out.
pub fn live_files(data_dir: &Path, watermark: i64) -> Result<Vec<EventFile>, StoreError> {
    let mut files: Vec<EventFile> = all_files(data_dir)?.into_iter().filter(|f| f.first <= watermark).collect();
    // Widest first among equal starts, so a covering file comes before what it covers.
    files.sort_by(|a, b| {
        (&a.date, a.first, std::cmp::Reverse(a.last)).cmp(&(&b.date, b.first, std::cmp::Reverse(b.last)))
    });
    let mut live: Vec<EventFile> = Vec::with_capacity(files.len());
    // After that sort, a file is covered exactly when an earlier file of its date reaches
    // at least as far.
    let mut reach: Option<(&str, i64)> = None;
    for file in &files {
        if let Some((date, last)) = reach
            && date == file.date
            && file.last <= last
        {
            continue;
        }
        reach = Some((&file.date, file.last));
        live.push(file.clone());
    }
    Ok(live)
}

/// Every `date=*/seq-*-*.parquet` file of the events directory.
pub(crate) fn all_files(data_dir: &Path) -> Result<Vec<EventFile>, StoreError> {
    let root = data_dir.join(EVENTS_DIR);
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(&root, &e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(&root, &e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(date) = name.strip_prefix("date=") else { continue };
        let dir = entry.path();
        for inner in std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, &e))? {
            let inner = inner.map_err(|e| StoreError::io(&dir, &e))?;
            if let Some((first, last)) = parse_file_name(&inner.file_name().to_string_lossy()) {
                files.push(EventFile { path: inner.path(), date: date.to_owned(), first, last });
            }
        }
    }
    Ok(files)
}

/// Zero-padded so that names sort in seq order.
pub(crate) fn file_name(first: i64, last: i64) -> String {
    format!("seq-{first:020}-{last:020}.parquet")
}

fn parse_file_name(name: &str) -> Option<(i64, i64)> {
    let (first, last) = name.strip_prefix("seq-")?.strip_suffix(".parquet")?.split_once('-')?;
    Some((first.parse().ok()?, last.parse().ok()?))
}

/// The UTC date `YYYY-MM-DD` of a Unix epoch millisecond time.
pub(crate) fn utc_date(ms: i64) -> String {
    // Days to civil date, after H. Hinnant's `civil_from_days`; exact for every i64 day.
    let z = ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(-1), "1969-12-31");
        assert_eq!(utc_date(1_700_000_000_000), "2023-11-14");
        assert_eq!(utc_date(951_782_400_000), "2000-02-29");
        // Far out of range stays a string, no panic.
        assert!(!utc_date(i64::MAX).is_empty());
        assert!(!utc_date(i64::MIN).is_empty());
    }

    #[test]
    fn file_names_round_trip() {
        assert_eq!(parse_file_name(&file_name(3, 17)), Some((3, 17)));
        assert_eq!(parse_file_name(".seq-1-2.parquet.tmp"), None);
    }
}
