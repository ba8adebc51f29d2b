//! The official Optimizely SDKs as real clients of `vario serve`: the Python SDK
//! (`optimizely-sdk` 5.7.0) and the JavaScript SDK (`@optimizely/optimizely-sdk`, Node)
//! fetch the datafile from the server and send their events to it
//! (`tools/official-clients/`). Every event they report sending must be stored exactly
//! once with the fields they sent, and their decisions must be Vario's.
//!
//! Needs `.venv-oracle/` and `tools/official-clients/node_modules/`, which
//! `tools/official-clients/setup.sh` installs (`scripts/test` runs it first); without
//! them these tests fail, they do not skip.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vario_sdk::{Attributes, Client, DecideOptions};
use vario_store::{EventKind, LogReader};
use vario_testkit::{Shape, datafile, users};

use crate::support::Server;

const SDK_KEY: &str = "official_clients";
/// Users each client decides and tracks for.
const USERS: usize = 25;
/// The longest a client may take.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn clients_dir() -> PathBuf {
    repo_root().join("tools/official-clients")
}

/// How a test says that an official SDK is not installed.
pub(crate) fn missing(what: &Path) -> String {
    format!("{} is missing: run tools/official-clients/setup.sh (scripts/test does)", what.display())
}

/// A small generated datafile: A/B tests, flags with feature tests and rollouts, audiences.
pub(crate) fn small_datafile() -> Value {
    let shape = Shape { experiments: 4, flags: 4, audiences: 4, variables_per_flag: 2 };
    datafile(shape, 21)
}

/// A generated user: id and attributes.
type User = (String, serde_json::Map<String, Value>);

/// The users as JSON lines `{"id", "attributes"}`, as the client scripts read them.
fn user_lines() -> (String, Vec<User>) {
    let users = users(USERS, 77);
    let lines: String =
        users.iter().map(|(id, attributes)| format!("{}\n", json!({"id": id, "attributes": attributes}))).collect();
    (lines, users)
}

/// Runs a client script to the end (at most [`CLIENT_TIMEOUT`]); its JSON summary.
pub(crate) fn run_client(mut command: Command, stdin: &str) -> Value {
    let program = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    // Read both pipes while waiting: a full pipe would stop the client.
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CLIENT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
            panic!("{program} did not finish within {CLIENT_TIMEOUT:?}:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(status.success(), "{program} failed ({status}):\n{}", String::from_utf8_lossy(&stderr));
    serde_json::from_slice(&stdout)
        .unwrap_or_else(|e| panic!("{program} printed no JSON summary ({e}):\n{}", String::from_utf8_lossy(&stdout)))
}

/// A JSON string or null, as stored: the server reads `null` as empty.
fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// Checks that every event in `summary` is stored exactly once, as sent; that nothing
/// else of `client_name` is stored; that every user tracked every event with the tags
/// the script computes; and that the client decided what Vario decides.
fn check_client(server: &Server, summary: &Value, client_name: &str) {
    let datafile = small_datafile();
    let (_, users) = user_lines();
    assert_eq!(summary["batches_failed"], 0, "{}", summary["failures"]);
    let sent = summary["events"].as_array().unwrap();
    assert_eq!(sent.len() as u64, summary["events_delivered"].as_u64().unwrap(), "every listed event was delivered");
    assert!(summary["batches_sent"].as_u64().unwrap() > 1, "several batches");

    let reader = LogReader::open(server.data_dir()).unwrap();
    let mut uuids = BTreeSet::new();
    for event in sent {
        let uuid = event["uuid"].as_str().unwrap();
        assert!(uuids.insert(uuid.to_owned()), "{client_name} sent uuid {uuid} twice");
        let stored = reader.events_with_uuid(uuid).unwrap();
        assert_eq!(stored.len(), 1, "{client_name} event {uuid} stored {} times", stored.len());
        let row = &stored[0].row;
        let context = format!("{client_name} event {event}");
        assert_eq!(row.client_name, client_name, "{context}");
        assert_eq!(row.client_name, text(&event["client_name"]), "{context}");
        assert_eq!(row.client_version, text(&event["client_version"]), "{context}");
        assert_eq!(row.revision, text(&event["revision"]), "{context}");
        assert_eq!(row.visitor_id, text(&event["visitor_id"]), "{context}");
        assert_eq!(row.event_key, text(&event["key"]), "{context}");
        assert_eq!(row.entity_id, text(&event["entity_id"]), "{context}");
        assert_eq!(row.timestamp, event["timestamp"].as_i64().unwrap(), "{context}");
        assert_eq!(row.revenue, event["revenue"].as_i64(), "{context}");
        assert_eq!(row.value, event["value"].as_f64(), "{context}");
        let tags: Option<Value> = row.tags.as_deref().map(|t| serde_json::from_str(t).unwrap());
        assert_eq!(tags.unwrap_or(Value::Null), event["tags"], "{context}");
        match (&row.decision, event.get("decision")) {
            (Some(d), Some(sent)) => {
                assert_eq!(row.kind, EventKind::Decision, "{context}");
                assert_eq!(d.campaign_id, text(&sent["campaign_id"]), "{context}");
                assert_eq!(d.experiment_id, text(&sent["experiment_id"]), "{context}");
                assert_eq!(d.variation_id.as_deref(), sent["variation_id"].as_str(), "{context}");
                assert_eq!(d.flag_key, text(&sent["flag_key"]), "{context}");
                assert_eq!(d.rule_key, text(&sent["rule_key"]), "{context}");
                assert_eq!(d.rule_type, text(&sent["rule_type"]), "{context}");
                assert_eq!(d.variation_key, text(&sent["variation_key"]), "{context}");
                assert_eq!(Some(d.enabled), sent["enabled"].as_bool(), "{context}");
            }
            (None, None) => assert_eq!(row.kind, EventKind::Conversion, "{context}"),
            (stored, sent) => panic!("{context}: stored decision {stored:?}, sent {sent:?}"),
        }
    }
    // Nothing of this client is stored that it did not report sending.
    let stored_of_client = server.events().iter().filter(|e| e.row.client_name == client_name).count();
    assert_eq!(stored_of_client, sent.len(), "{client_name}: stored vs sent");

    // Every user tracked every event once, with the script's tags.
    let event_keys: Vec<&str> =
        datafile["events"].as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap()).collect();
    for (i, (user, _)) in users.iter().enumerate() {
        for (j, key) in event_keys.iter().enumerate() {
            let conversions: Vec<&Value> =
                sent.iter().filter(|e| e["visitor_id"] == *user && e["key"] == *key).collect();
            assert_eq!(conversions.len(), 1, "{client_name}: {user} tracked {key}");
            let stored = &reader.events_with_uuid(conversions[0]["uuid"].as_str().unwrap()).unwrap()[0].row;
            assert_eq!(stored.revenue, Some(100 * (i as i64 + 1) + j as i64), "{client_name}: {user} {key} revenue");
            assert_eq!(stored.value, Some(1.25 * (i as f64 + 1.0) + j as f64), "{client_name}: {user} {key} value");
        }
        assert_eq!(summary["counts"][user].as_object().map(|c| c.len()), Some(event_keys.len() + 1), "{user}");
    }

    // The official SDK decided what Vario decides for the same datafile and users.
    let client = Client::from_datafile(&datafile.to_string()).unwrap();
    let ab_tests = crate::support::ab_test_keys(&datafile);
    let mut got: BTreeMap<&str, BTreeSet<(String, String, String)>> = BTreeMap::new();
    for event in sent.iter().filter(|e| e.get("decision").is_some()) {
        let d = &event["decision"];
        got.entry(event["visitor_id"].as_str().unwrap()).or_default().insert((
            text(&d["flag_key"]),
            text(&d["rule_key"]),
            text(&d["variation_key"]),
        ));
    }
    for (user, attributes) in &users {
        let attributes = Attributes::from(attributes.clone());
        let mut expected = BTreeSet::new();
        for key in &ab_tests {
            if let Some(v) = client.get_variation(key, user, &attributes) {
                expected.insert((String::new(), key.to_string(), v.key().to_owned()));
            }
        }
        for decision in client.create_user_context(user, attributes).decide_all(DecideOptions::DISABLE_DECISION_EVENT) {
            expected.insert((
                decision.flag_key().to_owned(),
                decision.rule_key().unwrap_or_default().to_owned(),
                decision.variation_key().unwrap_or_default().to_owned(),
            ));
        }
        assert_eq!(got.get(user.as_str()), Some(&expected), "{client_name}: decisions of {user}");
    }
}

/// The write key the server requires on the project's events (the testkit datafile's
/// project id is 2002): the clients must send it.
const WRITE_KEY: &str = "official-clients-write-key";

fn start_server() -> Server {
    let server = Server::start_with(&["--write-key", &format!("2002={WRITE_KEY}")]);
    server.put_datafile(SDK_KEY, &small_datafile().to_string());
    server
}

#[test]
fn the_official_python_sdk_is_a_client_of_vario() {
    let python = repo_root().join(".venv-oracle/bin/python");
    assert!(python.exists(), "{}", missing(&python));
    check_official_client(Command::new(&python), "python_client.py", "python-sdk");
}

#[test]
fn the_official_javascript_sdk_is_a_client_of_vario() {
    let package = clients_dir().join("node_modules/@optimizely/optimizely-sdk");
    assert!(package.exists(), "{}", missing(&package));
    check_official_client(Command::new("node"), "js_client.mjs", "node-sdk");
}

/// Runs one official client script against a fresh server and checks what it stored.
fn check_official_client(mut command: Command, script: &str, client_name: &str) {
    let started = Instant::now();
    let server = start_server();
    command.arg(clients_dir().join(script)).args([
        "--server",
        &server.url,
        "--sdk-key",
        SDK_KEY,
        "--write-key",
        WRITE_KEY,
    ]);
    let (lines, _) = user_lines();
    let summary = run_client(command, &lines);
    check_client(&server, &summary, client_name);
    eprintln!(
        "{client_name}: {} events checked in {:?}",
        summary["events"].as_array().unwrap().len(),
        started.elapsed()
    );
}
