//! Integration tests: a real server on 127.0.0.1:0, driven by a real HTTP client.

mod agent;
mod agent_admin;
mod agent_auth;
mod agent_contract;
mod agent_notifications;
mod auth;
mod cors;
mod datafiles;
mod events;
mod health;
mod ofrep;
mod projects;
mod props;
mod query;
mod results;

use std::io::Write;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};
use vario_server::{AppState, ServerConfig, ServerError, serve};

pub(crate) const ADMIN: &str = "test-admin-token-0123456789";

/// A server running on its own runtime and thread, with a temporary data directory.
pub(crate) struct TestServer {
    pub(crate) url: String,
    pub(crate) state: AppState,
    pub(crate) dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    pub(crate) fn start() -> Self {
        Self::with(|_| {})
    }

    pub(crate) fn with(configure: impl FnOnce(&mut ServerConfig)) -> Self {
        Self::in_dir(tempfile::tempdir().unwrap(), configure)
    }

    pub(crate) fn in_dir(dir: tempfile::TempDir, configure: impl FnOnce(&mut ServerConfig)) -> Self {
        let mut config = ServerConfig::new(dir.path());
        config.admin_token = Some(ADMIN.into());
        configure(&mut config);
        let (state, _) = AppState::open(config).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = state.clone();
        let thread = std::thread::spawn(move || {
            runtime.block_on(serve(listener, serving, async {
                let _ = stopped.await;
            }))
        });
        Self { url, state, dir, stop: Some(stop), thread: Some(thread) }
    }

    /// Graceful shutdown; returns the data directory for a restart.
    pub(crate) fn stop(mut self) -> tempfile::TempDir {
        self.shutdown().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    fn shutdown(&mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread.join().expect("server thread"),
            None => Ok(()),
        }
    }

    /// Graceful shutdown; the number of events stored.
    pub(crate) fn stop_and_count(self) -> u64 {
        let dir = self.stop();
        vario_store::LogReader::open(dir.path()).unwrap().count().unwrap()
    }

    pub(crate) fn stored(&self) -> u64 {
        vario_store::LogReader::open(self.dir.path()).map_or(0, |r| r.count().unwrap())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Asserts the one error shape and returns (code, path).
    pub(crate) fn error(&self) -> (String, Option<String>) {
        let body = self.json();
        let error = &body["error"];
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        let code = error["code"].as_str().unwrap_or_else(|| panic!("no code: {body}")).to_owned();
        (code, error["path"].as_str().map(str::to_owned))
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

pub(crate) fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Answer {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let sent = match body {
        Some(body) => agent().run(builder.body(body.to_vec()).unwrap()),
        None => agent().run(builder.body(()).unwrap()),
    };
    let mut response = sent.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    Answer { status, headers, body }
}

pub(crate) fn post_events(server: &TestServer, body: &[u8], headers: &[(&str, &str)]) -> Answer {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    request("POST", &format!("{}/v1/events", server.url), &all, Some(body))
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    // Not `fast()`: with the zlib-rs backend (which the Parquet stack selects) level 1
    // leaves long runs, such as the gzip-bomb test's, several times bigger.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A batch as the official Python SDK sends it (events.md §10.1 and §10.3), with uuids
/// `{prefix}-imp` and `{prefix}-conv`.
pub(crate) fn batch(prefix: &str) -> Value {
    json!({
        "account_id": "12001", "project_id": "12002", "revision": "42",
        "client_name": "python-sdk", "client_version": "5.7.0",
        "anonymize_ip": true, "enrich_decisions": true,
        "visitors": [
            {
                "snapshots": [{
                    "events": [{"entity_id": "41001", "uuid": format!("{prefix}-imp"), "key": "campaign_activated",
                                "timestamp": 1_700_000_000_002_i64}],
                    "decisions": [{"campaign_id": "41001", "experiment_id": "40001", "variation_id": "40011",
                                   "metadata": {"flag_key": "", "rule_key": "ab_exp", "rule_type": "experiment",
                                                "variation_key": "control", "enabled": true}}]
                }],
                "attributes": [
                    {"entity_id": "20001", "key": "device", "type": "custom", "value": "iphone"},
                    {"entity_id": "$opt_bot_filtering", "key": "$opt_bot_filtering", "type": "custom", "value": true}
                ],
                "visitor_id": "user_4"
            },
            {
                "snapshots": [{
                    "events": [{"entity_id": "90001", "uuid": format!("{prefix}-conv"), "key": "purchase",
                                "timestamp": 1_700_000_000_006_i64, "revenue": 4200, "value": 12.5,
                                "tags": {"revenue": 4200, "value": "12.5", "category": "shoes", "coupon": null}}]
                }],
                "attributes": [{"entity_id": "20004", "key": "plan", "type": "custom", "value": "gold"}],
                "visitor_id": "user_4"
            }
        ]
    })
}

pub(crate) fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}
