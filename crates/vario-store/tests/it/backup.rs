//! Backups of a store while it is written, compacted and pruned, and their restores.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;
use vario_store::backup::{MANIFEST_FILE, backup, restore, seal};
use vario_store::formats::{inspect, migrate};
use vario_store::{CompactOptions, Store, StoreOptions, compact, prune_log, query};

use crate::log::batch;

fn total(dir: &std::path::Path) -> serde_json::Value {
    query(dir, "SELECT count(*), count(DISTINCT uuid), max(seq) FROM events").unwrap().rows[0].clone().into()
}

#[test]
fn a_backup_during_appends_compaction_and_pruning_restores_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions { uuid_memtable_keys: 300, ..StoreOptions::default() };
    let store = Store::open_with(dir.path(), options).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let writer = {
        let (store, stop, acked) = (store.clone(), Arc::clone(&stop), Arc::clone(&acked));
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("b{n}");
                store.append(&batch(&id, 10), n).unwrap();
                acked.lock().unwrap().push(id);
                n += 1;
            }
        })
    };
    // Small pages and merges of two files: files come and go all the time.
    let compact_options = CompactOptions { page_events: 250, merge_min_files: 2, ..CompactOptions::default() };
    let maintainer = {
        let (path, stop) = (dir.path().to_path_buf(), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let report = compact(&path, &compact_options).unwrap();
                prune_log(&path, report.watermark).unwrap();
            }
        })
    };
    while acked.lock().unwrap().len() < 300 {
        std::thread::yield_now();
    }
    let before = acked.lock().unwrap().clone();
    let target = tempfile::tempdir().unwrap();
    let copy = target.path().join("b");
    let report = backup(dir.path(), &copy).unwrap();
    let during = acked.lock().unwrap().len() - before.len();
    seal(&copy, "test", report).unwrap();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    maintainer.join().unwrap();
    store.close();
    assert!(report.uuid_runs > 0 && report.parquet_files > 0, "{report:?}");
    eprintln!("{report:?}, {} batches before, {during} during", before.len());

    let restored = target.path().join("r");
    restore(&copy, &restored).unwrap();
    let last = report.last_seq;
    assert_eq!(total(&restored), json!([last, last, last]), "each event up to the snapshot once");
    let dump = format!("SELECT seq, uuid FROM events WHERE seq <= {last} ORDER BY seq");
    assert_eq!(query(&restored, &dump).unwrap().rows, query(dir.path(), &dump).unwrap().rows);
    let uuids: std::collections::HashSet<String> = query(&restored, "SELECT uuid FROM events")
        .unwrap()
        .rows
        .into_iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect();
    for id in &before {
        let mut batch_uuids = (0..9).map(|k| format!("{id}-{k}")).chain([format!("{id}-imp")]);
        assert!(batch_uuids.all(|u| uuids.contains(&u)), "batch {id} is missing");
    }
    // The uuid index came along: retries of old events are duplicates.
    let store = Store::open(&restored).unwrap();
    for id in before.iter().step_by(29) {
        let retry = store.append(&batch(id, 10), 0).unwrap();
        assert_eq!((retry.stored, retry.duplicates), (0, 10), "batch {id} stored again");
    }
    store.close();
}

#[test]
fn restore_refuses_a_changed_backup_and_a_target_that_is_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(&batch("x", 40), 1).unwrap();
    compact(dir.path(), &CompactOptions::default()).unwrap();
    let target = tempfile::tempdir().unwrap();
    let copy = target.path().join("b");
    let report = backup(dir.path(), &copy).unwrap();
    store.close();
    let manifest = seal(&copy, "test", report).unwrap();
    assert!(copy.join(MANIFEST_FILE).exists());
    let parquet = manifest.files.iter().find(|f| f.path.ends_with(".parquet")).unwrap();

    let not_empty = tempfile::tempdir().unwrap();
    std::fs::write(not_empty.path().join("x"), "").unwrap();
    let error = restore(&copy, not_empty.path()).unwrap_err().to_string();
    assert!(error.contains("not empty"), "{error}");

    let path = copy.join(&parquet.path);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let new_dir = target.path().join("r");
    let error = restore(&copy, &new_dir).unwrap_err().to_string();
    assert!(error.contains("does not match"), "{error}");
    assert!(!new_dir.exists(), "nothing is written from a damaged backup");
}

#[test]
fn migrate_of_a_current_directory_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(&batch("x", 5), 1).unwrap();
    compact(dir.path(), &CompactOptions::default()).unwrap();
    store.flush_uuid_index().unwrap();
    store.close();
    let statuses = inspect(dir.path()).unwrap();
    assert!(statuses.iter().all(|s| s.change.is_none() && s.found == Some(s.current)), "{statuses:?}");
    assert_eq!(migrate(dir.path()).unwrap(), statuses);
}
