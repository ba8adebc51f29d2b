//! OFREP over a real socket: one key and every key, errors in OFREP's shape, the bulk
//! ETag, the credential naming the environment, and impressions stored as `decide`
//! sends them. The official providers are in `crates/vario-cli/tests/it/openfeature.rs`.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use vario_sdk::{Client, DecideOptions, DispatchError, EventDispatcher, LogEvent};

use crate::{ADMIN, Answer, TestServer, bytes, request};

const DATAFILE: &str = include_str!("../../../../spec/compat/05-feature-variables/datafile.json");
const KEY: &str = "ofrep-env";

fn upload(server: &TestServer, datafile: &str) {
    let bearer = format!("Bearer {ADMIN}");
    let url = format!("{}/api/v1/environments/{KEY}/datafile", server.url);
    let answer = request("PUT", &url, &[("authorization", &bearer)], Some(datafile.as_bytes()));
    assert_eq!(answer.status, 200, "{}", answer.body);
}

fn started() -> TestServer {
    let server = TestServer::start();
    upload(&server, DATAFILE);
    server
}

fn evaluate(server: &TestServer, key: &str, body: &Value) -> Answer {
    let bearer = format!("Bearer {KEY}");
    let url = format!("{}/ofrep/v1/evaluate/flags/{key}", server.url);
    request("POST", &url, &[("authorization", &bearer), ("content-type", "application/json")], Some(&bytes(body)))
}

fn bulk(server: &TestServer, body: &Value, headers: &[(&str, &str)]) -> Answer {
    let mut all = vec![("x-api-key", KEY), ("content-type", "application/json")];
    all.extend_from_slice(headers);
    request("POST", &format!("{}/ofrep/v1/evaluate/flags", server.url), &all, Some(&bytes(body)))
}

fn user(id: &str) -> Value {
    json!({"context": {"targetingKey": id, "plan": "gold", "country": "us", "vip": true}})
}

#[derive(Clone, Default)]
struct Count(Arc<Mutex<usize>>);

impl EventDispatcher for Count {
    fn dispatch(&self, event: &LogEvent) -> Result<(), DispatchError> {
        *self.0.lock().unwrap() += event.event_count();
        Ok(())
    }
}

fn local() -> (Client, Count) {
    let count = Count::default();
    let client = Client::builder()
        .datafile(DATAFILE)
        .unwrap()
        .event_dispatcher(count.clone())
        .immediate_events()
        .build()
        .unwrap();
    (client, count)
}

fn attributes() -> vario_sdk::Attributes {
    vario_sdk::Attributes::from(json!({"plan": "gold", "country": "us", "vip": true}).as_object().unwrap().clone())
}

#[test]
fn a_flag_and_a_flag_variable_answer_what_decide_answers() {
    let server = started();
    let (client, _) = local();
    for i in 0..40 {
        let id = format!("user_{i}");
        let decision = client.create_user_context(id.clone(), attributes()).decide("flag_1", DecideOptions::NONE);
        let flag = evaluate(&server, "flag_1", &user(&id));
        assert_eq!(flag.status, 200, "{}", flag.body);
        let flag = flag.json();
        assert_eq!(flag["key"], "flag_1");
        assert_eq!(flag["value"], decision.enabled());
        assert_eq!(flag["variant"].as_str(), decision.variation_key());
        assert!(["SPLIT", "TARGETING_MATCH", "DEFAULT"].contains(&flag["reason"].as_str().unwrap()), "{flag}");
        let variable = evaluate(&server, "flag_1.var_4_string", &user(&id)).json();
        assert_eq!(Some(&variable["value"]), decision.variable("var_4_string"), "{variable}");
    }
}

#[test]
fn evaluation_errors_have_the_ofrep_shape_and_status() {
    let server = started();
    let cases = [
        ("nope", user("u"), 404, "FLAG_NOT_FOUND"),
        ("flag_1.nope", user("u"), 404, "FLAG_NOT_FOUND"),
        ("flag_1", json!({"context": {"plan": "gold"}}), 400, "TARGETING_KEY_MISSING"),
        ("flag_1", json!({}), 400, "TARGETING_KEY_MISSING"),
        ("flag_1", json!({"context": {"targetingKey": 7}}), 400, "INVALID_CONTEXT"),
        ("flag_1", json!({"context": [1]}), 400, "INVALID_CONTEXT"),
        ("flag_1", json!([1]), 400, "PARSE_ERROR"),
    ];
    for (key, body, status, code) in cases {
        let answer = evaluate(&server, key, &body);
        assert_eq!(answer.status, status, "{key} {body}: {}", answer.body);
        let json = answer.json();
        assert_eq!((json["key"].as_str(), json["errorCode"].as_str()), (Some(key), Some(code)), "{json}");
        assert!(json["errorDetails"].as_str().is_some_and(|d| !d.is_empty()), "{json}");
    }
    let bearer = format!("Bearer {KEY}");
    let url = format!("{}/ofrep/v1/evaluate/flags/flag_1", server.url);
    let not_json = request("POST", &url, &[("authorization", &bearer)], Some(b"{nope"));
    assert_eq!((not_json.status, not_json.json()["errorCode"].as_str()), (400, Some("PARSE_ERROR")));
}

#[test]
fn the_sdk_key_is_the_credential_and_an_unknown_one_is_refused() {
    let server = started();
    let url = format!("{}/ofrep/v1/evaluate/flags/flag_1", server.url);
    let body = bytes(&user("u"));
    let missing = request("POST", &url, &[], Some(&body));
    assert_eq!((missing.status, missing.error().0.as_str()), (401, "unauthorized"), "{missing:?}");
    let unknown = request("POST", &url, &[("authorization", "Bearer other-env")], Some(&body));
    assert_eq!((unknown.status, unknown.error().0.as_str()), (401, "unauthorized"), "{unknown:?}");
    let by_api_key = request("POST", &url, &[("x-api-key", KEY)], Some(&body));
    assert_eq!(by_api_key.status, 200, "{by_api_key:?}");
    let big = vec![b' '; 65 * 1024];
    let too_big = request("POST", &url, &[("x-api-key", KEY)], Some(&big));
    assert_eq!((too_big.status, too_big.error().0.as_str()), (413, "payload_too_large"));
}

#[test]
fn bulk_evaluation_lists_every_key_and_answers_304_to_its_etag() {
    let server = started();
    let first = bulk(&server, &user("user_3"), &[]);
    assert_eq!(first.status, 200, "{}", first.body);
    let etag = first.header("etag").unwrap().to_owned();
    let flags = first.json()["flags"].as_array().unwrap().clone();
    let expected: usize = serde_json::from_str::<Value>(DATAFILE).unwrap()["featureFlags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| 1 + f["variables"].as_array().unwrap().len())
        .sum();
    assert_eq!(flags.len(), expected);
    for flag in &flags {
        let key = flag["key"].as_str().unwrap();
        let alone = evaluate(&server, key, &user("user_3")).json();
        assert_eq!(&alone, flag, "{key}");
    }
    let again = bulk(&server, &user("user_3"), &[("if-none-match", &etag)]);
    assert_eq!((again.status, again.body.as_str()), (304, ""));
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let other_user = bulk(&server, &user("user_4"), &[("if-none-match", &etag)]);
    assert_eq!(other_user.status, 200);
    assert_ne!(other_user.header("etag"), Some(etag.as_str()));

    // A new datafile is a new tag for the same context.
    let mut changed: Value = serde_json::from_str(DATAFILE).unwrap();
    changed["revision"] = json!("9999");
    upload(&server, &changed.to_string());
    let after = bulk(&server, &user("user_3"), &[("if-none-match", &etag)]);
    assert_eq!(after.status, 200);
    assert_eq!(after.json()["metadata"]["revision"], "9999");

    let missing_key = bulk(&server, &json!({"context": {}}), &[]);
    assert_eq!((missing_key.status, missing_key.json()["errorCode"].as_str()), (400, Some("TARGETING_KEY_MISSING")));
}

#[test]
fn impressions_of_evaluations_are_stored_as_decide_sends_them() {
    let server = started();
    let (client, count) = local();
    for i in 0..30 {
        let id = format!("visitor_{i}");
        let user_context = client.create_user_context(id.clone(), attributes());
        user_context.decide("flag_1", DecideOptions::NONE);
        user_context.decide("flag_4", DecideOptions::NONE);
        assert_eq!(evaluate(&server, "flag_1", &user(&id)).status, 200);
        assert_eq!(evaluate(&server, "flag_4.var_0_boolean", &user(&id)).status, 200);
    }
    let sent = *count.0.lock().unwrap();
    assert!(sent > 0, "the datafile sends impressions for these flags");
    // Stopping delivers the deciding clients' queues into the log before it closes.
    let dir = server.stop();
    let stored = vario_store::LogReader::open(dir.path()).unwrap().count().unwrap();
    assert_eq!(stored as usize, sent);
}

#[test]
fn pages_of_other_sites_may_evaluate_with_the_providers_headers() {
    let server = started();
    let url = format!("{}/ofrep/v1/evaluate/flags", server.url);
    let sent = [
        ("origin", "http://shop.example"),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "content-type, authorization, x-api-key, if-none-match"),
    ];
    let preflight = request("OPTIONS", &url, &sent, None);
    assert_eq!(preflight.status, 204, "{preflight:?}");
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    let answer = bulk(&server, &user("u"), &[("origin", "http://shop.example")]);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert!(answer.header("access-control-expose-headers").is_some_and(|h| h.contains("ETag")));
}
