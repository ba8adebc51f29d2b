//! Agent's notification stream over a real socket: decisions and conversions made
//! through the API arrive as the Go SDK's notification JSON, filters keep their topics,
//! a new datafile is announced when it is published, the stream is off unless turned on,
//! the number of streams is bounded, and a stopping server ends its streams.

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use vario_sdk::{Client, DecideOptions, DispatchError, EventDispatcher, LogEvent};
use vario_server::ServerConfig;

use crate::{ADMIN, TestServer, bytes, request};

const DATAFILE: &str = include_str!("../../../../spec/compat/05-feature-variables/datafile.json");
const KEY: &str = "agent-stream-env";
/// Long enough for a loaded machine; the messages come within milliseconds.
const WAIT: Duration = Duration::from_secs(20);

fn started(configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
    let server = TestServer::with(|c| {
        c.agent.notifications = true;
        configure(c);
    });
    publish(&server, DATAFILE);
    server
}

fn publish(server: &TestServer, datafile: &str) {
    let bearer = format!("Bearer {ADMIN}");
    let url = format!("{}/api/v1/environments/{KEY}/datafile", server.url);
    assert_eq!(request("PUT", &url, &[("authorization", &bearer)], Some(datafile.as_bytes())).status, 200);
}

fn post(server: &TestServer, path: &str, body: &Value) -> u16 {
    let headers = [("x-optimizely-sdk-key", KEY), ("content-type", "application/json")];
    request("POST", &format!("{}{path}", server.url), &headers, Some(&bytes(body))).status
}

/// An open stream: its status, content type, and its lines as they come.
struct Stream {
    status: u16,
    content_type: String,
    lines: mpsc::Receiver<String>,
}

impl Stream {
    /// The next `data:` message (or, raw, the next line), skipping comments.
    fn next_message(&self) -> Value {
        loop {
            let line = self.lines.recv_timeout(WAIT).expect("a notification");
            let json = line.strip_prefix("data: ").unwrap_or(&line);
            if json.is_empty() || json.starts_with(':') {
                continue;
            }
            return serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        }
    }
}

fn open(server: &TestServer, query: &str) -> Stream {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let url = format!("{}/v1/notifications/event-stream{query}", server.url);
    // The server subscribes before it answers, so the stream is live once the head is in.
    let response = agent.get(&url).header("x-optimizely-sdk-key", KEY).call().expect("the stream opens");
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (tx, lines) = mpsc::channel();
    let reader = BufReader::new(response.into_body().into_reader());
    std::thread::spawn(move || {
        for line in reader.lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
        // The end of the stream.
        let _ = tx.send("<end>".to_owned());
    });
    Stream { status, content_type, lines }
}

struct Discard;

impl EventDispatcher for Discard {
    fn dispatch(&self, _: &LogEvent) -> Result<(), DispatchError> {
        Ok(())
    }
}

#[test]
fn decisions_and_conversions_arrive_as_the_go_sdks_notifications_and_filters_keep_their_topics() {
    let server = started(|_| {});
    let all = open(&server, "");
    let tracks_only = open(&server, "?filter=track");
    assert_eq!(all.status, 200);
    assert_eq!(all.content_type, "text/event-stream");

    let attributes = json!({"plan": "gold", "country": "us"});
    assert_eq!(post(&server, "/v1/decide?keys=flag_1", &json!({"userId": "u7", "userAttributes": attributes})), 200);
    assert_eq!(
        post(
            &server,
            "/v1/track?eventKey=signup",
            &json!({"userId": "u7", "userAttributes": attributes, "eventTags": {"revenue": 4200, "category": "shoes"}})
        ),
        200
    );

    let local = Client::builder().datafile(DATAFILE).unwrap().event_dispatcher(Discard).build().unwrap();
    let user = local.create_user_context("u7", vario_sdk::Attributes::from(attributes.as_object().unwrap().clone()));
    let expected = user.decide("flag_1", DecideOptions::DISABLE_DECISION_EVENT);

    let decision = all.next_message();
    assert_eq!(decision["Type"], "flag", "{decision}");
    assert_eq!(decision["UserContext"], json!({"ID": "u7", "Attributes": attributes, "QualifiedSegments": null}));
    let info = &decision["DecisionInfo"];
    assert_eq!(info["flagKey"], "flag_1");
    assert_eq!(info["enabled"], expected.enabled());
    assert_eq!(info["variationKey"], expected.variation_key().unwrap_or_default());
    assert_eq!(info["ruleKey"], expected.rule_key().unwrap_or_default());
    assert!(info["decisionEventDispatched"].is_boolean(), "{info}");
    assert!(
        info["reasons"].is_array() && info["experimentId"].is_string() && info["variationId"].is_string(),
        "{info}"
    );

    for stream in [&all, &tracks_only] {
        let track = stream.next_message();
        assert_eq!(track["EventKey"], "signup", "{track}");
        assert_eq!(track["UserContext"]["ID"], "u7");
        assert_eq!(track["EventTags"], json!({"revenue": 4200, "category": "shoes"}));
        let conversion = &track["ConversionEvent"];
        assert_eq!(conversion["key"], "signup");
        assert_eq!(conversion["revenue"], 4200);
        assert!(conversion["entity_id"].as_str().is_some_and(|id| !id.is_empty()), "{conversion}");
        let attribute_keys: Vec<&str> =
            conversion["Attributes"].as_array().unwrap().iter().filter_map(|a| a["key"].as_str()).collect();
        assert!(attribute_keys.contains(&"plan"), "{conversion}");
    }
}

#[test]
fn a_published_datafile_is_announced_with_its_revision_and_raw_streams_send_json_lines() {
    let server = started(|_| {});
    let raw = open(&server, "?filter=project_config_update&raw");
    // Decisions are not of the topic asked for.
    assert_eq!(post(&server, "/v1/decide?keys=flag_1", &json!({"userId": "u1"})), 200);
    let changed = DATAFILE.replacen("\"revision\": \"887\"", "\"revision\": \"888\"", 1);
    assert_ne!(changed, DATAFILE);
    publish(&server, &changed);
    let line = raw.lines.recv_timeout(WAIT).expect("a line");
    assert!(!line.starts_with("data:"), "raw lines are bare JSON: {line}");
    assert_eq!(
        serde_json::from_str::<Value>(&line).unwrap(),
        json!({"Type": "project_config_update", "Revision": "888"})
    );
}

#[test]
fn streams_are_off_unless_turned_on_and_need_a_hosted_sdk_key() {
    let off = TestServer::start();
    let answer =
        request("GET", &format!("{}/v1/notifications/event-stream", off.url), &[("x-optimizely-sdk-key", KEY)], None);
    assert_eq!(answer.status, 404, "{answer:?}");
    assert!(answer.json()["error"].as_str().unwrap().contains("notifications = true"), "{}", answer.body);

    let server = started(|_| {});
    let url = format!("{}/v1/notifications/event-stream", server.url);
    assert_eq!(request("GET", &url, &[], None).status, 400);
    assert_eq!(request("GET", &url, &[("x-optimizely-sdk-key", "unknown")], None).status, 403);
}

#[test]
fn streams_past_the_limit_are_refused_with_retry_after_and_a_stopping_server_ends_them() {
    let server = started(|c| c.agent.max_notification_streams = 1);
    let first = open(&server, "");
    assert_eq!(first.status, 200);
    let url = format!("{}/v1/notifications/event-stream", server.url);
    let refused = request("GET", &url, &[("x-optimizely-sdk-key", KEY)], None);
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.error().0, "overloaded");

    server.stop();
    loop {
        match first.lines.recv_timeout(WAIT).expect("the stream ends") {
            end if end == "<end>" => break,
            _ => {}
        }
    }
}

#[test]
fn deciding_builds_notifications_only_while_someone_subscribes() {
    use vario_sdk::NotificationKind;
    let server = started(|_| {});
    let (app, hosted) = (&server.state, server.state.hosted(KEY).unwrap());
    let client = app.decisions().client(app, KEY, &hosted).unwrap();
    let center = client.notification_center();
    assert_eq!(center.listener_count(NotificationKind::Decision), 0);
    let first = app.decisions().subscribe(app, KEY, &hosted, 10).unwrap();
    let second = app.decisions().subscribe(app, KEY, &hosted, 10).unwrap();
    // One listener per kind, shared by every subscriber.
    assert_eq!(center.listener_count(NotificationKind::Decision), 1);
    assert_eq!(center.listener_count(NotificationKind::Track), 1);
    drop(first);
    assert_eq!(center.listener_count(NotificationKind::Decision), 1);
    drop(second);
    for kind in [NotificationKind::Decision, NotificationKind::Track, NotificationKind::ConfigUpdate] {
        assert_eq!(center.listener_count(kind), 0, "{kind}");
    }
}

#[test]
fn a_reset_ends_the_streams_of_the_old_client_and_leaves_new_ones_alone() {
    use vario_sdk::NotificationKind;
    let server = started(|_| {});
    let old = open(&server, "");
    let headers = [("x-optimizely-sdk-key", KEY), ("content-type", "application/json")];
    assert_eq!(request("POST", &format!("{}/v1/reset", server.url), &headers, None).status, 200);
    loop {
        if old.lines.recv_timeout(WAIT).expect("the old stream ends") == "<end>" {
            break;
        }
    }
    let (app, hosted) = (&server.state, server.state.hosted(KEY).unwrap());
    let fresh = app.decisions().subscribe(app, KEY, &hosted, 10).unwrap();
    let stale = app.decisions().subscribe(app, KEY, &hosted, 10).unwrap();
    assert_eq!(request("POST", &format!("{}/v1/reset", server.url), &headers, None).status, 200);
    drop(stale);
    let newest = app.decisions().subscribe(app, KEY, &hosted, 10).unwrap();
    // The subscribers of the reset client leaving does not take the new one's listeners.
    drop(fresh);
    let client = app.decisions().client(app, KEY, &hosted).unwrap();
    assert_eq!(client.notification_center().listener_count(NotificationKind::Decision), 1);
    drop(newest);
    assert_eq!(client.notification_center().listener_count(NotificationKind::Decision), 0);
}
