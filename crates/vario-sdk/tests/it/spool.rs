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

/// A first run against a failing endpoint: the `n` events stay in the spool.
fn failed_run(dir: &Path, n: usize) -> Vec<UserEvent> {
    let d = TestDispatcher::always(unavailable());
    let p = start(spooled(dir), &d);
    let events = Maker::new("42").events("u", n);
    for e in &events {
        assert!(p.process(e.clone()));
    }
    let report = p.close();
    assert_eq!((report.delivered, report.spooled, report.dropped, report.in_flight), (0, n as u64, 0, 0));
    let stats = p.stats();
    assert_eq!((stats.failed_events, stats.unsent_events, stats.spooled_events), (0, n as u64, n as u64));
    assert_eq!(spooled_events(dir), n as u64);
    events
}

/// Events in the spool's batch files, by their record headers.
pub(crate) fn spooled_events(dir: &Path) -> u64 {
    files(dir, "batch")
        .iter()
        .flat_map(|f| {
            let text = fs::read_to_string(f).unwrap();
            text.lines()
                .step_by(2)
                .map(|header| serde_json::from_str::<serde_json::Value>(header).unwrap()["events"].as_u64().unwrap())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// A spool file of one batch per element of `batches`, in the documented format.
fn spool_file(batches: &[&[UserEvent]]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (i, events) in batches.iter().enumerate() {
        let mut header = serde_json::json!({"vario_spool": 1, "url": "https://logx.optimizely.com/v1/events", "events": events.len()});
        if i == 0 {
            header["records"] = batches.len().into();
        }
        bytes.extend_from_slice(header.to_string().as_bytes());
        bytes.push(b'\n');
        bytes.extend_from_slice(EventBatch::from_events(events).unwrap().to_json_string().as_bytes());
        bytes.push(b'\n');
    }
    bytes
}

#[test]
fn batches_a_failed_run_left_are_resent_by_the_next_processor_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let events = failed_run(dir.path(), 25);

    let d = TestDispatcher::new();
    let p = start(spooled(dir.path()), &d);
    let fresh = Maker::new("42").events("fresh", 4);
    for e in &fresh {
        p.process(e.clone());
    }
    let report = p.close();
    assert!(report.all_delivered(), "{report:?}");
    assert_eq!(report.delivered, 29);
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
fn a_running_processor_resends_its_spool_once_the_endpoint_answers_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = TestDispatcher::always(unavailable());
    let p = start(spooled(dir.path()), &d);
    let events = Maker::new("42").events("u", 25);
    for e in &events[..20] {
        assert!(p.process(e.clone()));
    }
    p.flush();
    // The endpoint is down: the batches wait in the spool and it is tried again.
    wait_until(Duration::from_secs(10), || p.stats().spool_retries >= 2);
    for e in &events[20..] {
        assert!(p.process(e.clone()));
    }
    p.flush();
    assert_eq!(p.stats().events_sent, 0);
    assert_eq!(spooled_events(dir.path()), 25);
    d.heal();
    // No close, no restart: the next retry finds it up and sends everything.
    wait_until(Duration::from_secs(10), || p.stats().events_sent == 25);
    assert_exactly_once(&d.delivered(), &events);
    assert_eq!(spooled_events(dir.path()), 0);
    let report = p.close();
    assert!(report.all_delivered(), "{report:?}");
    assert_eq!(report.delivered, 25);
}

#[test]
fn close_spools_the_queue_before_it_returns_even_with_no_time_to_deliver() {
    let dir = tempfile::tempdir().unwrap();
    let d = TestDispatcher::always(unavailable());
    let config = EventProcessorConfig { close_timeout: Duration::ZERO, batch_size: 50, ..spooled(dir.path()) };
    let p = start(config, &d);
    let events = Maker::new("42").events("u", 5_000);
    for e in &events {
        assert!(p.process(e.clone()));
    }
    let report = p.close();
    // Nothing is left in memory when close returns.
    assert_eq!((report.spooled, report.dropped, report.in_flight), (5_000 - report.delivered, 0, 0));
    assert_eq!(spooled_events(dir.path()), 5_000);
    let next = TestDispatcher::new();
    let p = start(spooled(dir.path()), &next);
    assert!(p.close().all_delivered());
    assert_exactly_once(&next.delivered(), &events);
}

#[test]
fn a_full_spool_keeps_the_oldest_batches_and_counts_the_rest_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let d = TestDispatcher::always(unavailable());
    // About 8 batches of 10 events.
    let config = EventProcessorConfig { spool_max_bytes: 40_000, ..spooled(dir.path()) };
    let p = start(config, &d);
    let events = Maker::new("42").events("u", 300);
    for e in &events[..10] {
        assert!(p.process(e.clone()));
    }
    // The first batch fails its attempts: the endpoint is down from here on.
    wait_until(Duration::from_secs(10), || p.stats().spool_retries >= 1 || d.calls().len() >= 2);
    p.flush();
    for e in &events[10..] {
        assert!(p.process(e.clone()));
    }
    let report = p.close();
    let stats = p.stats();
    assert!(stats.dropped_spool_full > 0, "{stats:?}");
    assert_eq!(report.spooled + report.dropped, 300, "{report:?}");
    assert_eq!(report.dropped, stats.dropped_spool_full);
    let size: u64 = files(dir.path(), "batch").iter().map(|f| fs::metadata(f).unwrap().len()).sum();
    assert!(size <= 40_000, "spool holds {size} bytes");
    // What was kept is the oldest, and it is delivered exactly once.
    let next = TestDispatcher::new();
    let p = start(spooled(dir.path()), &next);
    assert!(p.close().all_delivered());
    assert_exactly_once(&next.delivered(), &events[..report.spooled as usize]);
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
    let report = p.close();
    // The batch in flight is in the spool too; the rest is synced there.
    assert_eq!((report.delivered, report.spooled, report.in_flight, report.dropped), (0, 25, 10, 0));
    assert!(report.timed_out);
    assert_eq!(spooled_events(dir.path()), 35);
    // The stalled call ends (delivered, its file deleted); the worker then releases
    // the directory.
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
    assert!(next.close().all_delivered());
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
    let body = body.strip_suffix('\n').expect("each line ends with a newline");
    let header: serde_json::Value = serde_json::from_str(header).unwrap();
    assert_eq!(header["vario_spool"], 1);
    assert_eq!(header["events"], 3);
    assert_eq!(header["records"], 1);
    assert_eq!(header["url"], "https://logx.optimizely.com/v1/events");
    let batch: EventBatch = serde_json::from_str(body).unwrap();
    let expected = EventBatch::from_events(&events).unwrap();
    assert_eq!(body, expected.to_json_string(), "the body is byte for byte what is sent");
    assert_eq!(batch, expected);
}

#[test]
fn a_truncated_or_garbage_spool_file_is_moved_aside_and_the_rest_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let events = Maker::new("42").events("u", 30);
    let names = ["00000000000000000010-00000001", "00000000000000000011-00000002", "00000000000000000012-00000003"];
    for (name, chunk) in names.iter().zip(events.chunks(10)) {
        fs::write(dir.path().join(format!("{name}.batch")), spool_file(&[chunk])).unwrap();
    }
    // Cut the middle file short, as a crash in the middle of a copy would.
    let middle = dir.path().join(format!("{}.batch", names[1]));
    let bytes = fs::read(&middle).unwrap();
    fs::write(&middle, &bytes[..bytes.len() / 2]).unwrap();
    fs::write(dir.path().join("00000000000000000001-00000001.batch"), b"\x00\xffnot json").unwrap();
    fs::write(dir.path().join("00000000000000000002-00000001.batch"), b"").unwrap();

    let d = TestDispatcher::new();
    let p = start(spooled(dir.path()), &d);
    assert!(p.close().all_delivered());
    let stats = p.stats();
    assert_eq!((stats.spool_corrupt, stats.recovered_batches), (3, 2));
    let mut expected = events[..10].to_vec();
    expected.extend_from_slice(&events[20..]);
    assert_exactly_once(&d.delivered(), &expected);
    assert!(files(dir.path(), "batch").is_empty());
    let corrupt = files(dir.path(), "corrupt");
    assert_eq!(corrupt.len(), 3);
    assert!(corrupt.iter().any(|f| f.to_str().unwrap().ends_with(&format!("{}.batch.corrupt", names[1]))));
    // Moved aside for good: a later run leaves them alone.
    let again = TestDispatcher::new();
    drop(start(spooled(dir.path()), &again));
    assert!(again.calls().is_empty());
    assert_eq!(files(dir.path(), "corrupt").len(), 3);
}

#[test]
fn the_batches_before_a_damaged_tail_are_sent_and_the_file_is_kept_aside() {
    let dir = tempfile::tempdir().unwrap();
    let (cut, short) = (Maker::new("42").events("cut", 30), Maker::new("42").events("short", 30));
    // Cut inside the last batch's line.
    let whole = spool_file(&cut.chunks(10).collect::<Vec<_>>());
    fs::write(dir.path().join("00000000000000000010-00000001.batch"), &whole[..whole.len() - 40]).unwrap();
    // Cut exactly after the second record: only the first header's record count tells.
    let batches: Vec<&[UserEvent]> = short.chunks(10).collect();
    let two = spool_file(&batches[..2]).len();
    fs::write(dir.path().join("00000000000000000011-00000001.batch"), &spool_file(&batches)[..two]).unwrap();

    let d = TestDispatcher::new();
    let p = start(spooled(dir.path()), &d);
    let report = p.close();
    assert!(report.all_delivered(), "{report:?}");
    let stats = p.stats();
    assert_eq!((stats.spool_corrupt, stats.recovered_events), (2, 40));
    let mut expected = cut[..20].to_vec();
    expected.extend_from_slice(&short[..20]);
    assert_exactly_once(&d.delivered(), &expected);
    assert_eq!(files(dir.path(), "corrupt").len(), 2, "the damaged files are kept for inspection");
    assert!(files(dir.path(), "batch").is_empty());
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
    let report = p.close();
    assert_eq!((report.dropped, report.spooled), (1, 0));
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
    assert_eq!(p.close().spooled, 2);
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
