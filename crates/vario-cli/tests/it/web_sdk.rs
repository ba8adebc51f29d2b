//! The official browser SDKs against `vario serve` from a page of another origin, in
//! headless Chromium: the JavaScript SDK's browser build (`tools/official-clients/`) and
//! the React example (`examples/react-web/`, `@optimizely/react-sdk`) are served by a
//! small static site on one port, Vario listens on another. They load the datafile from
//! Vario, decide as the official SDK decides in Node for the same users
//! (`tools/official-clients/js_decide.mjs`), and every event they send is stored exactly
//! once (checked through the query API); a page outside `[cors] allowed_origins` sees a
//! CORS error and stores nothing; events flushed with `navigator.sendBeacon` when the page
//! is hidden are stored; a Content-Security-Policy needs Vario in `connect-src`.
//!
//! Needs Chromium (`tools/browser/setup.sh`) and the npm packages of
//! `tools/official-clients/setup.sh` and `examples/react-web/setup.sh`; `scripts/test`
//! runs all three first.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vario_testkit::users;

use crate::browser::Browser;
use crate::official_clients::{clients_dir, missing, repo_root, run_client, small_datafile};
use crate::support::{ADMIN_TOKEN, Server};

const SDK_KEY: &str = "web";
/// Users the JavaScript SDK page decides and tracks for.
const USERS: usize = 12;
/// Users the React example is opened for, one page load each.
const REACT_USERS: usize = 4;

/// A static web site on its own loopback port: another origin than Vario's.
struct Site {
    origin: String,
    dir: tempfile::TempDir,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Site {
    /// Serves the test page, the SDK's browser build and the React example's bundle.
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sdk = clients_dir().join("node_modules/@optimizely/optimizely-sdk/dist/optimizely.browser.umd.min.js");
        assert!(sdk.exists(), "{}", missing(&sdk));
        std::fs::copy(&sdk, dir.path().join("optimizely.browser.umd.min.js")).unwrap();
        for (name, text) in [
            ("sdk.html", include_str!("web_sdk/sdk.html")),
            ("page.js", include_str!("web_sdk/page.js")),
            ("blank.html", include_str!("web_sdk/blank.html")),
        ] {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let (root, stopped) = (dir.path().to_owned(), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let root = root.clone();
                // A connection each: Chromium opens spare ones it may never use.
                std::thread::spawn(move || serve_file(stream, &root));
            }
        });
        Self { origin, dir, stop, thread: Some(thread) }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.origin.trim_start_matches("http://"));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers one GET with the file under `root` (no query string, no `..`), or 404.
fn serve_file(mut stream: TcpStream, root: &Path) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/").trim_start_matches('/');
    let file = (!path.split('/').any(|part| part == ".." || part.is_empty())).then(|| root.join(path));
    let (status, kind, body) = match file.and_then(|f| std::fs::read(&f).ok().map(|b| (f, b))) {
        Some((file, body)) => {
            let kind = match file.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript; charset=utf-8",
                _ => "application/octet-stream",
            };
            ("200 OK", kind, body)
        }
        None => ("404 Not Found", "text/plain", b"not found".to_vec()),
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(header.as_bytes()).and_then(|()| stream.write_all(&body));
}

/// The users as JSON values `{"id", "attributes"}`.
fn test_users(n: usize, seed: u64) -> Vec<Value> {
    users(n, seed).into_iter().map(|(id, attributes)| json!({"id": id, "attributes": attributes})).collect()
}

/// What the official JavaScript SDK decides in Node for `users` with the test datafile.
fn node_decisions(server: &Server, users: &[Value]) -> Value {
    let datafile = server.scratch("web-datafile.json");
    std::fs::write(&datafile, small_datafile().to_string()).unwrap();
    let mut command = Command::new("node");
    command.arg(clients_dir().join("js_decide.mjs")).arg(&datafile).current_dir(clients_dir());
    let lines: String = users.iter().map(|u| format!("{u}\n")).collect();
    run_client(command, &lines)
}

fn event_keys() -> Vec<String> {
    small_datafile()["events"].as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap().to_owned()).collect()
}

/// Stored events through the query API: uuid → how many times stored.
fn stored_uuids(server: &Server) -> BTreeMap<String, u64> {
    let rows = query(server, "SELECT uuid, count(*) AS n FROM events GROUP BY uuid");
    rows.iter().map(|r| (r[0].as_str().unwrap().to_owned(), r[1].as_u64().unwrap())).collect()
}

fn query(server: &Server, sql: &str) -> Vec<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut answer = agent
        .post(format!("{}/api/v1/query", server.url))
        .header("authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .send(json!({ "sql": sql }).to_string())
        .unwrap();
    let text = answer.body_mut().read_to_string().unwrap();
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    body["rows"].as_array().unwrap_or_else(|| panic!("{sql}: {body}")).clone()
}

/// Every uuid in `sent` is stored once, and nothing else is stored.
fn stored_exactly_once(server: &Server, sent: &BTreeSet<String>) {
    assert!(!sent.is_empty(), "the page sent events");
    let stored = stored_uuids(server);
    for (uuid, n) in &stored {
        assert_eq!(*n, 1, "event {uuid} stored {n} times");
    }
    let stored: BTreeSet<String> = stored.into_keys().collect();
    assert_eq!(&stored, sent, "stored events are the sent ones");
}

fn uuids(list: &Value) -> BTreeSet<String> {
    list.as_array().unwrap().iter().map(|u| u.as_str().unwrap().to_owned()).collect()
}

#[test]
fn the_javascript_sdk_in_a_page_of_another_origin_decides_as_in_node_and_every_event_is_stored_once() {
    let site = Site::start();
    let server = Server::start();
    server.put_datafile(SDK_KEY, &small_datafile().to_string());
    let users = test_users(USERS, 91);
    let events = event_keys();
    let browser = Browser::start(800, 600);
    browser.goto(&format!("{}/sdk.html", site.origin));
    let args = json!({"vario": server.url, "sdkKey": SDK_KEY, "users": users, "events": events});
    let got = browser.run("return window.varioDecideAndTrack(arguments[0]);", json!([args]));
    assert_eq!(got["ready"], true, "{got}");
    assert_eq!(got["failures"], json!([]), "every batch was accepted");

    assert_eq!(got["decisions"], node_decisions(&server, &users), "the browser decides as Node does");
    stored_exactly_once(&server, &uuids(&got["sent"]));
    let conversions = query(&server, "SELECT count(*) FROM events WHERE kind = 'conversion'");
    assert_eq!(conversions[0][0], json!(USERS * events.len()), "every track call stored");

    // The same page revalidates the datafile with If-None-Match: 304, ETag readable.
    let datafile = format!("{}/datafiles/{SDK_KEY}.json", server.url);
    let first = browser.run("return window.varioFetch(arguments[0], {cache: 'no-store'});", json!([datafile]));
    assert_eq!((first["ok"].as_bool(), first["status"].as_u64()), (Some(true), Some(200)), "{first}");
    let etag = first["etag"].as_str().expect("the page can read the ETag").to_owned();
    let init = json!({"cache": "no-store", "headers": {"if-none-match": etag}});
    let again = browser.run("return window.varioFetch(arguments[0], arguments[1]);", json!([datafile, init]));
    assert_eq!((again["ok"].as_bool(), again["status"].as_u64()), (Some(true), Some(304)), "{again}");
}

#[test]
fn a_page_outside_the_allow_list_sees_a_cors_error_and_stores_nothing() {
    let site = Site::start();
    let server = Server::start_with(&["--cors-origin", "https://shop.example.com"]);
    server.put_datafile(SDK_KEY, &small_datafile().to_string());
    let browser = Browser::start(800, 600);
    browser.goto(&format!("{}/sdk.html", site.origin));

    let datafile = format!("{}/datafiles/{SDK_KEY}.json", server.url);
    let fetched = browser.run("return window.varioFetch(arguments[0]);", json!([datafile]));
    assert_eq!(fetched["ok"], false, "{fetched}");
    assert!(fetched["error"].as_str().unwrap().starts_with("TypeError"), "a network (CORS) error: {fetched}");
    let args = json!({"vario": server.url, "sdkKey": SDK_KEY, "users": test_users(2, 5), "events": event_keys()});
    let got = browser.run("return window.varioDecideAndTrack(arguments[0]);", json!([args]));
    assert_eq!(got["ready"], false, "the SDK gets no datafile: {got}");

    // An event POST, JSON (preflight) or text/plain (none), is refused all the same.
    let body = json!({"account_id": "1", "project_id": "2", "revision": "1", "visitors": []}).to_string();
    let events = format!("{}/v1/events", server.url);
    for kind in ["application/json", "text/plain"] {
        let init = json!({"method": "POST", "headers": {"content-type": kind}, "body": body});
        let posted = browser.run("return window.varioFetch(arguments[0], arguments[1]);", json!([events, init]));
        assert_eq!(posted["ok"], false, "{kind}: {posted}");
    }
    assert!(stored_uuids(&server).is_empty(), "nothing stored");
}

#[test]
fn events_flushed_by_send_beacon_when_the_page_is_hidden_are_stored_once() {
    let site = Site::start();
    let server = Server::start();
    server.put_datafile(SDK_KEY, &small_datafile().to_string());
    let users = test_users(5, 17);
    let browser = Browser::start(800, 600);
    browser.goto(&format!("{}/sdk.html", site.origin));
    let args = json!({"vario": server.url, "sdkKey": SDK_KEY, "users": users, "events": event_keys()});
    let queued = browser.run("return window.varioQueueForBeacon(arguments[0]);", json!([args]));
    assert!(queued["tracked"].as_u64().unwrap() > 0, "{queued}");
    assert!(stored_uuids(&server).is_empty(), "the events wait for the page to be hidden");

    // Leaving the page hides it: the SDK flushes its queue through the beacon.
    browser.goto(&format!("{}/blank.html", site.origin));
    let beacons = browser.run("return JSON.parse(localStorage.getItem('vario-beacons') ?? '[]');", json!([]));
    let beacons = beacons.as_array().unwrap();
    assert!(!beacons.is_empty(), "a beacon was sent");
    let mut sent = BTreeSet::new();
    for beacon in beacons {
        assert_eq!(beacon["queued"], true, "the browser queued the beacon: {beacon}");
        sent.extend(uuids(&beacon["uuids"]));
    }
    // The beacon leaves with the page; its request may still be on its way.
    let started = Instant::now();
    while stored_uuids(&server).len() < sent.len() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    stored_exactly_once(&server, &sent);
    let conversions = query(&server, "SELECT count(*) FROM events WHERE kind = 'conversion'");
    assert_eq!(conversions[0][0], queued["tracked"], "every track call stored");
}

#[test]
fn a_content_security_policy_lets_the_sdk_reach_vario_only_with_vario_in_connect_src() {
    let site = Site::start();
    let server = Server::start();
    server.put_datafile(SDK_KEY, &small_datafile().to_string());
    let page = include_str!("web_sdk/sdk.html");
    let with_policy = |sources: &str| {
        let meta = format!("<meta http-equiv=\"Content-Security-Policy\" content=\"connect-src {sources}\">");
        page.replacen("<meta charset=\"utf-8\">", &format!("<meta charset=\"utf-8\">\n  {meta}"), 1)
    };
    std::fs::write(site.path().join("csp-vario.html"), with_policy(&format!("'self' {}", server.url))).unwrap();
    std::fs::write(site.path().join("csp-self.html"), with_policy("'self'")).unwrap();
    let browser = Browser::start(800, 600);
    let users = test_users(3, 7);
    let args = json!({"vario": server.url, "sdkKey": SDK_KEY, "users": users, "events": event_keys()});

    browser.goto(&format!("{}/csp-vario.html", site.origin));
    let got = browser.run("return window.varioDecideAndTrack(arguments[0]);", json!([args]));
    assert_eq!((&got["ready"], &got["failures"]), (&json!(true), &json!([])), "{got}");
    let stored = stored_uuids(&server).len();
    assert_eq!(stored, uuids(&got["sent"]).len(), "the events got through");

    browser.goto(&format!("{}/csp-self.html", site.origin));
    let got = browser.run("return window.varioDecideAndTrack(arguments[0]);", json!([args]));
    assert_eq!(got["ready"], false, "connect-src without Vario blocks the datafile: {got}");
    let datafile = format!("{}/datafiles/{SDK_KEY}.json", server.url);
    let fetched = browser.run("return window.varioFetch(arguments[0]);", json!([datafile]));
    assert_eq!(fetched["ok"], false, "{fetched}");
    assert_eq!(stored_uuids(&server).len(), stored, "nothing more stored");
}

/// Bundles the React example into `out` with its own build script.
fn build_react_example(out: &Path) {
    let example = repo_root().join("examples/react-web");
    let esbuild = example.join("node_modules/esbuild");
    assert!(esbuild.exists(), "{} is missing: run examples/react-web/setup.sh (scripts/test does)", esbuild.display());
    let built = Command::new("node").arg("build.mjs").arg(out).current_dir(&example).output().expect("run node");
    assert!(built.status.success(), "node build.mjs failed:\n{}", String::from_utf8_lossy(&built.stderr));
}

#[test]
fn the_react_example_on_an_allowed_origin_decides_as_in_node_and_every_event_is_stored_once() {
    let site = Site::start();
    let react: PathBuf = site.path().join("react");
    build_react_example(&react);
    // Only the site's origin may call: the allow-list echoes it.
    let server = Server::start_with(&["--cors-origin", &site.origin]);
    server.put_datafile(SDK_KEY, &small_datafile().to_string());
    let users = test_users(REACT_USERS, 33);
    let expected = node_decisions(&server, &users);
    let event = event_keys().remove(0);
    let browser = Browser::start(800, 900);
    let mut sent = BTreeSet::new();
    for user in &users {
        let id = user["id"].as_str().unwrap();
        let query: String = [
            ("vario", server.url.as_str()),
            ("sdkKey", SDK_KEY),
            ("user", id),
            ("attributes", &user["attributes"].to_string()),
            ("event", &event),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
        browser.goto(&format!("{}/react/index.html?{query}", site.origin));
        browser.wait_until(
            "document.querySelector('#status[data-ready]') || document.querySelector('#status[data-error]')",
        );
        let flags = browser.run(
            "if (!document.querySelector('#status[data-ready]')) { return document.querySelector('#status').dataset.error; }
             return Object.fromEntries([...document.querySelectorAll('#flags li')].map((li) =>
               [li.dataset.flag, {enabled: li.dataset.enabled === 'true', variationKey: li.dataset.variation,
                                  ruleKey: li.dataset.rule}]));",
            json!([]),
        );
        let want: BTreeMap<String, Value> = expected[id]
            .as_object()
            .unwrap()
            .iter()
            .map(|(flag, d)| {
                let text = |v: &Value| json!(v.as_str().unwrap_or_default());
                (flag.clone(), json!({"enabled": d["enabled"], "variationKey": text(&d["variationKey"]), "ruleKey": text(&d["ruleKey"])}))
            })
            .collect();
        assert_eq!(flags, json!(want), "the React SDK decides for {id} as Node does");

        browser.click("#buy");
        // The batch goes within the flush interval (1 s), the impressions queued before
        // it with it or earlier.
        browser.wait_until(
            "window.varioExample.delivery.conversions > 0 || window.varioExample.delivery.failed.length > 0",
        );
        let delivery = browser.run("return window.varioExample.delivery;", json!([]));
        assert_eq!(delivery["failed"], json!([]), "{id}: {delivery}");
        sent.extend(uuids(&delivery["sent"]));
    }
    stored_exactly_once(&server, &sent);
    let conversions =
        query(&server, &format!("SELECT count(*) FROM events WHERE kind = 'conversion' AND event_key = '{event}'"));
    assert_eq!(conversions[0][0], json!(REACT_USERS), "one purchase per user");
}

/// `text` for a query string.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
