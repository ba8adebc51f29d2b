//! The batch event processor with real threads: batching by size, interval and
//! revision, retries and backoff, a full queue, flush and close (events.md §8–§9).
//! Also the event makers and dispatchers that `spool.rs` and `notifications.rs` use.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use vario_core::Attributes;
use vario_events::{DispatchError, EventDispatcher, EventFactory, LogEvent, UserEvent};
use vario_sdk::{
    EventProcessor, EventProcessorConfig, FailureReason, LogEventFailedNotification, NotificationCenter, ProjectConfig,
};

/// Makes conversions of the config with this revision (project `12002`).
pub(crate) struct Maker(EventFactory);

impl Maker {
    pub(crate) fn new(revision: &str) -> Self {
        let json = format!(
            r#"{{"version": "4", "accountId": "12001", "projectId": "12002", "revision": "{revision}",
            "groups": [], "experiments": [], "audiences": [], "attributes": [],
            "events": [{{"id": "90001", "key": "purchase", "experimentIds": []}}]}}"#
        );
        let config = ProjectConfig::from_json(&json).expect("test datafile is valid");
        Self(EventFactory::new(&config))
    }

    /// A conversion of `user`, with a fresh uuid.
    pub(crate) fn event(&self, user: &str) -> UserEvent {
        self.0.conversion("purchase", user, &Attributes::new(), None).expect("purchase is declared")
    }

    /// `n` conversions of users `{prefix}0`, `{prefix}1`, ...
    pub(crate) fn events(&self, prefix: &str, n: usize) -> Vec<UserEvent> {
        (0..n).map(|i| self.event(&format!("{prefix}{i}"))).collect()
    }
}

/// The uuids of the events of some batches.
pub(crate) fn uuids(batches: &[LogEvent]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| b.params().visitors.iter())
        .flat_map(|v| v.snapshots.iter().flat_map(|s| s.events.iter()))
        .map(|e| e.uuid.to_string())
        .collect()
}

/// Asserts each uuid of `expected` occurs exactly once in `batches`, and nothing else.
pub(crate) fn assert_exactly_once(batches: &[LogEvent], expected: &[UserEvent]) {
    let got = uuids(batches);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for uuid in &got {
        *counts.entry(uuid).or_default() += 1;
    }
    let duplicates: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicates.is_empty(), "sent more than once: {duplicates:?}");
    let expected: HashSet<&str> = expected.iter().map(UserEvent::uuid).collect();
    let got: HashSet<&str> = got.iter().map(String::as_str).collect();
    assert_eq!(got.len(), expected.len(), "delivered {} distinct events, expected {}", got.len(), expected.len());
    assert_eq!(got, expected);
}

/// A test config: short backoffs. The flush interval is long, so that a slow machine
/// cannot split batches by time; the interval tests set a short one.
pub(crate) fn fast_config() -> EventProcessorConfig {
    EventProcessorConfig {
        batch_size: 10,
        flush_interval: Duration::from_secs(60),
        queue_capacity: 10_000,
        close_timeout: Duration::from_secs(5),
        max_attempts: 4,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        spool_dir: None,
        spool_max_bytes: EventProcessorConfig::DEFAULT_SPOOL_MAX_BYTES,
    }
}

/// One dispatch call as the test dispatcher saw it.
#[derive(Clone)]
pub(crate) struct Call {
    pub(crate) at: Instant,
    pub(crate) log_event: LogEvent,
    pub(crate) answered: Result<(), DispatchError>,
}

/// A dispatcher that answers from a script (then `Ok`), records every call, and can
/// be stalled: while the gate is shut, calls block until it opens.
#[derive(Default)]
pub(crate) struct TestDispatcher {
    script: Mutex<VecDeque<Result<(), DispatchError>>>,
    /// Answer once the script is used up; `None` = `Ok`.
    otherwise: Mutex<Option<DispatchError>>,
    calls: Mutex<Vec<Call>>,
    gate: Mutex<bool>,
    gate_changed: Condvar,
    in_call: AtomicUsize,
    /// Each call also sleeps this long.
    delay: Mutex<Duration>,
}

impl TestDispatcher {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Fails the next calls with these errors, then succeeds.
    pub(crate) fn failing(errors: Vec<DispatchError>) -> Arc<Self> {
        let d = Self::new();
        d.script.lock().unwrap().extend(errors.into_iter().map(Err));
        d
    }

    /// Fails every call with `error`.
    pub(crate) fn always(error: DispatchError) -> Arc<Self> {
        let d = Self::new();
        *d.otherwise.lock().unwrap() = Some(error);
        d
    }

    /// Sleeps `delay` in every call.
    pub(crate) fn slow(delay: Duration) -> Arc<Self> {
        let d = Self::new();
        *d.delay.lock().unwrap() = delay;
        d
    }

    /// From now on, answers `Ok` once the script is used up.
    pub(crate) fn heal(&self) {
        *self.otherwise.lock().unwrap() = None;
    }

    /// Shuts the gate: calls block until [`TestDispatcher::open`].
    pub(crate) fn stall(&self) {
        *self.gate.lock().unwrap() = true;
    }

    pub(crate) fn open(&self) {
        *self.gate.lock().unwrap() = false;
        self.gate_changed.notify_all();
    }

    /// Every call so far.
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The batches delivered (calls answered `Ok`).
    pub(crate) fn delivered(&self) -> Vec<LogEvent> {
        self.calls().into_iter().filter(|c| c.answered.is_ok()).map(|c| c.log_event).collect()
    }

    /// Waits until `n` calls are blocked in the dispatcher or done.
    pub(crate) fn wait_for_calls(&self, n: usize) {
        wait_until(Duration::from_secs(10), || self.in_call.load(Ordering::SeqCst) >= n);
    }
}

impl EventDispatcher for TestDispatcher {
    fn dispatch(&self, event: &LogEvent) -> Result<(), DispatchError> {
        self.in_call.fetch_add(1, Ordering::SeqCst);
        let mut shut = self.gate.lock().unwrap();
        while *shut {
            shut = self.gate_changed.wait(shut).unwrap();
        }
        drop(shut);
        let delay = *self.delay.lock().unwrap();
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let answer = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| self.otherwise.lock().unwrap().clone().map_or(Ok(()), Err));
        self.calls.lock().unwrap().push(Call {
            at: Instant::now(),
            log_event: event.clone(),
            answered: answer.clone(),
        });
        answer
    }
}

/// Polls `done` until it holds; panics after `limit`.
pub(crate) fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "condition not reached within {limit:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub(crate) fn unavailable() -> DispatchError {
    DispatchError::Status { url: "http://127.0.0.1/v1/events".into(), status: 503, retry_after: None }
}

pub(crate) fn status(status: u16) -> DispatchError {
    DispatchError::Status { url: "http://127.0.0.1/v1/events".into(), status, retry_after: None }
}

pub(crate) fn start(config: EventProcessorConfig, dispatcher: &Arc<TestDispatcher>) -> EventProcessor {
    EventProcessor::start(config, dispatcher.clone(), NotificationCenter::new()).expect("processor starts")
}

/// Records the failed-batch notifications.
pub(crate) fn failures(center: &NotificationCenter) -> Arc<Mutex<Vec<LogEventFailedNotification>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    center.add_log_event_failed_listener(move |n| sink.lock().unwrap().push(n.clone()));
    seen
}

fn sizes(batches: &[LogEvent]) -> Vec<usize> {
    batches.iter().map(|b| b.params().visitors.len()).collect()
}

#[test]
fn every_processed_event_is_delivered_exactly_once_after_close() {
    let d = TestDispatcher::new();
    let config = EventProcessorConfig { batch_size: 7, flush_interval: Duration::from_millis(20), ..fast_config() };
    let p = Arc::new(start(config, &d));
    let maker = Arc::new(Maker::new("42"));
    let all: Vec<UserEvent> = (0..4)
        .map(|t| {
            let (p, maker) = (p.clone(), maker.clone());
            std::thread::spawn(move || {
                let events = maker.events(&format!("t{t}-"), 2_500);
                for e in &events {
                    assert!(p.process(e.clone()));
                }
                events
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert!(p.close().all_delivered(), "close delivered everything in time");
    let delivered = d.delivered();
    assert_exactly_once(&delivered, &all);
    assert!(delivered.iter().all(|b| b.params().visitors.len() <= 7));
    let stats = p.stats();
    assert_eq!(stats.enqueued, 10_000);
    assert_eq!(stats.events_sent, 10_000);
    assert_eq!(stats.batches_sent, delivered.len() as u64);
    assert_eq!(stats.dropped(), 0);
    assert_eq!((stats.queued, stats.failed_events, stats.unsent_events), (0, 0, 0));
}

#[test]
fn batches_are_cut_at_batch_size_and_flush_sends_the_rest() {
    let d = TestDispatcher::new();
    // Only the size and the flush cut batches here.
    let p = start(EventProcessorConfig { batch_size: 5, ..fast_config() }, &d);
    let events = Maker::new("42").events("u", 12);
    for e in &events {
        assert!(p.process(e.clone()));
    }
    wait_until(Duration::from_secs(5), || d.delivered().len() == 2);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(sizes(&d.delivered()), [5, 5], "the partial batch waits for its interval");
    p.flush();
    let delivered = d.delivered();
    assert_eq!(sizes(&delivered), [5, 5, 2]);
    // Order is kept within and across batches.
    let users: Vec<_> =
        delivered.iter().flat_map(|b| b.params().visitors.iter().map(|v| v.visitor_id.to_string())).collect();
    assert_eq!(users, (0..12).map(|i| format!("u{i}")).collect::<Vec<_>>());
    assert_exactly_once(&delivered, &events);
}

#[test]
fn a_partial_batch_is_sent_when_its_flush_interval_passes() {
    let d = TestDispatcher::new();
    let p =
        start(EventProcessorConfig { batch_size: 100, flush_interval: Duration::from_millis(40), ..fast_config() }, &d);
    let events = Maker::new("42").events("u", 3);
    let started = Instant::now();
    for e in &events {
        p.process(e.clone());
    }
    wait_until(Duration::from_secs(5), || d.delivered().len() == 1);
    assert!(started.elapsed() >= Duration::from_millis(40), "not before the interval");
    assert_eq!(sizes(&d.delivered()), [3]);
    // A new batch starts a new interval.
    let more = Maker::new("42").events("v", 2);
    for e in &more {
        p.process(e.clone());
    }
    wait_until(Duration::from_secs(5), || d.delivered().len() == 2);
    assert_eq!(sizes(&d.delivered()), [3, 2]);
    assert!(p.close().all_delivered());
}

#[test]
fn events_of_another_revision_or_project_never_share_a_batch() {
    let d = TestDispatcher::new();
    let p = start(fast_config(), &d);
    let (r42, r43) = (Maker::new("42"), Maker::new("43"));
    let order = [&r42, &r42, &r43, &r43, &r43, &r42];
    for (i, maker) in order.iter().enumerate() {
        assert!(p.process(maker.event(&format!("u{i}"))));
    }
    p.flush();
    let delivered = d.delivered();
    assert_eq!(sizes(&delivered), [2, 3, 1]);
    let revisions: Vec<&str> = delivered.iter().map(|b| b.params().revision.as_str()).collect();
    assert_eq!(revisions, ["42", "43", "42"]);
    for batch in &delivered {
        assert_eq!(batch.params().project_id, "12002");
    }
}

#[test]
fn retryable_failures_are_retried_with_growing_backoff_then_delivered_once() {
    let d = TestDispatcher::failing(vec![unavailable(), unavailable()]);
    let config = EventProcessorConfig {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_secs(1),
        ..fast_config()
    };
    let p = start(config, &d);
    let events = Maker::new("42").events("u", 3);
    for e in &events {
        p.process(e.clone());
    }
    p.flush();
    let calls = d.calls();
    assert_eq!(calls.len(), 3);
    // Equal jitter waits at least half of 20 ms, then half of 40 ms.
    assert!(calls[1].at - calls[0].at >= Duration::from_millis(10), "first backoff");
    assert!(calls[2].at - calls[1].at >= Duration::from_millis(20), "second backoff doubles");
    assert_exactly_once(&d.delivered(), &events);
    let stats = p.stats();
    assert_eq!((stats.retried_attempts, stats.batches_sent, stats.failed_batches), (2, 1, 0));
}

#[test]
fn transport_errors_are_retried() {
    let reset = DispatchError::Transport { url: "http://127.0.0.1/v1/events".into(), reason: "reset".into() };
    let d = TestDispatcher::failing(vec![reset]);
    let p = start(fast_config(), &d);
    p.process(Maker::new("42").event("u"));
    p.flush();
    assert_eq!(d.calls().len(), 2);
    assert_eq!(d.delivered().len(), 1);
}

#[test]
fn retries_stop_after_max_attempts_then_the_batch_is_counted_failed_and_notified() {
    let d = TestDispatcher::always(unavailable());
    let center = NotificationCenter::new();
    let failed = failures(&center);
    let config = EventProcessorConfig { max_attempts: 3, batch_size: 2, ..fast_config() };
    let p = EventProcessor::start(config, d.clone(), center).unwrap();
    let events = Maker::new("42").events("u", 2);
    for e in &events {
        p.process(e.clone());
    }
    p.flush();
    assert_eq!(d.calls().len(), 3, "1 attempt + 2 retries");
    let stats = p.stats();
    assert_eq!((stats.failed_batches, stats.failed_events, stats.retried_attempts), (1, 2, 2));
    assert_eq!((stats.batches_sent, stats.events_sent), (0, 0));
    let failed = failed.lock().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attempts, 3);
    assert_eq!(failed[0].reason, FailureReason::Exhausted(unavailable()));
    assert!(!failed[0].spooled);
    assert_eq!(uuids(std::slice::from_ref(&failed[0].log_event)), uuids(&[d.calls()[0].log_event.clone()]));
    // The processor goes on with the next batches.
    drop(failed);
    assert_eq!(p.close().dropped, 2, "the failed batch is lost: there is no spool");
}

#[test]
fn client_errors_are_not_retried() {
    for code in [400, 401, 404, 413] {
        let d = TestDispatcher::always(status(code));
        let center = NotificationCenter::new();
        let failed = failures(&center);
        let p = EventProcessor::start(fast_config(), d.clone(), center).unwrap();
        p.process(Maker::new("42").event("u"));
        p.flush();
        assert_eq!(d.calls().len(), 1, "status {code} is not retried");
        assert_eq!(p.stats().failed_batches, 1);
        assert_eq!(p.stats().retried_attempts, 0);
        assert_eq!(failed.lock().unwrap()[0].reason, FailureReason::Rejected(status(code)));
    }
}

#[test]
fn too_many_requests_is_retried_after_the_retry_after_delay() {
    let throttled = DispatchError::Status {
        url: "http://127.0.0.1/v1/events".into(),
        status: 429,
        retry_after: Some(Duration::from_millis(80)),
    };
    let d = TestDispatcher::failing(vec![throttled]);
    let config = EventProcessorConfig {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_secs(1),
        ..fast_config()
    };
    let p = start(config, &d);
    p.process(Maker::new("42").event("u"));
    p.flush();
    let calls = d.calls();
    assert_eq!(calls.len(), 2);
    assert!(calls[1].at - calls[0].at >= Duration::from_millis(80), "waited for Retry-After");
    assert_eq!(d.delivered().len(), 1);
}

#[test]
fn a_retry_after_beyond_max_backoff_is_cut_to_it() {
    let throttled = DispatchError::Status {
        url: "http://127.0.0.1/v1/events".into(),
        status: 503,
        retry_after: Some(Duration::from_secs(3600)),
    };
    let d = TestDispatcher::failing(vec![throttled]);
    let p = start(EventProcessorConfig { max_backoff: Duration::from_millis(30), ..fast_config() }, &d);
    p.process(Maker::new("42").event("u"));
    let started = Instant::now();
    p.flush();
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(d.delivered().len(), 1);
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let d = TestDispatcher::new();
    d.stall();
    let config = EventProcessorConfig { batch_size: 1, queue_capacity: 20, ..fast_config() };
    let p = start(config, &d);
    let maker = Maker::new("42");
    let first = maker.event("first");
    assert!(p.process(first.clone()));
    // The worker is now stuck in the dispatcher with the first batch.
    d.wait_for_calls(1);
    let events = maker.events("u", 1_000);
    let started = Instant::now();
    let accepted: Vec<UserEvent> = events.iter().filter(|e| p.process((*e).clone())).cloned().collect();
    let took = started.elapsed();
    // Exactly what fits in the queue got in; every other call returned at once.
    assert_eq!(accepted.len(), 20);
    let stats = p.stats();
    assert_eq!(stats.dropped_queue_full, 980);
    assert_eq!(stats.queued, 20);
    assert_eq!(stats.enqueued, 21);
    eprintln!("1,000 process() calls against a stalled endpoint took {took:?}");
    d.open();
    assert!(p.close().all_delivered());
    let mut expected = vec![first];
    expected.extend(accepted);
    assert_exactly_once(&d.delivered(), &expected);
    assert_eq!(p.stats().events_sent, 21);
}

#[test]
fn close_returns_within_its_timeout_when_the_endpoint_keeps_failing() {
    let d = TestDispatcher::always(unavailable());
    let center = NotificationCenter::new();
    let failed = failures(&center);
    let config = EventProcessorConfig {
        close_timeout: Duration::from_millis(150),
        initial_backoff: Duration::from_secs(5),
        max_backoff: Duration::from_secs(5),
        batch_size: 5,
        ..fast_config()
    };
    let p = EventProcessor::start(config, d.clone(), center).unwrap();
    for e in Maker::new("42").events("u", 12) {
        p.process(e);
    }
    d.wait_for_calls(1);
    // The worker now sits in a 2.5–5 s backoff.
    let started = Instant::now();
    assert!(!p.close().all_delivered(), "close timed out");
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1_500), "close took {took:?}");
    wait_until(Duration::from_secs(5), || p.stats().unsent_events == 12);
    let stats = p.stats();
    assert_eq!((stats.unsent_batches, stats.events_sent, stats.failed_events), (3, 0, 0));
    wait_until(Duration::from_secs(5), || failed.lock().unwrap().len() == 3);
    assert!(failed.lock().unwrap().iter().all(|f| f.reason == FailureReason::CloseTimeout));
    // Later closes answer the same at once.
    assert!(!p.close().all_delivered());
}

#[test]
fn close_returns_within_its_timeout_when_the_endpoint_stalls() {
    let d = TestDispatcher::slow(Duration::from_millis(300));
    let config = EventProcessorConfig { close_timeout: Duration::from_millis(100), batch_size: 1, ..fast_config() };
    let p = start(config, &d);
    for e in Maker::new("42").events("u", 10) {
        p.process(e);
    }
    d.wait_for_calls(1);
    let started = Instant::now();
    assert!(!p.close().all_delivered());
    // A call in progress cannot be interrupted; close does not wait for it.
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1_000), "close took {took:?}");
    // The call in progress ends; nothing else starts after the deadline.
    wait_until(Duration::from_secs(5), || p.stats().unsent_events + p.stats().events_sent == 10);
    assert!(p.stats().events_sent <= 2);
}

#[test]
fn close_is_idempotent_and_events_after_it_are_dropped_and_counted() {
    let d = TestDispatcher::new();
    let p = start(fast_config(), &d);
    let maker = Maker::new("42");
    assert!(p.process(maker.event("before")));
    assert!(p.close().all_delivered());
    assert!(p.is_closed());
    assert!(p.close().all_delivered());
    assert!(!p.process(maker.event("after")));
    p.flush(); // returns at once
    let stats = p.stats();
    assert_eq!((stats.events_sent, stats.dropped_closed, stats.enqueued), (1, 1, 1));
    assert_eq!(d.delivered().len(), 1);
}

#[test]
fn dropping_the_processor_delivers_what_is_queued() {
    let d = TestDispatcher::new();
    let events = Maker::new("42").events("u", 25);
    {
        let p = start(fast_config(), &d);
        for e in &events {
            p.process(e.clone());
        }
    }
    assert_exactly_once(&d.delivered(), &events);
}

#[test]
fn flush_from_several_threads_delivers_each_threads_events() {
    let d = TestDispatcher::new();
    let p = Arc::new(start(fast_config(), &d));
    let maker = Arc::new(Maker::new("42"));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (p, d, maker) = (p.clone(), d.clone(), maker.clone());
            std::thread::spawn(move || {
                for round in 0..20 {
                    let mine = maker.events(&format!("t{t}r{round}-"), 3);
                    for e in &mine {
                        p.process(e.clone());
                    }
                    p.flush();
                    let sent: HashSet<String> = uuids(&d.delivered()).into_iter().collect();
                    assert!(mine.iter().all(|e| sent.contains(e.uuid())), "flush returned before delivery");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(p.close().all_delivered());
    assert_eq!(p.stats().events_sent, 4 * 20 * 3);
}

#[test]
fn a_panicking_dispatcher_fails_its_batch_and_the_processor_goes_on() {
    struct Panicky(AtomicUsize, Arc<TestDispatcher>);
    impl EventDispatcher for Panicky {
        fn dispatch(&self, event: &LogEvent) -> Result<(), DispatchError> {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("dispatcher bug");
            }
            self.1.dispatch(event)
        }
    }
    let d = TestDispatcher::new();
    let p = EventProcessor::start(
        EventProcessorConfig { batch_size: 1, ..fast_config() },
        Arc::new(Panicky(AtomicUsize::new(0), d.clone())),
        NotificationCenter::new(),
    )
    .unwrap();
    let events = Maker::new("42").events("u", 3);
    for e in &events {
        p.process(e.clone());
    }
    let report = p.close();
    assert_eq!((report.delivered, report.dropped), (2, 1));
    let stats = p.stats();
    assert_eq!((stats.failed_batches, stats.retried_attempts, stats.events_sent), (1, 0, 2));
    assert_exactly_once(&d.delivered(), &events[1..]);
}

#[test]
fn invalid_settings_fall_back_to_defaults() {
    let d = TestDispatcher::new();
    let config = EventProcessorConfig {
        batch_size: 0,
        flush_interval: Duration::ZERO,
        queue_capacity: 0,
        max_attempts: 0,
        ..fast_config()
    };
    let p = start(config, &d);
    let used = p.config();
    assert_eq!((used.batch_size, used.queue_capacity, used.max_attempts), (10, 10_000, 4));
    assert_eq!(used.flush_interval, Duration::from_secs(1));
    assert_eq!(
        (EventProcessorConfig::default().batch_size, EventProcessorConfig::default().close_timeout),
        (10, Duration::from_secs(5))
    );
    p.process(Maker::new("42").event("u"));
    assert!(p.close().all_delivered());
    assert_eq!(d.delivered().len(), 1);
}

#[test]
fn the_log_event_notification_fires_once_per_batch_before_its_first_attempt() {
    let d = TestDispatcher::failing(vec![unavailable()]);
    let center = NotificationCenter::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    center.add_log_event_listener(move |batch| sink.lock().unwrap().push(batch.clone()));
    let p = EventProcessor::start(EventProcessorConfig { batch_size: 2, ..fast_config() }, d.clone(), center).unwrap();
    let events = Maker::new("42").events("u", 4);
    for e in &events {
        p.process(e.clone());
    }
    assert!(p.close().all_delivered());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "one per batch, retries excluded");
    assert_eq!(d.calls().len(), 3);
    assert_exactly_once(&seen, &events);
}
