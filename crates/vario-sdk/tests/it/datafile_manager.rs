//! `PollingDatafileManager` against a real HTTP server: ETags, updates, rejection of bad
//! datafiles, backoff, the authenticated variant, waiting for the first datafile, stopping.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use vario_sdk::{DatafileManagerOptions, PollingDatafileManager};

use crate::support::Df;
use crate::support::server::{Fault, TestServer, datafile_path};

const KEY: &str = "sdk-key-1";

fn datafile(revision: &str) -> String {
    Df::new().set("revision", json!(revision)).text()
}

/// Fast polling against `server`.
fn options(server: &TestServer) -> DatafileManagerOptions {
    DatafileManagerOptions::new(KEY)
        .base_url(server.url())
        .interval(Duration::from_millis(40))
        .backoff(Duration::from_millis(20), Duration::from_millis(200))
        .timeout(Duration::from_secs(5))
}

/// A started manager and the revisions handed to `on_update`, in order.
fn start(options: DatafileManagerOptions) -> (PollingDatafileManager, Arc<Mutex<Vec<String>>>) {
    let installed = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&installed);
    let manager =
        PollingDatafileManager::start(options, move |config| seen.lock().unwrap().push(config.revision.clone()));
    (manager, installed)
}

fn revisions(installed: &Mutex<Vec<String>>) -> Vec<String> {
    installed.lock().unwrap().clone()
}

/// Polls `done` every few milliseconds for at most `timeout`.
fn eventually(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

const LONG: Duration = Duration::from_secs(5);

#[test]
fn the_first_fetch_installs_the_config() {
    let server = TestServer::start();
    server.set_datafile(KEY, &datafile("1"));
    let (manager, installed) = start(options(&server));
    assert_eq!(manager.url(), server.url_for(&datafile_path(KEY)));

    assert!(manager.wait_for_first(LONG));
    assert_eq!(manager.current().unwrap().revision, "1");
    assert_eq!(revisions(&installed), ["1"]);
    let first = &server.requests_to(&datafile_path(KEY))[0];
    assert_eq!(first.method, "GET");
    assert_eq!(first.header("if-none-match"), None);
    assert_eq!(first.header("authorization"), None);
    let stats = manager.stats();
    assert_eq!((stats.updates, stats.rejected, stats.errors), (1, 0, 0));
}

#[test]
fn an_unchanged_datafile_gets_304_and_is_not_reinstalled() {
    let server = TestServer::start();
    let path = datafile_path(KEY);
    server.set_datafile(KEY, &datafile("1"));
    let (manager, installed) = start(options(&server));
    assert!(eventually(LONG, || manager.stats().not_modified >= 2));
    manager.stop();
    // A request under way when `stop` returned still ends and is counted.
    assert!(eventually(LONG, || manager.stats().fetches as usize == server.requests_to(&path).len()));

    let etag = server.etag(&path).unwrap();
    let requests = server.requests_to(&path);
    assert_eq!(requests[0].status, Some(200));
    for later in &requests[1..] {
        assert_eq!(later.header("if-none-match"), Some(etag.as_str()));
        assert_eq!(later.status, Some(304));
    }
    assert_eq!(revisions(&installed), ["1"]);
    let stats = manager.stats();
    assert_eq!(stats.updates, 1);
    assert_eq!(stats.not_modified as usize, requests.len() - 1);
    assert_eq!(stats.fetches as usize, requests.len());
}

#[test]
fn a_304_has_no_body() {
    use std::io::{Read, Write};

    // What the manager relies on, checked on the wire: the server's 304 carries no body.
    let server = TestServer::start();
    let path = datafile_path(KEY);
    server.set_datafile(KEY, &datafile("1"));
    let etag = server.etag(&path).unwrap();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 304"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n"), "no body expected: {answer:?}");
}

#[test]
fn a_changed_datafile_is_installed_within_an_interval() {
    let server = TestServer::start();
    server.set_datafile(KEY, &datafile("1"));
    let (manager, installed) = start(options(&server).interval(Duration::from_millis(50)));
    assert!(manager.wait_for_first(LONG));

    let changed = Instant::now();
    server.set_datafile(KEY, &datafile("2"));
    assert!(eventually(LONG, || manager.current().is_some_and(|c| c.revision == "2")));
    // One interval plus scheduling slack on a busy machine.
    assert!(changed.elapsed() < Duration::from_millis(1_000), "took {:?}", changed.elapsed());
    assert_eq!(revisions(&installed), ["1", "2"]);
}

#[test]
fn the_same_revision_under_a_new_etag_is_not_reinstalled() {
    let server = TestServer::start();
    let path = datafile_path(KEY);
    server.set_datafile(KEY, &datafile("1"));
    let (manager, installed) = start(options(&server));
    assert!(manager.wait_for_first(LONG));

    // Same content, other bytes: a new ETag, so a 200, but the revision is the same.
    server.set_datafile(KEY, &format!(" {}\n", datafile("1")));
    let new_etag = server.etag(&path).unwrap();
    assert!(eventually(LONG, || manager.stats().unchanged >= 1));
    // The new ETag is then sent, and answered 304.
    assert!(eventually(LONG, || {
        server.requests_to(&path).iter().any(|r| r.header("if-none-match") == Some(new_etag.as_str()))
    }));
    manager.stop();
    assert_eq!(revisions(&installed), ["1"]);
    assert_eq!(manager.stats().updates, 1);
}

#[test]
fn an_invalid_datafile_is_rejected_and_the_last_good_config_stays() {
    let server = TestServer::start();
    let path = datafile_path(KEY);
    server.set_datafile(KEY, &datafile("1"));
    let (manager, installed) = start(options(&server));
    assert!(manager.wait_for_first(LONG));

    server.set_datafile(KEY, r#"{"version": "4", "accountId": "1""#);
    assert!(eventually(LONG, || manager.stats().rejected >= 1));
    server.set_datafile(KEY, &Df::new().set("revision", json!("2")).set("experiments", json!("nope")).text());
    assert!(eventually(LONG, || manager.stats().rejected >= 2));
    assert_eq!(manager.current().unwrap().revision, "1");
    assert_eq!(revisions(&installed), ["1"]);
    // A rejected body's ETag is not remembered: the next fetch asks for the whole file.
    let after_bad = server.requests_to(&path).into_iter().filter(|r| r.status == Some(200)).count();
    assert!(after_bad >= 3);

    // A good datafile later is installed.
    server.set_datafile(KEY, &datafile("3"));
    assert!(eventually(LONG, || manager.current().is_some_and(|c| c.revision == "3")));
    assert_eq!(revisions(&installed), ["1", "3"]);
}

#[test]
fn an_invalid_first_datafile_leaves_no_config() {
    let server = TestServer::start();
    server.set_datafile(KEY, "not json");
    let (manager, installed) = start(options(&server));
    assert!(!manager.wait_for_first(Duration::from_millis(200)));
    assert!(manager.stats().rejected >= 1);
    assert!(manager.current().is_none());
    assert!(revisions(&installed).is_empty());
}

#[test]
fn errors_back_off() {
    let server = TestServer::start();
    let path = datafile_path(KEY);
    server.set_datafile(KEY, &datafile("1"));
    server.fail(&path, Fault::status(503));
    // Without backoff this would poll every 10 ms: ~80 requests in 800 ms.
    let (manager, installed) = start(
        options(&server)
            .interval(Duration::from_millis(10))
            .backoff(Duration::from_millis(20), Duration::from_millis(160)),
    );
    std::thread::sleep(Duration::from_millis(800));

    let arrivals: Vec<Instant> = server.requests_to(&path).iter().map(|r| r.at).collect();
    // Waits of at least 10, 20, 40, 80, 80, ... ms (half the doubling ceiling, by jitter).
    assert!((3..=14).contains(&arrivals.len()), "{} requests", arrivals.len());
    let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.last().unwrap() >= &Duration::from_millis(75), "gaps {gaps:?}");
    assert!(manager.stats().errors >= 3);
    assert!(revisions(&installed).is_empty());

    // Once the server recovers, the next attempt installs the config.
    server.heal(&path);
    assert!(manager.wait_for_first(LONG));
    assert_eq!(revisions(&installed), ["1"]);
}

#[test]
fn a_dead_server_is_retried_until_it_comes_back() {
    let server = TestServer::start();
    server.set_datafile(KEY, &datafile("1"));
    server.shutdown();
    let (manager, installed) = start(options(&server));
    assert!(!manager.wait_for_first(Duration::from_millis(150)));
    assert!(manager.stats().errors >= 1);
    assert_eq!(manager.stats().fetches, 0);

    server.restart();
    assert!(manager.wait_for_first(LONG));
    assert_eq!(revisions(&installed), ["1"]);
}

#[test]
fn a_dropped_connection_counts_as_an_error() {
    let server = TestServer::start();
    server.set_datafile(KEY, &datafile("1"));
    server.fail_next(&datafile_path(KEY), 1, Fault::Drop);
    let (manager, _installed) = start(options(&server));
    assert!(manager.wait_for_first(LONG));
    assert!(manager.stats().errors >= 1);
}

#[test]
fn the_access_token_is_sent_as_a_bearer_token() {
    let server = TestServer::start();
    server.set_datafile(KEY, &datafile("1"));
    let (manager, _installed) = start(options(&server).access_token("s3cret"));
    assert!(manager.wait_for_first(LONG));
    let request = &server.requests_to(&datafile_path(KEY))[0];
    assert_eq!(request.header("authorization"), Some("Bearer s3cret"));
}

#[test]
fn a_url_template_replaces_the_base_url() {
    let server = TestServer::start();
    server.set_file(&format!("/custom/{KEY}/datafile"), &datafile("7"));
    let options = options(&server).url_template(format!("{}/custom/{{sdk_key}}/datafile", server.url()));
    let (manager, _installed) = start(options);
    assert!(manager.wait_for_first(LONG));
    assert_eq!(manager.current().unwrap().revision, "7");
}

#[test]
fn wait_for_first_returns_once_a_datafile_is_served() {
    let server = Arc::new(TestServer::start());
    let (manager, _installed) = start(options(&server));
    let later = Arc::clone(&server);
    let serving = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        later.set_datafile(KEY, &datafile("1"));
    });
    assert!(manager.wait_for_first(LONG));
    assert_eq!(manager.current().unwrap().revision, "1");
    serving.join().unwrap();
}

#[test]
fn wait_for_first_times_out_when_nothing_is_served() {
    let server = TestServer::start();
    let (manager, _installed) = start(options(&server));
    let started = Instant::now();
    assert!(!manager.wait_for_first(Duration::from_millis(200)));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(2), "{waited:?}");
    // 404s are errors.
    assert!(manager.stats().errors >= 1);
    assert!(server.requests().iter().all(|r| r.status == Some(404)));
}

#[test]
fn an_initial_datafile_is_used_until_the_first_fetch() {
    let server = TestServer::start();
    let path = datafile_path(KEY);
    server.fail(&path, Fault::status(503));
    let (manager, installed) = start(options(&server).initial_datafile(datafile("0")));
    // Installed before `start` returned.
    assert_eq!(revisions(&installed), ["0"]);
    assert!(manager.wait_for_first(Duration::ZERO));
    assert_eq!(manager.current().unwrap().revision, "0");

    server.set_datafile(KEY, &datafile("1"));
    server.heal(&path);
    assert!(eventually(LONG, || manager.current().is_some_and(|c| c.revision == "1")));
    assert_eq!(revisions(&installed), ["0", "1"]);
}

#[test]
fn an_invalid_initial_datafile_is_ignored() {
    let server = TestServer::start();
    let (manager, installed) = start(options(&server).initial_datafile("{"));
    assert!(!manager.wait_for_first(Duration::ZERO));
    assert_eq!(manager.stats().rejected, 1);
    assert!(revisions(&installed).is_empty());
}

#[test]
fn stop_returns_promptly_while_sleeping() {
    let server = TestServer::start();
    let path = datafile_path(KEY);
    server.set_datafile(KEY, &datafile("1"));
    let (manager, _installed) = start(options(&server).interval(Duration::from_secs(60)));
    assert!(manager.wait_for_first(LONG));

    let started = Instant::now();
    manager.stop();
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    assert!(manager.is_stopped());
    manager.stop(); // idempotent
    assert_eq!(server.requests_to(&path).len(), 1);
}

#[test]
fn stop_returns_promptly_during_a_request_and_nothing_is_installed_after() {
    let server = TestServer::start();
    let path = datafile_path(KEY);
    server.set_datafile(KEY, &datafile("1"));
    server.fail(&path, Fault::stall_ms(300));
    let (manager, installed) = start(options(&server));
    assert!(server.wait_for_requests(&path, 1, LONG));

    let started = Instant::now();
    manager.stop();
    assert!(started.elapsed() < Duration::from_millis(200), "{:?}", started.elapsed());
    // The stalled request completes with a good datafile, which is not installed.
    assert!(server.wait_for(LONG, |requests| requests.iter().any(|r| r.answered)));
    std::thread::sleep(Duration::from_millis(100));
    assert!(revisions(&installed).is_empty());
    assert!(manager.current().is_none());
    assert_eq!(server.requests_to(&path).len(), 1);
}

#[test]
fn dropping_the_manager_stops_polling() {
    let server = TestServer::start();
    let path = datafile_path(KEY);
    server.set_datafile(KEY, &datafile("1"));
    let (manager, _installed) = start(options(&server));
    assert!(server.wait_for_requests(&path, 2, LONG));
    drop(manager);
    let after_drop = server.requests_to(&path).len();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.requests_to(&path).len(), after_drop);
}

#[test]
fn a_panicking_listener_does_not_stop_polling() {
    let server = TestServer::start();
    server.set_datafile(KEY, &datafile("1"));
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&calls);
    let manager = PollingDatafileManager::start(options(&server), move |config| {
        seen.lock().unwrap().push(config.revision.clone());
        if config.revision == "1" {
            panic!("listener failure on purpose");
        }
    });
    assert!(manager.wait_for_first(LONG));
    server.set_datafile(KEY, &datafile("2"));
    assert!(eventually(LONG, || manager.current().is_some_and(|c| c.revision == "2")));
    assert_eq!(*calls.lock().unwrap(), ["1", "2"]);
}

#[test]
fn stop_from_inside_the_listener_does_not_deadlock() {
    let server = TestServer::start();
    server.set_datafile(KEY, &datafile("1"));
    let slot: Arc<Mutex<Option<Arc<PollingDatafileManager>>>> = Arc::default();
    let inside = Arc::clone(&slot);
    let stopped = Arc::new(Mutex::new(false));
    let flag = Arc::clone(&stopped);
    let manager =
        Arc::new(PollingDatafileManager::start(options(&server).interval(Duration::from_millis(200)), move |_| {
            // Wait for the test to hand over the manager, then stop it from here.
            assert!(eventually(LONG, || inside.lock().unwrap().is_some()));
            let manager = inside.lock().unwrap().take().unwrap();
            manager.stop();
            *flag.lock().unwrap() = true;
        }));
    *slot.lock().unwrap() = Some(Arc::clone(&manager));
    assert!(eventually(LONG, || *stopped.lock().unwrap()));
    assert!(manager.is_stopped());
    assert!(manager.wait_for_first(LONG));
}
