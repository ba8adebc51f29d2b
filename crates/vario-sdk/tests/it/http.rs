//! `HttpEventDispatcher` against a real HTTP server: bodies, gzip, headers, and how each
//! kind of failure maps to a `DispatchError` (events.md §1, §9).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use vario_events::{EventFactory, LogEvent};
use vario_sdk::{Attributes, DispatchError, EventDispatcher, HttpEventDispatcher, ProjectConfig};

use crate::support::Df;
use crate::support::server::{EVENTS_PATH, Fault, TestServer};

/// A batch of two conversions, one with tags, sent to `url`.
fn batch(url: &str) -> LogEvent {
    let config = ProjectConfig::from_json(&Df::new().event("90001", "purchase").text()).unwrap();
    let factory = EventFactory::new(&config);
    let tags = json!({"revenue": 1000, "value": "3.5", "note": "ünïcödé"});
    let events = vec![
        factory.conversion("purchase", "user-1", &Attributes::new(), None).unwrap(),
        factory.conversion("purchase", "user-2", &Attributes::new(), tags.as_object()).unwrap(),
    ];
    let mut event = LogEvent::from_events(&events).unwrap();
    event.url = url.to_owned().into();
    event
}

fn body_json(event: &LogEvent) -> Value {
    serde_json::from_slice(&event.to_json_bytes()).unwrap()
}

fn dispatcher_to(server: &TestServer) -> HttpEventDispatcher {
    HttpEventDispatcher::builder().endpoint(server.events_url()).timeout(Duration::from_secs(5)).build().unwrap()
}

#[test]
fn posts_exactly_the_batch_body_as_json() {
    let server = TestServer::start();
    let event = batch("https://logx.optimizely.com/v1/events");
    dispatcher_to(&server).dispatch(&event).unwrap();

    let requests = server.requests_to(EVENTS_PATH);
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("content-encoding"), None);
    assert!(!request.gzipped);
    assert_eq!(request.json(), body_json(&event));
    assert_eq!(request.body, event.to_json_bytes(), "the bytes, not just the JSON value");
}

#[test]
fn without_an_endpoint_each_batch_goes_to_its_own_url() {
    let server = TestServer::start();
    let event = batch(&server.url_for("/own/path"));
    HttpEventDispatcher::new().dispatch(&event).unwrap();
    let requests = server.requests_to("/own/path");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].json(), body_json(&event));
}

#[test]
fn gzip_compresses_the_body_and_says_so() {
    let server = TestServer::start();
    let dispatcher = HttpEventDispatcher::builder().endpoint(server.events_url()).gzip(true).build().unwrap();
    assert!(dispatcher.gzip());
    let event = batch("unused");
    dispatcher.dispatch(&event).unwrap();

    let request = &server.requests_to(EVENTS_PATH)[0];
    assert_eq!(request.header("content-encoding"), Some("gzip"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert!(request.gzipped);
    assert!(request.wire_len < event.to_json_bytes().len(), "{} bytes on the wire", request.wire_len);
    assert_eq!(request.json(), body_json(&event));
}

#[test]
fn extra_headers_are_sent() {
    let server = TestServer::start();
    let dispatcher = HttpEventDispatcher::builder()
        .endpoint(server.events_url())
        .header("X-Api-Key", "k-123")
        .header("X-Trace", "t")
        .build()
        .unwrap();
    dispatcher.dispatch(&batch("unused")).unwrap();
    let request = &server.requests_to(EVENTS_PATH)[0];
    assert_eq!(request.header("x-api-key"), Some("k-123"));
    assert_eq!(request.header("x-trace"), Some("t"));
    assert_eq!(request.header("content-type"), Some("application/json"));
}

#[test]
fn status_503_is_a_retryable_status_error() {
    let server = TestServer::start();
    server.fail(EVENTS_PATH, Fault::status(503));
    let err = dispatcher_to(&server).dispatch(&batch("unused")).unwrap_err();
    assert_eq!(err, DispatchError::Status { url: server.events_url(), status: 503, retry_after: None });
    assert!(err.is_retryable());
}

#[test]
fn status_429_carries_retry_after_in_seconds() {
    let server = TestServer::start();
    server.fail_next(EVENTS_PATH, 1, Fault::retry_after(429, "7"));
    let dispatcher = dispatcher_to(&server);
    let err = dispatcher.dispatch(&batch("unused")).unwrap_err();
    assert_eq!(
        err,
        DispatchError::Status { url: server.events_url(), status: 429, retry_after: Some(Duration::from_secs(7)) }
    );
    assert!(err.is_retryable());
    // One attempt per call: the fault was for one request, so the next call succeeds.
    dispatcher.dispatch(&batch("unused")).unwrap();
    assert_eq!(server.requests_to(EVENTS_PATH).len(), 2);
}

#[test]
fn retry_after_as_an_http_date() {
    let server = TestServer::start();
    let at = SystemTime::now() + Duration::from_secs(120);
    server.fail(EVENTS_PATH, Fault::retry_after(503, &httpdate::fmt_http_date(at)));
    let err = dispatcher_to(&server).dispatch(&batch("unused")).unwrap_err();
    let DispatchError::Status { status: 503, retry_after: Some(wait), .. } = err else { panic!("{err:?}") };
    // The date has one-second resolution and the request took a moment.
    assert!(wait > Duration::from_secs(115) && wait <= Duration::from_secs(120), "{wait:?}");
}

#[test]
fn client_errors_are_not_retryable() {
    let server = TestServer::start();
    server.fail(EVENTS_PATH, Fault::status(400));
    let err = dispatcher_to(&server).dispatch(&batch("unused")).unwrap_err();
    assert!(matches!(err, DispatchError::Status { status: 400, retry_after: None, .. }), "{err:?}");
    assert!(!err.is_retryable());
}

#[test]
fn redirects_are_not_followed() {
    // Following a 302 would re-send the batch as a GET without its body.
    let server = TestServer::start();
    server.fail(EVENTS_PATH, Fault::status(302));
    let err = dispatcher_to(&server).dispatch(&batch("unused")).unwrap_err();
    assert!(matches!(err, DispatchError::Status { status: 302, .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn the_user_agent_names_the_sdk() {
    let server = TestServer::start();
    dispatcher_to(&server).dispatch(&batch("unused")).unwrap();
    let agent = server.requests()[0].header("user-agent").unwrap().to_owned();
    assert!(agent.starts_with("vario-rust-sdk/"), "{agent}");
}

#[test]
fn a_stalled_server_hits_the_timeout_as_a_transport_error() {
    let server = TestServer::start();
    server.fail(EVENTS_PATH, Fault::stall_ms(3_000));
    let dispatcher = HttpEventDispatcher::builder()
        .endpoint(server.events_url())
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = dispatcher.dispatch(&batch("unused")).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, DispatchError::Transport { ref url, .. } if *url == server.events_url()), "{err:?}");
    assert!(err.is_retryable());
    assert!(took >= Duration::from_millis(150) && took < Duration::from_millis(2_000), "took {took:?}");
}

#[test]
fn a_closed_port_is_a_transport_error() {
    // A port that was free a moment ago and has no listener now.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/v1/events");
    let dispatcher = HttpEventDispatcher::builder().endpoint(&url).build().unwrap();
    let started = Instant::now();
    let err = dispatcher.dispatch(&batch("unused")).unwrap_err();
    assert!(matches!(err, DispatchError::Transport { url: ref u, .. } if *u == url), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_dropped_connection_is_a_transport_error() {
    let server = TestServer::start();
    server.fail_next(EVENTS_PATH, 1, Fault::Drop);
    let dispatcher = dispatcher_to(&server);
    let err = dispatcher.dispatch(&batch("unused")).unwrap_err();
    assert!(matches!(err, DispatchError::Transport { .. }), "{err:?}");
    dispatcher.dispatch(&batch("unused")).unwrap();
    let requests = server.requests_to(EVENTS_PATH);
    assert_eq!(requests.iter().map(|r| r.status).collect::<Vec<_>>(), [None, Some(204)]);
    assert_eq!(server.delivered(EVENTS_PATH).len(), 1);
}

#[test]
fn a_restarted_server_is_reached_again() {
    let server = TestServer::start();
    let dispatcher = dispatcher_to(&server);
    dispatcher.dispatch(&batch("unused")).unwrap();
    server.shutdown();
    let err = dispatcher.dispatch(&batch("unused")).unwrap_err();
    assert!(matches!(err, DispatchError::Transport { .. }), "{err:?}");
    server.restart();
    dispatcher.dispatch(&batch("unused")).unwrap();
    assert_eq!(server.delivered(EVENTS_PATH).len(), 2);
}

#[test]
fn one_dispatcher_serves_many_threads() {
    let server = TestServer::start();
    let dispatcher = Arc::new(dispatcher_to(&server));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let dispatcher = Arc::clone(&dispatcher);
            std::thread::spawn(move || {
                for _ in 0..10 {
                    dispatcher.dispatch(&batch("unused")).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(server.delivered(EVENTS_PATH).len(), 40);
}
