//! Exactly once across the uuid index's layers: keys in memory, run files being written,
//! merged runs, and runs read back after a restart.

use std::path::{Path, PathBuf};

use vario_store::{LOG_DIR, LogReader, Store, StoreOptions};

use crate::log::batch;

fn small_memtable() -> StoreOptions {
    StoreOptions { uuid_memtable_keys: 64, ..StoreOptions::default() }
}

fn runs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir.join(LOG_DIR).join("uuids")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

#[test]
fn retries_stay_duplicates_across_memory_runs_merges_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), small_memtable()).unwrap();
    for i in 0..40 {
        assert_eq!(store.append(&batch(&format!("b{i}"), 50), 1).unwrap().stored, 50);
        // A retry of an earlier batch, whose keys may be in memory, in a run being
        // written, or in a run merged since.
        let retry = store.append(&batch(&format!("b{}", i / 2), 50), 2).unwrap();
        assert_eq!((retry.stored, retry.duplicates), (0, 50), "retry of b{} after b{i}", i / 2);
    }
    store.flush_uuid_index().unwrap();
    let stats = store.stats();
    assert_eq!(stats.events_stored, 2000);
    // 2000 keys in runs of at least 64: merged down to a handful, not 31 files.
    assert!((1..=6).contains(&stats.uuid_runs), "{} runs", stats.uuid_runs);
    assert!(stats.uuid_index_bytes > 0);
    // The writer may start a merge right after the flush; close waits for it and takes it
    // in, so only then does the directory hold exactly the runs the index keeps.
    store.close();
    let files = runs(dir.path());
    assert!((1..=6).contains(&files.len()), "{} run files left after close", files.len());

    // After a restart every key is found in the run files.
    let store = Store::open(dir.path()).unwrap();
    for i in 0..40 {
        assert_eq!(store.append(&batch(&format!("b{i}"), 50), 3).unwrap().duplicates, 50);
    }
    assert_eq!(store.append(&batch("new", 10), 3).unwrap().stored, 10);
    store.close();
    assert_eq!(LogReader::open(dir.path()).unwrap().count().unwrap(), 2010);
    // Open deletes run files the index does not use (inputs of a merge left behind): none
    // were, and the few new keys stayed in the log.
    assert_eq!(runs(dir.path()), files, "the restart changed the run files");
}

#[test]
fn keys_in_memory_are_read_back_from_the_log_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(&batch("m", 30), 1).unwrap();
    store.close();
    assert!(!dir.path().join(LOG_DIR).join("uuids").exists(), "nothing was written out");
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.append(&batch("m", 30), 2).unwrap().duplicates, 30);
    store.close();
}

#[test]
fn an_interrupted_flush_or_merge_is_cleaned_up_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), small_memtable()).unwrap();
    for i in 0..10 {
        store.append(&batch(&format!("c{i}"), 50), 1).unwrap();
    }
    store.flush_uuid_index().unwrap();
    store.append(&batch("tail", 20), 1).unwrap();
    store.close();
    let before = runs(dir.path());
    let uuids = dir.path().join(LOG_DIR).join("uuids");
    // A flush that wrote its file but did not record it (its keys are still in the log),
    // a merge input left behind, and a file that was never renamed.
    let first = before[0].clone();
    std::fs::copy(&first, uuids.join("run-00000000000000000501-00000000000000000520.keys")).unwrap();
    std::fs::copy(&first, uuids.join("run-00000000000000000001-00000000000000000064.keys")).unwrap();
    std::fs::write(uuids.join("run-00000000000000000501-00000000000000000520.keys.tmp"), b"partial").unwrap();

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(runs(dir.path()), before, "leftovers deleted, the real runs kept");
    for i in 0..10 {
        assert_eq!(store.append(&batch(&format!("c{i}"), 50), 2).unwrap().duplicates, 50);
    }
    assert_eq!(store.append(&batch("tail", 20), 2).unwrap().duplicates, 20);
    store.close();
}

#[test]
fn a_missing_or_damaged_run_file_stops_open_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), small_memtable()).unwrap();
    store.append(&batch("d", 100), 1).unwrap();
    store.flush_uuid_index().unwrap();
    store.close();
    let files = runs(dir.path());
    let bytes = std::fs::read(&files[0]).unwrap();

    let mut damaged = bytes.clone();
    damaged[16 + 16 + 15] ^= 0xff; // the last byte of the second key: order unchanged
    std::fs::write(&files[0], &damaged).unwrap();
    let err = Store::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("damaged uuid index run: checksum mismatch"), "{err}");

    std::fs::remove_file(&files[0]).unwrap();
    let err = Store::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("the uuid index has no run for the events with seqs 1 to 100"), "{err}");

    std::fs::write(&files[0], &bytes).unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.append(&batch("d", 100), 2).unwrap().duplicates, 100);
    store.close();
}
