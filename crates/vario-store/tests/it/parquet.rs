//! Compaction into Parquet files, merging, and SQL over files and log together.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};
use vario_events::EventBatch;
use vario_store::{
    CompactOptions, EVENTS_DIR, QueryError, Store, compact, events_schema, live_files, query, to_record_batch,
    watermark,
};

const DAY_MS: i64 = 86_400_000;
/// 2023-11-14T22:13:20Z: a batch's events fall on this day and the next two.
const T0: i64 = 1_700_000_000_000;

/// `n` events with uuids `{prefix}-{i}`: impressions of two experiments and purchases,
/// spread over three UTC days.
fn batch(prefix: &str, n: usize) -> EventBatch {
    let visitors: Vec<Value> = (0..n)
        .map(|i| {
            let ts = T0 + (i as i64 % 3) * DAY_MS;
            let event = if i % 2 == 0 {
                json!({"events": [{"entity_id": "41001", "uuid": format!("{prefix}-{i}"), "key": "campaign_activated",
                                   "timestamp": ts}],
                       "decisions": [{"campaign_id": "41001", "experiment_id": format!("4000{}", i % 4),
                                      "variation_id": "40011",
                                      "metadata": {"flag_key": "f", "rule_key": "ab", "rule_type": "experiment",
                                                   "variation_key": "on", "enabled": true}}]})
            } else {
                json!({"events": [{"entity_id": "90001", "uuid": format!("{prefix}-{i}"), "key": "purchase",
                                   "timestamp": ts, "revenue": 100 * i, "value": 1.5, "tags": {"n": i}}]})
            };
            json!({"visitor_id": format!("user_{}", i % 7), "attributes": [{"entity_id": "1", "key": "k",
                   "type": "custom", "value": "v"}], "snapshots": [event]})
        })
        .collect();
    serde_json::from_value(json!({"account_id": "12001", "project_id": "12002", "revision": "42",
        "client_name": "python-sdk", "client_version": "5.7.0", "visitors": visitors}))
    .unwrap()
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for partition in std::fs::read_dir(dir.join(EVENTS_DIR)).unwrap() {
        let partition = partition.unwrap().path();
        if partition.is_dir() {
            for file in std::fs::read_dir(&partition).unwrap() {
                let file = file.unwrap().path();
                if file.extension().is_some_and(|e| e == "parquet") {
                    files.push(file);
                }
            }
        }
    }
    files.sort();
    files
}

/// Every row of every Parquet file, sorted by seq.
fn rows_in_files(dir: &Path) -> RecordBatch {
    let mut batches = Vec::new();
    for file in parquet_files(dir) {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap()).unwrap();
        batches.extend(reader.build().unwrap().map(Result::unwrap));
    }
    let all = concat_batches(&events_schema(), &batches).unwrap();
    let seq = SortColumn { values: all.column_by_name("seq").unwrap().clone(), options: None };
    take_record_batch(&all, &lexsort_to_indices(&[seq], None).unwrap()).unwrap()
}

fn count(dir: &Path, sql: &str) -> i64 {
    query(dir, sql).unwrap().rows[0][0].as_i64().unwrap()
}

fn options(merge_min_files: usize) -> CompactOptions {
    CompactOptions { page_events: 7, merge_min_files, ..CompactOptions::default() }
}

#[test]
fn compaction_writes_partitioned_files_with_the_logs_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(&batch("a", 20), T0).unwrap();
    let report = compact(dir.path(), &options(1000)).unwrap();
    let log = store.reader().unwrap().events_since(0, 1000).unwrap();
    assert_eq!(report.events, 20);
    assert_eq!(report.watermark, log.last().unwrap().seq);
    assert_eq!(watermark(dir.path()).unwrap(), report.watermark);

    // Every field of every row, as the log has it.
    assert_eq!(rows_in_files(dir.path()), to_record_batch(&log).unwrap());
    let mut partitions: Vec<String> = parquet_files(dir.path())
        .iter()
        .map(|f| f.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    partitions.dedup();
    assert_eq!(partitions, ["date=2023-11-14", "date=2023-11-15", "date=2023-11-16"]);
    // No temporary files are left.
    for file in std::fs::read_dir(dir.path().join(EVENTS_DIR).join("date=2023-11-14")).unwrap() {
        assert!(!file.unwrap().file_name().to_string_lossy().ends_with(".tmp"));
    }
    store.close();
}

#[test]
fn repeated_compaction_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(&batch("a", 10), T0).unwrap();
    compact(dir.path(), &options(1000)).unwrap();
    let files = parquet_files(dir.path());
    let again = compact(dir.path(), &options(1000)).unwrap();
    assert_eq!((again.events, again.files_written), (0, 0));
    assert_eq!(parquet_files(dir.path()), files);
    assert_eq!(rows_in_files(dir.path()).num_rows(), 10);
    store.close();
}

#[test]
fn a_crash_before_the_watermark_is_saved_neither_loses_nor_doubles() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(&batch("a", 10), T0).unwrap();
    let before = compact(dir.path(), &options(1000)).unwrap().watermark;
    store.append(&batch("b", 10), T0).unwrap();
    compact(dir.path(), &options(1000)).unwrap();
    // As if the second run crashed after writing its files, before saving the watermark.
    let marker = dir.path().join(EVENTS_DIR).join("_compacted.json");
    std::fs::write(&marker, format!("{{\"seq\": {before}}}")).unwrap();
    assert_eq!(rows_in_files(dir.path()).num_rows(), 20, "the files are there");

    let total = "SELECT count(*), count(DISTINCT uuid) FROM events";
    assert_eq!(query(dir.path(), total).unwrap().rows, [[json!(20), json!(20)]]);
    // The next run writes those events again, in place of the stray files.
    let report = compact(dir.path(), &options(1000)).unwrap();
    assert_eq!(report.events, 10);
    assert_eq!(rows_in_files(dir.path()).num_rows(), 20);
    assert_eq!(query(dir.path(), total).unwrap().rows, [[json!(20), json!(20)]]);
    store.close();
}

#[test]
fn merging_reduces_files_and_keeps_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for prefix in ["a", "b", "c", "d"] {
        store.append(&batch(prefix, 12), T0).unwrap();
        compact(dir.path(), &options(1000)).unwrap();
    }
    let small = parquet_files(dir.path());
    assert!(small.len() > 3, "{small:?}");
    let before = rows_in_files(dir.path());

    let report = compact(dir.path(), &options(2)).unwrap();
    assert_eq!(report.files_merged, 3);
    assert_eq!(parquet_files(dir.path()).len(), 3, "one file per day");
    assert_eq!(rows_in_files(dir.path()), before);
    assert_eq!(count(dir.path(), "SELECT count(*) FROM events"), 48);

    // A merge that crashed before deleting the small files: they come back beside the
    // merged one, are ignored by queries and removed by the next run.
    let merged = parquet_files(dir.path());
    store.append(&batch("e", 12), T0).unwrap();
    compact(dir.path(), &options(1000)).unwrap();
    let small: Vec<(PathBuf, Vec<u8>)> = parquet_files(dir.path())
        .into_iter()
        .filter(|f| !merged.contains(f))
        .map(|f| {
            let bytes = std::fs::read(&f).unwrap();
            (f, bytes)
        })
        .collect();
    compact(dir.path(), &options(2)).unwrap();
    assert_eq!(parquet_files(dir.path()).len(), 3);
    for (file, bytes) in &small {
        std::fs::write(file, bytes).unwrap();
    }
    assert_eq!(parquet_files(dir.path()).len(), 3 + small.len());
    assert_eq!(
        query(dir.path(), "SELECT count(*), count(DISTINCT uuid) FROM events").unwrap().rows,
        [[json!(60), json!(60)]]
    );
    compact(dir.path(), &options(1000)).unwrap();
    assert_eq!(parquet_files(dir.path()).len(), 3);
    assert_eq!(live_files(dir.path(), watermark(dir.path()).unwrap()).unwrap().len(), 3);
    assert_eq!(count(dir.path(), "SELECT count(*) FROM events"), 60);
    store.close();
}

#[test]
fn queries_see_files_and_the_uncompacted_log_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(&batch("a", 10), T0).unwrap();
    compact(dir.path(), &options(1000)).unwrap();
    store.append(&batch("b", 6), T0).unwrap();

    let answer = query(dir.path(), "SELECT count(*) AS n, count(DISTINCT uuid) AS u FROM events").unwrap();
    assert_eq!(answer.columns, ["n", "u"]);
    assert_eq!(answer.rows, [[json!(16), json!(16)]]);
    let answer = query(
        dir.path(),
        "SELECT kind, sum(revenue) AS revenue, max(value) AS value, bool_and(enabled) AS enabled
         FROM events WHERE uuid LIKE 'b-%' GROUP BY kind ORDER BY kind",
    )
    .unwrap();
    assert_eq!(
        answer.rows,
        [
            [json!("conversion"), json!(900), json!(1.5), Value::Null],
            [json!("decision"), Value::Null, Value::Null, json!(true)]
        ]
    );
    // Timestamps are epoch milliseconds; DataFusion's date functions turn them into times.
    let first = query(dir.path(), "SELECT to_timestamp_millis(min(timestamp)) AS t FROM events").unwrap();
    assert_eq!(first.rows, [[json!("2023-11-14T22:13:20")]]);
    // Each event once, with its seq, from whichever side holds it.
    let seqs = query(dir.path(), "SELECT seq FROM events ORDER BY seq").unwrap();
    let log = store.reader().unwrap().events_since(0, 100).unwrap();
    assert_eq!(seqs.rows, log.iter().map(|e| vec![json!(e.seq)]).collect::<Vec<_>>());
    store.close();
}

#[test]
fn a_data_dir_without_events_answers_empty() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(count(dir.path(), "SELECT count(*) FROM events"), 0);
}

#[test]
fn only_read_only_queries_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(&batch("a", 4), T0).unwrap();
    for sql in [
        "INSERT INTO events (seq) VALUES (1)",
        "CREATE TABLE t AS SELECT * FROM events",
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
        "DROP TABLE events",
        "COPY events TO 'out.csv'",
        "SET datafusion.execution.batch_size = 1",
        "SELECT 1; SELECT 2",
        "SELEC 1",
        "SELECT nope FROM events",
    ] {
        let error = query(dir.path(), sql).unwrap_err();
        assert!(matches!(error, QueryError::Invalid(_)), "{sql}: {error:?}");
    }
    assert!(!dir.path().join("out.csv").exists());
    assert_eq!(count(dir.path(), "WITH e AS (SELECT * FROM events) SELECT count(*) FROM e"), 4);
    store.close();
}

#[test]
fn a_merge_never_spans_a_file_it_leaves_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Day one gets: a small file, a big one, then two small ones.
    for (prefix, n) in [("a", 1), ("b", 9000), ("c", 1), ("d", 1)] {
        store.append(&batch(prefix, n), T0).unwrap();
        compact(dir.path(), &CompactOptions { merge_min_files: 1000, ..CompactOptions::default() }).unwrap();
    }
    let day_one = |dir: &Path| -> Vec<PathBuf> {
        parquet_files(dir).into_iter().filter(|f| f.to_string_lossy().contains("2023-11-14")).collect()
    };
    let files = day_one(dir.path());
    assert_eq!(files.len(), 4);
    let big = std::fs::metadata(&files[1]).unwrap().len();
    let options = CompactOptions { merge_min_files: 2, merge_target_bytes: big, ..CompactOptions::default() };
    let report = compact(dir.path(), &options).unwrap();
    assert_eq!(report.files_merged, 1, "only the two small files after the big one");
    let after = day_one(dir.path());
    assert_eq!(after.len(), 3);
    assert!(after.contains(&files[0]) && after.contains(&files[1]));
    assert_eq!(count(dir.path(), "SELECT count(*) FROM events"), 9003);
    assert_eq!(rows_in_files(dir.path()).num_rows(), 9003);
    store.close();
}

#[test]
fn a_streaming_merge_of_many_files_keeps_every_row_in_sort_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let keep = CompactOptions { merge_min_files: 1000, ..CompactOptions::default() };
    for prefix in ["a", "b", "c", "d", "e", "f"] {
        store.append(&batch(prefix, 9000), T0).unwrap();
        compact(dir.path(), &keep).unwrap();
    }
    assert_eq!(parquet_files(dir.path()).len(), 18, "six files a day");
    let before = rows_in_files(dir.path());

    // At most four inputs per merge: each day's six files become two, both bigger than
    // one batch of the merge, so rows cross batch boundaries of inputs and output.
    let options = CompactOptions { merge_min_files: 2, merge_max_files: 4, ..CompactOptions::default() };
    let report = compact(dir.path(), &options).unwrap();
    assert_eq!(report.files_merged, 6);
    let files = parquet_files(dir.path());
    assert_eq!(files.len(), 6);
    assert_eq!(rows_in_files(dir.path()), before, "every row, every field, once");
    for file in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap()).unwrap();
        let batches: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
        let rows = concat_batches(&events_schema(), &batches).unwrap();
        assert!(rows.num_rows() > 4096, "{}: {} rows", file.display(), rows.num_rows());
        let keys: Vec<SortColumn> = ["experiment_id", "event_key", "visitor_id", "timestamp", "seq"]
            .iter()
            .map(|k| SortColumn { values: rows.column_by_name(k).unwrap().clone(), options: None })
            .collect();
        let order = lexsort_to_indices(&keys, None).unwrap();
        assert!(order.values().iter().enumerate().all(|(i, &j)| i as u32 == j), "{} is not sorted", file.display());
    }
    store.close();
}

#[test]
fn queries_running_while_files_are_merged_away_neither_fail_nor_miss_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut last = 0;
            let mut queries = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let n = query(dir.path(), "SELECT count(*) FROM events").unwrap().rows[0][0].as_i64().unwrap();
                assert!(n >= last, "{n} events after {last}");
                last = n;
                queries += 1;
            }
            queries
        });
        // Every round writes a file and merges the day's files, deleting the inputs.
        for round in 0..60 {
            store.append(&batch(&format!("m{round}"), 20), T0).unwrap();
            compact(dir.path(), &CompactOptions { merge_min_files: 2, ..CompactOptions::default() }).unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    });
    assert_eq!(count(dir.path(), "SELECT count(*) FROM events"), 1200);
    store.close();
}

#[test]
fn files_keep_statistics_for_the_columns_readers_filter_on_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(&batch("s", 50), T0).unwrap();
    compact(dir.path(), &CompactOptions::default()).unwrap();
    let file = std::fs::File::open(&parquet_files(dir.path())[0]).unwrap();
    let metadata = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().metadata().clone();
    let group = metadata.row_group(0);
    let has_statistics = |name: &str| {
        let column = group.columns().iter().find(|c| c.column_path().string() == name).unwrap();
        column.statistics().is_some_and(|s| s.min_bytes_opt().is_some())
    };
    for name in ["seq", "kind", "experiment_id", "event_key", "visitor_id", "timestamp", "received_at"] {
        assert!(has_statistics(name), "{name} should have min/max statistics");
    }
    for name in ["attributes", "tags", "uuid", "client_name", "rule_key"] {
        assert!(!has_statistics(name), "{name} should have no statistics");
    }
    store.close();
}

#[test]
fn a_compaction_under_ingest_faster_than_it_returns_at_the_end_it_started_from() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), std::sync::Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                store.append(&batch(&format!("w{n}"), 60), 1).unwrap();
                n += 1;
            }
        })
    };
    while vario_store::LogReader::open(dir.path()).unwrap().last_seq().unwrap() < 300 {
        std::thread::yield_now();
    }
    // Pages of 5 events: one run writes files far slower than the writer appends, so a
    // run that followed the log's end would not return while the writer goes on.
    let (tx, rx) = std::sync::mpsc::channel();
    let path = dir.path().to_path_buf();
    std::thread::spawn(move || {
        let start = vario_store::LogReader::open(&path).unwrap().last_seq().unwrap() as i64;
        let report = compact(&path, &CompactOptions { page_events: 5, ..CompactOptions::default() });
        let _ = tx.send((start, report));
    });
    let outcome = rx.recv_timeout(std::time::Duration::from_secs(120));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    let (start, report) = outcome.expect("compaction did not return while ingest went on");
    let report = report.unwrap();
    let now = vario_store::LogReader::open(dir.path()).unwrap().last_seq().unwrap() as i64;
    assert!(report.watermark >= start, "stopped before the end it started from: {report:?}, start {start}");
    assert!(report.watermark < now, "the run followed the log's end: watermark {}, log {now}", report.watermark);
    store.close();
}
