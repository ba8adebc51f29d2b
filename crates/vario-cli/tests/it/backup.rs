//! `vario backup` of a server under load and `vario restore` into a new directory.

use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::Server;

/// Compaction every second, pruning a second later, and a run of the uuid index every
/// 2,000 events (so runs are written and merged): everything that moves files runs
/// while the backup copies.
const BUSY_STORAGE: &str =
    "[storage]\ncompact_interval_seconds = 1\nprune_after_seconds = 1\nuuid_memtable_keys = 2000\n";
const WORKERS: usize = 4;
const EVENTS: usize = 20;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// A batch of [`EVENTS`] conversions whose uuids start with `id`.
fn batch(id: &str) -> Vec<u8> {
    let visitors: Vec<Value> = (0..EVENTS)
        .map(|k| {
            json!({"visitor_id": format!("user-{}", k % 7), "attributes": [],
                   "snapshots": [{"events": [{"entity_id": "90001", "uuid": format!("{id}-{k}"), "key": "purchase",
                                              "timestamp": 1_700_000_000_000_i64 + k as i64 * 3_600_000,
                                              "revenue": 100 + k}]}]})
        })
        .collect();
    serde_json::to_vec(&json!({"account_id": "1", "project_id": "2", "revision": "3",
                               "client_name": "backup-test", "client_version": "1", "visitors": visitors}))
    .unwrap()
}

fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> u16 {
    agent
        .post(format!("{url}/v1/events"))
        .header("content-type", "application/json")
        .send(body)
        .map_or(0, |r| r.status().as_u16())
}

fn vario(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_vario")).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "vario {args:?} failed: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// The answer of `sql` over a data directory, as JSON rows.
fn query(dir: &std::path::Path, sql: &str) -> Value {
    let text = vario(&["query", "--format", "json", "--data-dir", dir.to_str().unwrap(), sql]);
    serde_json::from_str::<Value>(&text).unwrap()["rows"].clone()
}

#[test]
fn a_backup_under_load_restores_every_acknowledged_event_exactly_once() {
    let config = tempfile::tempdir().unwrap();
    let config_file = config.path().join("vario.toml");
    std::fs::write(&config_file, BUSY_STORAGE).unwrap();
    let server = Server::start_with(&["--config", config_file.to_str().unwrap()]);
    let url = server.url.clone();

    // Writers post new batches until told to stop; each records the batches acknowledged.
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (acked, stop, url) = (Arc::clone(&acked), Arc::clone(&stop), url.clone());
            std::thread::spawn(move || {
                let agent = agent();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("w{w}-b{n}");
                    match post(&agent, &url, &batch(&id)) {
                        204 => acked.lock().unwrap().push(id),
                        // Compaction behind or the queue full: the sender tries again later.
                        503 | 429 => std::thread::sleep(Duration::from_millis(20)),
                        other => panic!("POST answered {other}"),
                    }
                    n += 1;
                }
            })
        })
        .collect();
    // Until compaction and pruning have moved events out of the log and runs were written.
    let log_dir = server.data_dir().join("log");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let acknowledged = acked.lock().unwrap().len();
        let in_log = vario_store::LogReader::open(server.data_dir()).unwrap().count().unwrap() as usize;
        let runs = std::fs::read_dir(log_dir.join("uuids")).map_or(0, Iterator::count);
        if acknowledged >= 400 && in_log < acknowledged * EVENTS && runs >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no compaction, pruning and uuid runs in 300 s: {acknowledged} batches, {in_log} events in the log, {runs} runs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let data_dir = server.data_dir().to_str().unwrap().to_owned();
    vario(&["project", "apply", crate::upgrade::fixture(), "--data-dir", &data_dir]);
    let project = vario(&["project", "export", "--data-dir", &data_dir]);
    let before: Vec<String> = acked.lock().unwrap().clone();
    let backup = tempfile::tempdir().unwrap();
    let target = backup.path().join("copy");
    let started = Instant::now();
    let out = vario(&["backup", "--data-dir", &data_dir, "--to", target.to_str().unwrap()]);
    let took = started.elapsed();
    let during = acked.lock().unwrap().len() - before.len();
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    eprintln!("{out}{} batches acknowledged before the backup, {during} while it ran ({took:?})", before.len());
    assert!(during > 0, "ingest went on during the backup");
    let manifest: Value = serde_json::from_slice(&std::fs::read(target.join("backup.json")).unwrap()).unwrap();
    let last_seq = manifest["storage"]["last_seq"].as_i64().unwrap();
    assert!(manifest["storage"]["parquet_files"].as_u64().unwrap() > 0, "{manifest}");
    assert!(manifest["storage"]["uuid_runs"].as_u64().unwrap() > 0, "{manifest}");

    // A changed backup is refused before anything is written.
    let restored = tempfile::tempdir().unwrap();
    let token = target.join("admin-token");
    std::fs::write(target.join("stray.txt"), "not from the backup").unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_vario"))
        .args(["restore", "--from", target.to_str().unwrap(), "--data-dir", restored.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("stray.txt"), "{refused:?}");
    assert_eq!(std::fs::read_dir(restored.path()).unwrap().count(), 0);
    std::fs::remove_file(target.join("stray.txt")).unwrap();
    assert!(!token.exists(), "the test server's token came by flag, so there is none to copy");

    vario(&["restore", "--from", target.to_str().unwrap(), "--data-dir", restored.path().to_str().unwrap()]);
    assert_eq!(vario(&["project", "export", "--data-dir", restored.path().to_str().unwrap()]), project);
    // Every event up to the backup's last seq, as the original holds them.
    let dump =
        format!("SELECT seq, uuid, visitor_id, timestamp, revenue FROM events WHERE seq <= {last_seq} ORDER BY seq");
    let original = query(server.data_dir(), &dump);
    let restored_rows = query(restored.path(), &dump);
    assert_eq!(restored_rows, original, "the restored events differ from the original's");
    let summary = "SELECT count(*), count(DISTINCT uuid), sum(revenue), max(seq) FROM events";
    let restored_summary = query(restored.path(), summary);
    assert_eq!(restored_summary[0][0], restored_summary[0][1], "an event is there twice");
    assert_eq!(restored_summary[0][3], json!(last_seq), "events past the backup's snapshot");
    let uuids: HashSet<String> = query(restored.path(), "SELECT uuid FROM events")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect();
    for id in &before {
        for k in 0..EVENTS {
            assert!(uuids.contains(&format!("{id}-{k}")), "event {id}-{k}, acknowledged before the backup, is missing");
        }
    }
    drop(server);

    // A server on the restored directory: retries of acknowledged events stay duplicates
    // (the uuid index came along), new events go on after the last seq, results are equal.
    let results_before = query(restored.path(), summary);
    let server = Server::start_in(restored, &[]);
    let agent = agent();
    for id in before.iter().step_by(37).chain(before.last()) {
        assert_eq!(post(&agent, &server.url, &batch(id)), 204);
    }
    assert_eq!(query(server.data_dir(), summary), results_before, "a retry was stored again");
    assert_eq!(post(&agent, &server.url, &batch("after-restore")), 204);
    let after = query(server.data_dir(), "SELECT min(seq), count(*) FROM events WHERE uuid LIKE 'after-restore-%'");
    assert!(after[0][0].as_i64().unwrap() > last_seq, "{after}");
    assert_eq!(after[0][1], json!(EVENTS));
    let dir = server.stop();
    assert_eq!(query(dir.path(), &dump), original, "the restored events changed after a restart");
}

#[test]
fn backup_refuses_a_directory_that_is_not_empty_and_restore_one_that_is_not_a_backup() {
    let server = Server::start();
    let agent = agent();
    assert_eq!(post(&agent, &server.url, &batch("only")), 204);
    let target = tempfile::tempdir().unwrap();
    std::fs::write(target.path().join("keep"), "x").unwrap();
    let data_dir = server.data_dir().to_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vario"))
        .args(["backup", "--data-dir", data_dir, "--to", target.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"), "{out:?}");
    assert_eq!(std::fs::read(target.path().join("keep")).unwrap(), b"x");

    let new_dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vario"))
        .args(["restore", "--from", data_dir, "--data-dir", new_dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a backup"), "{out:?}");
}
