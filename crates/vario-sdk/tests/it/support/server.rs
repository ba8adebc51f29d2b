//! A real HTTP/1.1 server on `127.0.0.1` for end-to-end tests of the SDK's network code.
//!
//! It runs its own single-threaded tokio runtime on its own thread, so the blocking code
//! under test (event dispatch, datafile polling) talks to it from the test's thread or the
//! SDK's threads like it would to any server.
//!
//! # What it answers
//! - `GET` (or `HEAD`) of a path set with [`TestServer::set_file`] /
//!   [`TestServer::set_datafile`] (`/datafiles/{sdk_key}.json`): `200` with the text, an
//!   `ETag` (a hash of the text, so unchanged text keeps its ETag) and
//!   `Content-Type: application/json`; `304 Not Modified` with no body when
//!   `If-None-Match` names that ETag (or `*`). Any other `GET`: `404`.
//! - `POST` to any path (events go to `/v1/events`, [`TestServer::events_url`]): `204`.
//! - Anything else: `405`.
//!
//! # Faults, per path (`"*"` matches every path)
//! [`TestServer::fail`] applies a [`Fault`] to every request until [`TestServer::heal`];
//! [`TestServer::fail_next`] to the next `n` requests only. The first matching rule wins.
//! - [`Fault::status`]`(503)`: answer that status with an empty body.
//! - [`Fault::retry_after`]`(429, "2")`: that status with a `Retry-After` header.
//! - [`Fault::Stall`]`(d)`: wait `d`, then answer normally.
//! - [`Fault::Drop`]: close the connection without answering.
//!
//! # What it recorded
//! Every request is recorded when it arrives, before any fault: [`Recorded`] has the
//! method, path, query, headers (names lower-case), body (un-gzipped when the request had
//! `Content-Encoding: gzip`; `gzipped` says so), the status planned (`None` when dropped)
//! and whether the answer was actually given (`answered`: false while stalling, or when a
//! stall was cut by [`TestServer::shutdown`]). Read with [`TestServer::requests`],
//! [`TestServer::requests_to`], [`TestServer::delivered`] (JSON bodies of `POST`s to a
//! path that were answered 2xx: what a client can count as delivered), wait with
//! [`TestServer::wait_for`] / [`TestServer::wait_for_requests`], and forget with
//! [`TestServer::clear_requests`].
//!
//! # Lifecycle
//! [`TestServer::start`] binds `127.0.0.1:0`; [`TestServer::url`] is `http://127.0.0.1:PORT`.
//! [`TestServer::shutdown`] closes the listener and every open connection (stalled requests
//! included): clients then get "connection refused". [`TestServer::restart`] listens on the
//! same port again, keeping files, faults and records. Dropping the server shuts it down.
//!
//! ```ignore
//! let server = TestServer::start();
//! server.set_datafile("key1", &datafile_text);
//! server.fail_next("/v1/events", 2, Fault::retry_after(429, "1"));
//! // ... point the SDK at server.url() / server.events_url() ...
//! assert!(server.wait_for_requests("/v1/events", 3, Duration::from_secs(5)));
//! assert_eq!(server.delivered("/v1/events").len(), 1);
//! ```

// Not every test uses every helper.
#![allow(dead_code)]

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use axum::{Extension, Router};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Notify, oneshot};

/// Where events are posted by convention.
pub(crate) const EVENTS_PATH: &str = "/v1/events";

/// The path a datafile of `sdk_key` is served at (Optimizely's CDN layout).
pub(crate) fn datafile_path(sdk_key: &str) -> String {
    format!("/datafiles/{sdk_key}.json")
}

/// What the server does instead of answering normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Answer `status` (with `Retry-After: retry_after` if given) and an empty body.
    Status { status: u16, retry_after: Option<String> },
    /// Wait this long, then answer normally.
    Stall(Duration),
    /// Close the connection without answering.
    Drop,
}

impl Fault {
    /// Answer `status` with an empty body.
    pub(crate) fn status(status: u16) -> Self {
        Self::Status { status, retry_after: None }
    }

    /// Answer `status` with `Retry-After: {retry_after}` (seconds or an HTTP-date).
    pub(crate) fn retry_after(status: u16, retry_after: &str) -> Self {
        Self::Status { status, retry_after: Some(retry_after.to_owned()) }
    }

    /// Wait `ms` milliseconds, then answer normally.
    pub(crate) fn stall_ms(ms: u64) -> Self {
        Self::Stall(Duration::from_millis(ms))
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// Arrival order, from 0, over the server's life.
    pub(crate) seq: u64,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    /// Names lower-case, in arrival order.
    pub(crate) headers: Vec<(String, String)>,
    /// The body, un-gzipped when `gzipped`.
    pub(crate) body: Vec<u8>,
    /// The request said `Content-Encoding: gzip` (and `body` is the decompressed bytes).
    pub(crate) gzipped: bool,
    /// The size of the body as sent.
    pub(crate) wire_len: usize,
    /// The fault applied, if any.
    pub(crate) fault: Option<Fault>,
    /// The status planned; `None` when the connection was dropped.
    pub(crate) status: Option<u16>,
    /// The answer was handed to the connection (not still stalling, not cut by shutdown).
    pub(crate) answered: bool,
    pub(crate) at: Instant,
}

impl Recorded {
    /// The first value of header `name` (any case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics when it is not.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body of {} {} is not JSON ({e}): {}", self.method, self.path, self.text()))
    }

    /// The body as text (lossy).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Answered with a 2xx status.
    pub(crate) fn succeeded(&self) -> bool {
        self.answered && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// A served file.
struct File {
    body: String,
    etag: String,
}

/// A fault and how many more requests it applies to (`None`: until healed).
struct Rule {
    path: String,
    fault: Fault,
    remaining: Option<usize>,
}

/// The state handlers and the test share.
#[derive(Default)]
struct Inner {
    log: Mutex<Log>,
    arrived: Condvar,
    files: Mutex<HashMap<String, File>>,
    rules: Mutex<Vec<Rule>>,
}

#[derive(Default)]
struct Log {
    next_seq: u64,
    requests: Vec<Recorded>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A failed assertion in a test thread must not hide the server's records from the
    // other threads.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        let at = rules.iter().position(|r| (r.path == path || r.path == "*") && r.remaining != Some(0))?;
        let rule = &mut rules[at];
        let fault = rule.fault.clone();
        if let Some(left) = &mut rule.remaining {
            *left -= 1;
            if *left == 0 {
                rules.remove(at);
            }
        }
        Some(fault)
    }

    fn record(&self, mut request: Recorded) -> u64 {
        let mut log = lock(&self.log);
        request.seq = log.next_seq;
        log.next_seq += 1;
        let seq = request.seq;
        log.requests.push(request);
        self.arrived.notify_all();
        seq
    }

    fn mark_answered(&self, seq: u64) {
        let mut log = lock(&self.log);
        if let Some(r) = log.requests.iter_mut().rev().find(|r| r.seq == seq) {
            r.answered = true;
        }
        self.arrived.notify_all();
    }

    /// The answer when no fault applies.
    fn normal(&self, method: &Method, path: &str, if_none_match: Option<&str>) -> Response {
        if method == Method::POST {
            return empty(StatusCode::NO_CONTENT);
        }
        if method != Method::GET && method != Method::HEAD {
            return empty(StatusCode::METHOD_NOT_ALLOWED);
        }
        let files = lock(&self.files);
        let Some(file) = files.get(path) else {
            return empty(StatusCode::NOT_FOUND);
        };
        let matches = if_none_match
            .is_some_and(|v| v.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == file.etag));
        let builder = Response::builder().header(header::ETAG, &file.etag);
        let response = if matches {
            builder.status(StatusCode::NOT_MODIFIED).body(Body::empty())
        } else {
            let body = if method == Method::HEAD { Body::empty() } else { Body::from(file.body.clone()) };
            builder.status(StatusCode::OK).header(header::CONTENT_TYPE, "application/json").body(body)
        };
        response.expect("a valid response")
    }
}

fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// Closes the connection it was handed to.
#[derive(Clone)]
struct Kill(Arc<Notify>);

async fn handle(State(inner): State<Arc<Inner>>, Extension(kill): Extension<Kill>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let wire = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let gzipped = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    let body = if gzipped {
        let mut plain = Vec::new();
        match flate2::read::GzDecoder::new(&wire[..]).read_to_end(&mut plain) {
            Ok(_) => plain,
            // Recorded as sent, so a test comparing bodies shows what arrived.
            Err(_) => wire.to_vec(),
        }
    } else {
        wire.to_vec()
    };
    let path = parts.uri.path().to_owned();
    let if_none_match = parts.headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());

    let fault = inner.take_fault(&path);
    let response = match &fault {
        Some(Fault::Drop) => None,
        Some(Fault::Status { status, retry_after }) => {
            let mut response = empty(StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
            if let Some(value) = retry_after {
                response.headers_mut().insert(header::RETRY_AFTER, value.parse().expect("a valid Retry-After value"));
            }
            Some(response)
        }
        Some(Fault::Stall(_)) | None => Some(inner.normal(&parts.method, &path, if_none_match)),
    };
    let seq = inner.record(Recorded {
        seq: 0,
        method: parts.method.to_string(),
        path,
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body,
        gzipped,
        wire_len: wire.len(),
        fault: fault.clone(),
        status: response.as_ref().map(|r| r.status().as_u16()),
        answered: false,
        at: Instant::now(),
    });
    if let Some(Fault::Stall(stall)) = fault {
        tokio::time::sleep(stall).await;
    }
    match response {
        Some(response) => {
            inner.mark_answered(seq);
            response
        }
        None => {
            kill.0.notify_one();
            // The connection task drops this future along with the connection.
            std::future::pending().await
        }
    }
}

/// Accepts connections until told to stop; each connection is served by its own task,
/// which also ends when its handler asks for the connection to be dropped.
async fn serve(listener: TcpListener, inner: Arc<Inner>, mut stop: oneshot::Receiver<()>) {
    let router = Router::new().fallback(handle).with_state(inner);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let kill = Arc::new(Notify::new());
                let service = TowerToHyperService::new(router.clone().layer(Extension(Kill(Arc::clone(&kill)))));
                tokio::spawn(async move {
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = connection => {}
                        // Dropping the connection closes the socket with no answer.
                        () = kill.notified() => {}
                    }
                });
            }
        }
    }
    // Returning ends `block_on`; dropping the runtime then drops every connection task.
}

struct Running {
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

/// Binds `127.0.0.1:port` (0: any free port) and serves on a new thread.
fn launch(inner: &Arc<Inner>, port: u16) -> std::io::Result<(Running, u16)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let listener = {
        let _context = runtime.enter();
        let socket = TcpSocket::new_v4()?;
        // A restart binds the port of the previous run, whose closed connections linger
        // in TIME_WAIT.
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
        socket.listen(1024)?
    };
    let port = listener.local_addr()?.port();
    let (stop, stopped) = oneshot::channel();
    let inner = Arc::clone(inner);
    let thread = std::thread::Builder::new()
        .name(format!("test-http-{port}"))
        .spawn(move || runtime.block_on(serve(listener, inner, stopped)))?;
    Ok((Running { stop, thread }, port))
}

/// A real HTTP server on `127.0.0.1`; see the module documentation.
pub(crate) struct TestServer {
    inner: Arc<Inner>,
    port: u16,
    running: Mutex<Option<Running>>,
}

impl TestServer {
    /// A server on a free port.
    pub(crate) fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let (running, port) = launch(&inner, 0).expect("test server must start");
        Self { inner, port, running: Mutex::new(Some(running)) }
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The URL of `path` (which starts with `/`).
    pub(crate) fn url_for(&self, path: &str) -> String {
        format!("{}{path}", self.url())
    }

    /// The URL events are posted to by convention ([`EVENTS_PATH`]).
    pub(crate) fn events_url(&self) -> String {
        self.url_for(EVENTS_PATH)
    }

    /// Serves `text` at `/datafiles/{sdk_key}.json`, replacing what was there.
    pub(crate) fn set_datafile(&self, sdk_key: &str, text: &str) {
        self.set_file(&datafile_path(sdk_key), text);
    }

    /// Serves `text` at `path`, replacing what was there; the ETag is a hash of `text`.
    pub(crate) fn set_file(&self, path: &str, text: &str) {
        let mut hasher = DefaultHasher::new();
        text.hash(&mut hasher);
        let etag = format!("\"{:016x}\"", hasher.finish());
        lock(&self.inner.files).insert(path.to_owned(), File { body: text.to_owned(), etag });
    }

    /// Stops serving `path` (it answers 404).
    pub(crate) fn remove_file(&self, path: &str) {
        lock(&self.inner.files).remove(path);
    }

    /// The ETag `path` is served with.
    pub(crate) fn etag(&self, path: &str) -> Option<String> {
        lock(&self.inner.files).get(path).map(|f| f.etag.clone())
    }

    /// Applies `fault` to every request to `path` (`"*"`: any path) until healed.
    pub(crate) fn fail(&self, path: &str, fault: Fault) {
        lock(&self.inner.rules).push(Rule { path: path.to_owned(), fault, remaining: None });
    }

    /// Applies `fault` to the next `times` requests to `path` (`"*"`: any path).
    pub(crate) fn fail_next(&self, path: &str, times: usize, fault: Fault) {
        if times > 0 {
            lock(&self.inner.rules).push(Rule { path: path.to_owned(), fault, remaining: Some(times) });
        }
    }

    /// Removes the faults of `path` (exactly that rule path; `"*"` removes the `"*"` rules).
    pub(crate) fn heal(&self, path: &str) {
        lock(&self.inner.rules).retain(|r| r.path != path);
    }

    /// Removes every fault.
    pub(crate) fn heal_all(&self) {
        lock(&self.inner.rules).clear();
    }

    /// Every request recorded, in arrival order.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        lock(&self.inner.log).requests.clone()
    }

    /// The requests to `path`, in arrival order.
    pub(crate) fn requests_to(&self, path: &str) -> Vec<Recorded> {
        lock(&self.inner.log).requests.iter().filter(|r| r.path == path).cloned().collect()
    }

    /// The JSON bodies of `POST`s to `path` answered with 2xx, in arrival order.
    pub(crate) fn delivered(&self, path: &str) -> Vec<Value> {
        lock(&self.inner.log)
            .requests
            .iter()
            .filter(|r| r.path == path && r.method == "POST" && r.succeeded())
            .map(Recorded::json)
            .collect()
    }

    /// Forgets the requests recorded so far.
    pub(crate) fn clear_requests(&self) {
        lock(&self.inner.log).requests.clear();
    }

    /// Waits until `done(requests)` holds, at most `timeout`; whether it held.
    pub(crate) fn wait_for(&self, timeout: Duration, mut done: impl FnMut(&[Recorded]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut log = lock(&self.inner.log);
        loop {
            if done(&log.requests) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            log = self.inner.arrived.wait_timeout(log, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Waits until at least `n` requests to `path` arrived, at most `timeout`.
    pub(crate) fn wait_for_requests(&self, path: &str, n: usize, timeout: Duration) -> bool {
        self.wait_for(timeout, |requests| requests.iter().filter(|r| r.path == path).count() >= n)
    }

    pub(crate) fn is_running(&self) -> bool {
        lock(&self.running).is_some()
    }

    /// Closes the listener and every connection; idempotent.
    pub(crate) fn shutdown(&self) {
        let running = lock(&self.running).take();
        if let Some(Running { stop, thread }) = running {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }

    /// Listens on the same port again (after [`Self::shutdown`]); files, faults and
    /// records are kept. Does nothing while running.
    pub(crate) fn restart(&self) {
        let mut running = lock(&self.running);
        if running.is_some() {
            return;
        }
        // The port was ours a moment ago; retry briefly in case the kernel is slow to
        // let go of it.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match launch(&self.inner, self.port) {
                Ok((started, _)) => {
                    *running = Some(started);
                    return;
                }
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("test server could not listen on port {} again: {e}", self.port),
            }
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
