use std::sync::{Arc, Barrier};
use std::time::Duration;

use serde_json::json;
use vario_events::EventBatch;
use vario_store::{EventKind, Store, StoreError, StoreOptions, Unavailable};

/// A batch of `events` conversions (and one impression first) with uuids `{prefix}-{i}`.
pub(crate) fn batch(prefix: &str, events: usize) -> EventBatch {
    let mut visitors = vec![json!({
        "visitor_id": "user_4",
        "attributes": [{"entity_id": "20001", "key": "device", "type": "custom", "value": "iphone"}],
        "snapshots": [{
            "events": [{"entity_id": "41001", "uuid": format!("{prefix}-imp"), "key": "campaign_activated",
                        "timestamp": 1_700_000_000_002_i64}],
            "decisions": [{"campaign_id": "41001", "experiment_id": "40001", "variation_id": "40011",
                           "metadata": {"flag_key": "f", "rule_key": "ab_exp", "rule_type": "experiment",
                                        "variation_key": "control", "enabled": true}}]
        }]
    })];
    for i in 0..events.saturating_sub(1) {
        visitors.push(json!({
            "visitor_id": format!("user_{i}"),
            "attributes": [],
            "snapshots": [{"events": [{"entity_id": "90001", "uuid": format!("{prefix}-{i}"), "key": "purchase",
                "timestamp": 1_700_000_000_006_i64, "revenue": 4200, "value": 12.5,
                "tags": {"revenue": 4200, "value": "12.5", "coupon": null}}]}]
        }));
    }
    serde_json::from_value(json!({
        "account_id": "12001", "project_id": "12002", "revision": "42",
        "client_name": "python-sdk", "client_version": "5.7.0",
        "anonymize_ip": true, "enrich_decisions": true, "visitors": visitors
    }))
    .unwrap()
}

#[test]
fn events_survive_reopen_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let receipt = store.append(&batch("a", 3), 1_700_000_001_000).unwrap();
    assert_eq!((receipt.stored, receipt.duplicates), (3, 0));
    // No close: the commit alone must be enough.
    drop(store);

    let store = Store::open(dir.path()).unwrap();
    let events = store.reader().unwrap().events_since(0, 100).unwrap();
    assert_eq!(events.len(), 3);
    let imp = &events[0].row;
    assert_eq!(imp.kind, EventKind::Decision);
    assert_eq!((imp.account_id.as_str(), imp.project_id.as_str(), imp.revision.as_str()), ("12001", "12002", "42"));
    assert_eq!(imp.visitor_id, "user_4");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&imp.attributes).unwrap(),
        json!([{"entity_id": "20001", "key": "device", "type": "custom", "value": "iphone"}])
    );
    let d = imp.decision.as_ref().unwrap();
    assert_eq!(
        (d.campaign_id.as_str(), d.experiment_id.as_str(), d.variation_id.as_deref()),
        ("41001", "40001", Some("40011"))
    );
    assert_eq!((d.flag_key.as_str(), d.rule_key.as_str(), d.rule_type.as_str()), ("f", "ab_exp", "experiment"));
    assert!(d.enabled);
    assert_eq!(imp.event_key, "campaign_activated");
    assert_eq!(imp.timestamp, 1_700_000_000_002);
    assert_eq!((imp.client_name.as_str(), imp.client_version.as_str()), ("python-sdk", "5.7.0"));
    assert_eq!(imp.received_at, 1_700_000_001_000);

    let conv = &events[1].row;
    assert_eq!(conv.kind, EventKind::Conversion);
    assert_eq!(conv.decision, None);
    assert_eq!((conv.event_key.as_str(), conv.uuid.as_str()), ("purchase", "a-0"));
    assert_eq!((conv.revenue, conv.value), (Some(4200), Some(12.5)));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(conv.tags.as_deref().unwrap()).unwrap(),
        json!({"revenue": 4200, "value": "12.5", "coupon": null})
    );
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(events.iter().all(|e| e.batch_id == events[0].batch_id));
    store.close();
}

#[test]
fn a_retried_batch_and_a_duplicated_event_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let first = store.append(&batch("r", 5), 1).unwrap();
    let retry = store.append(&batch("r", 5), 2).unwrap();
    assert_eq!((first.stored, first.duplicates), (5, 0));
    assert_eq!((retry.stored, retry.duplicates), (0, 5));

    // The same uuid twice inside one batch.
    let mut twice = batch("t", 2);
    let copy = twice.visitors[1].clone();
    twice.visitors.push(copy);
    let receipt = store.append(&twice, 3).unwrap();
    assert_eq!((receipt.stored, receipt.duplicates), (2, 1));

    let reader = store.reader().unwrap();
    assert_eq!(reader.count().unwrap(), 7);
    assert_eq!(reader.events_with_uuid("r-0").unwrap().len(), 1);
    assert_eq!(reader.batch_count().unwrap(), 3, "every append is recorded, even an all-duplicate one");
    let stats = store.stats();
    assert_eq!((stats.events_stored, stats.duplicates, stats.batches), (7, 6, 3));
    store.close();
}

#[test]
fn an_invalid_event_rejects_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut bad = batch("x", 4);
    bad.visitors[2].snapshots[0].events[0].uuid = "".into();
    let error = store.append(&bad, 1).unwrap_err();
    assert_eq!(
        error,
        StoreError::InvalidEvent {
            path: "visitors[2].snapshots[0].events[0].uuid".into(),
            message: "an event needs a non-empty uuid".into()
        }
    );
    assert_eq!(store.reader().unwrap().count().unwrap(), 0);
    assert_eq!(store.stats().commits, 0);
    store.close();
}

#[test]
fn a_full_log_refuses_whole_batches_and_keeps_what_it_had() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions { max_bytes: Some(256 * 1024), ..StoreOptions::default() };
    let store = Store::open_with(dir.path(), options.clone()).unwrap();
    let mut accepted = Vec::new();
    let mut full = None;
    for i in 0..200 {
        match store.append(&batch(&format!("f{i}"), 20), 1) {
            Ok(_) => accepted.push(i),
            Err(e) => {
                full = Some(e);
                break;
            }
        }
    }
    let Some(StoreError::Unavailable { reason, .. }) = full else { panic!("expected a full log, got {full:?}") };
    assert_eq!(reason, Unavailable::Full);
    assert!(!store.stats().healthy);
    assert!(store.stats().failed_commits >= 1);
    store.close();

    let reader = vario_store::LogReader::open(dir.path()).unwrap();
    reader.integrity_check().unwrap();
    assert_eq!(reader.count().unwrap(), accepted.len() as u64 * 20, "the refused batch left nothing behind");
    for i in &accepted {
        assert_eq!(reader.events_with_uuid(&format!("f{i}-0")).unwrap().len(), 1);
    }
}

#[test]
fn concurrent_appends_share_commits() {
    const THREADS: usize = 32;
    let dir = tempfile::tempdir().unwrap();
    // Hold the writer after its first commit, so the other appends pile up meanwhile.
    let first = Arc::new(std::sync::Once::new());
    let hold = Arc::clone(&first);
    let options = StoreOptions {
        on_commit: Some(Arc::new(move |_| hold.call_once(|| std::thread::sleep(Duration::from_millis(300))))),
        ..StoreOptions::default()
    };
    let store = Store::open_with(dir.path(), options).unwrap();
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (store, barrier) = (store.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                store.append(&batch(&format!("g{t}"), 10), 1).unwrap()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().stored, 10);
    }
    let stats = store.stats();
    assert_eq!(stats.batches, THREADS as u64);
    assert!(stats.commits < THREADS as u64 / 4, "{} commits for {THREADS} appends", stats.commits);
    assert_eq!(store.reader().unwrap().count().unwrap(), THREADS as u64 * 10);
    store.close();
}

#[test]
fn close_commits_what_is_queued_and_refuses_later_appends() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..50 {
        let tx = tx.clone();
        let prepared = vario_store::PreparedBatch::from_batch(&batch(&format!("c{i}"), 2), 1).unwrap();
        store.submit(prepared, move |r| tx.send(r).unwrap());
    }
    store.close();
    drop(tx);
    let answers: Vec<_> = rx.iter().collect();
    assert_eq!(answers.len(), 50, "every submit is answered");
    let stored: u64 = answers.iter().map(|a| a.as_ref().map_or(0, |r| r.stored)).sum();
    assert_eq!(store.append(&batch("late", 1), 1), Err(StoreError::Closed));
    assert_eq!(vario_store::LogReader::open(dir.path()).unwrap().count().unwrap(), stored);
    assert_eq!(stored, 100, "close drains the queue");
}

#[test]
fn a_full_queue_is_overloaded_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(std::sync::Mutex::new(()));
    let held = gate.lock().unwrap();
    let g = Arc::clone(&gate);
    let options = StoreOptions {
        queue_capacity: 2,
        on_commit: Some(Arc::new(move |_| drop(g.lock().unwrap()))),
        ..StoreOptions::default()
    };
    let store = Store::open_with(dir.path(), options).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..10 {
        let tx = tx.clone();
        let prepared = vario_store::PreparedBatch::from_batch(&batch(&format!("q{i}"), 1), 1).unwrap();
        store.submit(prepared, move |r| tx.send(r).unwrap());
        std::thread::sleep(Duration::from_millis(5));
    }
    let overloaded = rx.try_iter().filter(|r| matches!(r, Err(StoreError::Overloaded { .. }))).count();
    assert!(overloaded >= 6, "{overloaded} refused");
    drop(held);
    store.close();
    let ok = rx.try_iter().filter(Result::is_ok).count();
    assert_eq!(vario_store::LogReader::open(dir.path()).unwrap().count().unwrap(), ok as u64);
}

#[test]
fn a_second_writer_on_the_same_log_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path()).unwrap();
    match Store::open(dir.path()) {
        Err(StoreError::Unavailable { reason: Unavailable::Busy, detail, .. }) => {
            assert!(detail.contains("open for writing"), "{detail}");
        }
        other => panic!("expected the second writer to be refused, got {other:?}"),
    }
    // Readers need no lock.
    first.append(&batch("w", 3), 1).unwrap();
    assert_eq!(vario_store::LogReader::open(dir.path()).unwrap().count().unwrap(), 3);
    first.close();
    let second = Store::open(dir.path()).unwrap();
    assert_eq!(second.append(&batch("w", 3), 2).unwrap().duplicates, 3);
    second.close();
}
