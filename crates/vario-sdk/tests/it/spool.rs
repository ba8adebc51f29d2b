//! The durable spool: batches a run could not deliver are resent by the next processor
//! on the same directory, exactly once; damaged files are moved aside.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use vario_events::{EventBatch, UserEvent};
use vario_sdk::{EventProcessor, EventProcessorConfig, FailureReason, NotificationCenter, ProcessorError};

use crate::processor::{
    Maker, TestDispatcher, assert_exactly_once, failures, fast_config, start, status, unavailable, uuids, wait_until,
};

fn spooled(dir: &Path) -> EventProcessorConfig {
    EventProcessorConfig { spool_dir: Some(dir.to_path_buf()), batch_size: 10, max_attempts: 2, ..fast_config() }
}

/// The files of `dir` whose name ends with `.{ext}`, sorted.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some(ext))
        .collect();
    found.sort();
    found
}

/// A first run against a failing endpoint: `n` events stay in the spool.
fn failed_run(dir: &Path, n: usize) -> Vec<UserEvent> {
    let d = TestDispatcher::always(unavailable());
    let p = start(spooled(dir), &d);
    let events = Maker::new("42").events("u", n);
    for e in &events {
        assert!(p.process(e.clone()));
    }
    assert!(p.close(), "failing batches are given up normally");
    let stats = p.stats();
    assert_eq!(stats.failed_events, n as u64);
    assert_eq!(stats.spooled_batches, n.div_ceil(10) as u64);
    events
}

#[test]
fn batches_a_failed_run_left_are_resent_by_the_next_processor_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let events = failed_run(dir.path(), 25);
    assert_eq!(files(dir.path(), "batch").len(), 3);

    let d = TestDispatcher::new();
    let p = start(spooled(dir.path()), &d);
    let fresh = Maker::new("42").events("fresh", 4);
    for e in &fresh {
        p.process(e.clone());
    }
    assert!(p.close());
    let delivered = d.delivered();
    // The old batches go first, oldest first, as they were.
    assert_eq!(delivered.iter().take(3).map(|b| b.params().visitors.len()).collect::<Vec<_>>(), [10, 10, 5]);
    assert_exactly_once(&delivered[..3], &events);
    assert_exactly_once(&delivered[3..], &fresh);
    let stats = p.stats();
    assert_eq!((stats.recovered_batches, stats.recovered_events, stats.events_sent), (3, 25, 29));
    assert!(files(dir.path(), "batch").is_empty(), "delivered batches are deleted");

    // A third run has nothing to resend.
    let again = TestDispatcher::new();
    drop(start(spooled(dir.path()), &again));
    assert!(again.calls().is_empty());
}

#[test]
fn batches_still_queued_when_close_times_out_are_resent_by_the_next_processor() {
    let dir = tempfile::tempdir().unwrap();
    let d = TestDispatcher::new();
    d.stall();
    let config = EventProcessorConfig { close_timeout: Duration::from_millis(100), ..spooled(dir.path()) };
    let p = start(config, &d);
    let events = Maker::new("42").events("u", 35);
    for e in &events {
        assert!(p.process(e.clone()));
    }
    d.wait_for_calls(1);
    assert!(!p.close(), "the endpoint stalls");
    // The stalled call ends (delivered); the worker then leaves the rest in the spool
    // and releases the directory.
    d.open();
    let second = TestDispatcher::new();
    let mut next = None;
    wait_until(Duration::from_secs(10), || {
        match EventProcessor::start(spooled(dir.path()), second.clone(), NotificationCenter::new()) {
            Ok(p) => {
                next = Some(p);
                true
            }
            Err(ProcessorError::SpoolLocked { .. }) => false,
            Err(e) => panic!("{e}"),
        }
    });
    let next = next.unwrap();
    assert!(next.close());
    let stats = p.stats();
    assert_eq!(stats.events_sent, 10, "the batch in flight");
    assert_eq!(stats.unsent_events, 25);
    let mut all = d.delivered();
    all.extend(second.delivered());
    assert_exactly_once(&all, &events);
    assert_eq!(next.stats().recovered_events, 25);
    assert!(files(dir.path(), "batch").is_empty());
}

#[test]
fn a_spool_file_is_the_header_line_and_the_batch_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let events = failed_run(dir.path(), 3);
    let file = &files(dir.path(), "batch")[0];
    let name = file.file_stem().unwrap().to_str().unwrap();
    assert!(name.len() == 29 && name.as_bytes()[20] == b'-', "name {name}");
    let text = fs::read_to_string(file).unwrap();
    let (header, body) = text.split_once('\n').unwrap();
    let header: serde_json::Value = serde_json::from_str(header).unwrap();
    assert_eq!(header["vario_spool"], 1);
    assert_eq!(header["events"], 3);
    assert_eq!(header["url"], "https://logx.optimizely.com/v1/events");
    let batch: EventBatch = serde_json::from_str(body).unwrap();
    let expected = EventBatch::from_events(&events).unwrap();
    assert_eq!(body, expected.to_json_string(), "the body is byte for byte what is sent");
    assert_eq!(batch, expected);
}

#[test]
fn a_truncated_or_garbage_spool_file_is_moved_aside_and_the_rest_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let events = failed_run(dir.path(), 30);
    let batches = files(dir.path(), "batch");
    assert_eq!(batches.len(), 3);
    // Cut the middle file short, as a crash in the middle of a copy would.
    let bytes = fs::read(&batches[1]).unwrap();
    fs::write(&batches[1], &bytes[..bytes.len() / 2]).unwrap();
    fs::write(dir.path().join("00000000000000000001-00000001.batch"), b"\x00\xffnot json").unwrap();
    fs::write(dir.path().join("00000000000000000002-00000001.batch"), b"").unwrap();

    let d = TestDispatcher::new();
    let p = start(spooled(dir.path()), &d);
    assert!(p.close());
    let stats = p.stats();
    assert_eq!((stats.spool_corrupt, stats.recovered_batches), (3, 2));
    let mut expected = events[..10].to_vec();
    expected.extend_from_slice(&events[20..]);
    assert_exactly_once(&d.delivered(), &expected);
    assert!(files(dir.path(), "batch").is_empty());
    let corrupt = files(dir.path(), "corrupt");
    assert_eq!(corrupt.len(), 3);
    assert!(corrupt.iter().any(|f| {
        f.to_str().unwrap().ends_with(&format!("{}.corrupt", batches[1].file_name().unwrap().to_str().unwrap()))
    }));
    // Moved aside for good: a later run leaves them alone.
    let again = TestDispatcher::new();
    drop(start(spooled(dir.path()), &again));
    assert!(again.calls().is_empty());
    assert_eq!(files(dir.path(), "corrupt").len(), 3);
}

#[test]
fn a_partial_temporary_file_left_by_a_crash_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("00000000000000000001-00000001.tmp"), b"{\"vario_spool\":1,").unwrap();
    let d = TestDispatcher::new();
    drop(start(spooled(dir.path()), &d));
    assert!(d.calls().is_empty());
    assert!(files(dir.path(), "tmp").is_empty());
}

#[test]
fn batches_refused_by_the_endpoint_are_set_aside_not_resent() {
    let dir = tempfile::tempdir().unwrap();
    let d = TestDispatcher::always(status(400));
    let center = NotificationCenter::new();
    let failed = failures(&center);
    let p = EventProcessor::start(spooled(dir.path()), d.clone(), center).unwrap();
    p.process(Maker::new("42").event("u"));
    assert!(p.close());
    assert_eq!(d.calls().len(), 1);
    let failed = failed.lock().unwrap();
    assert!(matches!(failed[0].reason, FailureReason::Rejected(_)));
    assert!(!failed[0].spooled);
    assert!(files(dir.path(), "batch").is_empty());
    assert_eq!(files(dir.path(), "rejected").len(), 1);
    let again = TestDispatcher::new();
    drop(start(spooled(dir.path()), &again));
    assert!(again.calls().is_empty());
}

#[test]
fn failed_batches_are_reported_as_spooled() {
    let dir = tempfile::tempdir().unwrap();
    let d = TestDispatcher::always(unavailable());
    let center = NotificationCenter::new();
    let failed = failures(&center);
    let p = EventProcessor::start(spooled(dir.path()), d.clone(), center).unwrap();
    let events = Maker::new("42").events("u", 2);
    for e in &events {
        p.process(e.clone());
    }
    assert!(p.close());
    let failed = failed.lock().unwrap();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].spooled);
    assert_eq!(failed[0].reason, FailureReason::Exhausted(unavailable()));
    assert_eq!(uuids(std::slice::from_ref(&failed[0].log_event)).len(), 2);
}

#[test]
fn one_processor_at_a_time_uses_a_spool_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = TestDispatcher::new();
    let first = start(spooled(dir.path()), &d);
    let second = EventProcessor::start(spooled(dir.path()), d.clone(), NotificationCenter::new());
    assert!(matches!(second, Err(ProcessorError::SpoolLocked { .. })), "{second:?}");
    drop(first);
    let third = EventProcessor::start(
        spooled(dir.path()),
        Arc::new(vario_events::CollectingDispatcher::new()),
        NotificationCenter::new(),
    );
    assert!(third.is_ok());
}

#[test]
fn a_spool_path_that_is_a_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    fs::write(&file, b"").unwrap();
    let d = TestDispatcher::new();
    let result = EventProcessor::start(spooled(&file), d, NotificationCenter::new());
    assert!(matches!(result, Err(ProcessorError::Spool { .. })), "{result:?}");
}
