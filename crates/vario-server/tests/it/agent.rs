//! Optimizely Agent's API over a real socket: the request and answer shapes of Agent's
//! API document for decide, track, override and datafile, with decisions equal to
//! Vario's SDK, errors in Agent's `{"error"}` shape, and conversions stored.

use serde_json::{Value, json};
use vario_sdk::{Client, DecideOptions, DispatchError, EventDispatcher, LogEvent};

use crate::{ADMIN, Answer, TestServer, bytes, request};

const DATAFILE: &str = include_str!("../../../../spec/compat/05-feature-variables/datafile.json");
const KEY: &str = "agent-env";

fn started() -> TestServer {
    let server = TestServer::start();
    let bearer = format!("Bearer {ADMIN}");
    let url = format!("{}/api/v1/environments/{KEY}/datafile", server.url);
    assert_eq!(request("PUT", &url, &[("authorization", &bearer)], Some(DATAFILE.as_bytes())).status, 200);
    server
}

fn post(server: &TestServer, path: &str, body: &Value) -> Answer {
    let headers = [("x-optimizely-sdk-key", KEY), ("content-type", "application/json")];
    request("POST", &format!("{}{path}", server.url), &headers, Some(&bytes(body)))
}

fn agent_error(answer: &Answer, status: u16) -> String {
    assert_eq!(answer.status, status, "{answer:?}");
    answer.json()["error"].as_str().unwrap_or_else(|| panic!("no error: {}", answer.body)).to_owned()
}

struct Discard;

impl EventDispatcher for Discard {
    fn dispatch(&self, _: &LogEvent) -> Result<(), DispatchError> {
        Ok(())
    }
}

fn local() -> Client {
    Client::builder().datafile(DATAFILE).unwrap().event_dispatcher(Discard).immediate_events().build().unwrap()
}

fn attributes() -> Value {
    json!({"plan": "gold", "country": "us", "vip": true})
}

/// Agent's `OptimizelyDecision`: the fields its document requires and their types.
fn check_shape(d: &Value) {
    for field in ["variationKey", "ruleKey", "flagKey"] {
        assert!(d[field].is_string(), "{field}: {d}");
    }
    assert!(d["enabled"].is_boolean(), "{d}");
    assert!(d["userContext"]["userId"].is_string() && d["userContext"]["attributes"].is_object(), "{d}");
    assert!(d["reasons"].is_array(), "{d}");
    assert!(d["isEveryoneElseVariation"].is_boolean(), "{d}");
    assert!(d.get("variables").is_none_or(Value::is_object), "{d}");
}

#[test]
fn decide_answers_one_key_as_an_object_and_several_or_none_as_a_list_equal_to_the_sdk() {
    let server = started();
    let client = local();
    let flags: Vec<String> = client.config().unwrap().flags.iter().map(|f| f.key.clone()).collect();
    for i in 0..20 {
        let id = format!("user_{i}");
        let user = client
            .create_user_context(id.clone(), vario_sdk::Attributes::from(attributes().as_object().unwrap().clone()));
        let body = json!({"userId": id, "userAttributes": attributes()});
        let one = post(&server, "/v1/decide?keys=flag_1", &body);
        assert_eq!(one.status, 200, "{}", one.body);
        let one = one.json();
        check_shape(&one);
        let expected = user.decide("flag_1", DecideOptions::DISABLE_DECISION_EVENT);
        assert_eq!(one["flagKey"], "flag_1");
        assert_eq!(one["enabled"], expected.enabled());
        assert_eq!(one["variationKey"], expected.variation_key().unwrap_or_default());
        assert_eq!(one["ruleKey"], expected.rule_key().unwrap_or_default());
        assert_eq!(one["userContext"]["userId"], id.as_str());
        assert_eq!(one["userContext"]["attributes"], attributes());
        if expected.variables().is_empty() {
            assert!(one.get("variables").is_none());
        } else {
            assert_eq!(one["variables"], Value::Object(expected.variables().clone()));
        }

        let two = post(&server, "/v1/decide?keys=flag_4&keys=flag_0", &body).json();
        let keys: Vec<&str> = two.as_array().unwrap().iter().map(|d| d["flagKey"].as_str().unwrap()).collect();
        assert_eq!(keys, ["flag_4", "flag_0"]);
        let all = post(&server, "/v1/decide", &body).json();
        let all: Vec<&str> = all.as_array().unwrap().iter().map(|d| d["flagKey"].as_str().unwrap()).collect();
        assert_eq!(all, flags);
    }
}

#[test]
fn decide_options_and_forced_decisions_apply() {
    let server = started();
    let with_reasons =
        post(&server, "/v1/decide?keys=flag_1", &json!({"userId": "u1", "decideOptions": ["INCLUDE_REASONS"]})).json();
    assert!(!with_reasons["reasons"].as_array().unwrap().is_empty(), "{with_reasons}");
    let forced = json!({"userId": "u1", "forcedDecisions": [{"flagKey": "flag_1", "variationKey": "v1"}]});
    let d = post(&server, "/v1/decide?keys=flag_1", &forced).json();
    assert_eq!(d["variationKey"], "v1", "{d}");
    let invalid = post(&server, "/v1/decide", &json!({"userId": "u1", "decideOptions": ["NOPE"]}));
    assert!(agent_error(&invalid, 400).contains("NOPE"));
    let anonymous = post(&server, "/v1/decide", &json!({"userAttributes": {}}));
    assert!(agent_error(&anonymous, 400).contains("userId"));
    let not_json =
        request("POST", &format!("{}/v1/decide", server.url), &[("x-optimizely-sdk-key", KEY)], Some(b"{nope"));
    assert!(agent_error(&not_json, 400).contains("error parsing request body"));
}

#[test]
fn the_sdk_key_header_names_the_environment() {
    let server = started();
    let url = format!("{}/v1/decide", server.url);
    let body = bytes(&json!({"userId": "u1"}));
    let missing = request("POST", &url, &[], Some(&body));
    assert!(agent_error(&missing, 400).contains("X-Optimizely-SDK-Key"));
    let unknown = request("POST", &url, &[("x-optimizely-sdk-key", "nope")], Some(&body));
    agent_error(&unknown, 403);
    let datafile = request("GET", &format!("{}/v1/datafile", server.url), &[("x-optimizely-sdk-key", KEY)], None);
    assert_eq!(datafile.status, 200);
    assert_eq!(datafile.json(), serde_json::from_str::<Value>(DATAFILE).unwrap());
    let health = request("GET", &format!("{}/health", server.url), &[], None);
    assert_eq!((health.status, health.json()), (200, json!({"status": "ok"})));
}

#[test]
fn track_stores_the_conversion_and_reports_unknown_events() {
    let server = started();
    let body = json!({"userId": "buyer", "userAttributes": attributes(), "eventTags": {"revenue": 1200}});
    let tracked = post(&server, "/v1/track?eventKey=signup", &body);
    assert_eq!(tracked.status, 200, "{}", tracked.body);
    assert_eq!(tracked.json(), json!({"userId": "buyer", "eventKey": "signup"}));
    let unknown = post(&server, "/v1/track?eventKey=nope", &body).json();
    assert_eq!(unknown["eventKey"], "nope");
    assert!(unknown["error"].as_str().is_some_and(|e| e.contains("nope")), "{unknown}");
    assert!(agent_error(&post(&server, "/v1/track", &body), 400).contains("eventKey"));
    let dir = server.stop();
    let reader = vario_store::LogReader::open(dir.path()).unwrap();
    assert_eq!(reader.count().unwrap(), 1, "one conversion, none for the unknown event");
}

#[test]
fn override_forces_a_variation_until_removed_and_says_what_it_did() {
    let server = started();
    let set =
        post(&server, "/v1/override", &json!({"userId": "u9", "experimentKey": "flag_1_test_0", "variationKey": "v1"}));
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(
        set.json(),
        json!({"userId": "u9", "experimentKey": "flag_1_test_0", "variationKey": "v1", "prevVariationKey": ""})
    );
    let decided = post(&server, "/v1/decide?keys=flag_1", &json!({"userId": "u9"})).json();
    assert_eq!((decided["variationKey"].as_str(), decided["ruleKey"].as_str()), (Some("v1"), Some("flag_1_test_0")));
    let again =
        post(&server, "/v1/override", &json!({"userId": "u9", "experimentKey": "flag_1_test_0", "variationKey": "v0"}));
    assert_eq!(again.json()["prevVariationKey"], "v1");
    assert_eq!(again.json()["messages"], json!(["updating previous override"]));
    let removed = post(&server, "/v1/override", &json!({"userId": "u9", "experimentKey": "flag_1_test_0"})).json();
    assert_eq!(removed["messages"], json!(["removing previous override"]));
    let unknown =
        post(&server, "/v1/override", &json!({"userId": "u9", "experimentKey": "nope", "variationKey": "v1"}));
    assert_eq!(unknown.json()["messages"], json!(["experimentKey not found in configuration"]));
    let no_user = post(&server, "/v1/override", &json!({"experimentKey": "flag_1_test_0"}));
    assert_eq!(agent_error(&no_user, 400), "userId cannot be empty");
}

#[test]
fn batch_runs_each_operation_as_if_sent_alone() {
    let server = started();
    let sdk_key = json!({"X-Optimizely-SDK-Key": KEY, "X-Request-Id": "req-1"});
    let body = json!({"operations": [
        {"method": "POST", "url": "/v1/decide", "operationID": "1", "params": {"keys": "flag_1"},
         "body": {"userId": "user_3", "userAttributes": attributes()}, "headers": sdk_key},
        {"method": "POST", "url": "http://localhost:8080/v1/track?eventKey=signup", "operationID": "2",
         "body": {"userId": "user_3"}, "headers": sdk_key},
        {"method": "POST", "url": "/v1/decide", "operationID": "3", "body": {"userId": "user_3"}, "headers": {}},
        {"method": "GET", "url": "/v1/nope", "operationID": "4", "headers": sdk_key},
    ]});
    let answer = request("POST", &format!("{}/v1/batch", server.url), &[], Some(&bytes(&body)));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = answer.json();
    assert_eq!(answer["errorCount"], 2, "{answer}");
    assert!(answer["startedAt"].is_string() && answer["endedAt"].is_string());
    let items = answer["response"].as_array().unwrap();
    let alone = post(&server, "/v1/decide?keys=flag_1", &json!({"userId": "user_3", "userAttributes": attributes()}));
    assert_eq!((items[0]["status"].as_u64(), &items[0]["body"]), (Some(200), &alone.json()));
    assert_eq!((items[0]["operationID"].as_str(), items[0]["requestID"].as_str()), (Some("1"), Some("req-1")));
    assert_eq!(items[1]["body"], json!({"userId": "user_3", "eventKey": "signup"}));
    assert_eq!(items[2]["status"], 400);
    assert!(items[2]["body"]["error"].as_str().unwrap().contains("X-Optimizely-SDK-Key"));
    assert_eq!(items[3]["status"], 404);

    let url = format!("{}/v1/batch", server.url);
    let undecodable = request("POST", &url, &[], Some(b"{\"operations\": 7}"));
    assert_eq!(agent_error(&undecodable, 400), "cannot decode the operation body");
    let many = json!({"operations": vec![json!({"method": "GET", "url": "/health"}); 501]});
    assert!(agent_error(&request("POST", &url, &[], Some(&bytes(&many))), 422).contains("500"));
}

#[test]
fn config_is_the_sdks_optimizely_config_of_the_environment() {
    let server = started();
    let url = format!("{}/v1/config", server.url);
    let answer = request("GET", &url, &[("x-optimizely-sdk-key", KEY)], None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let expected = serde_json::to_value(local().optimizely_config().unwrap().as_ref()).unwrap();
    assert_eq!(answer.json(), expected);
    // The fields of Agent's OptimizelyConfig schema.
    let config = answer.json();
    for field in ["experimentsMap", "featuresMap"] {
        assert!(config[field].is_object(), "{field}: {config}");
    }
    for field in ["attributes", "audiences", "events"] {
        assert!(config[field].is_array(), "{field}: {config}");
    }
    assert!(config["revision"].is_string(), "{config}");
    assert!(!config["featuresMap"].as_object().unwrap().is_empty(), "{config}");
    let no_key = request("GET", &url, &[], None);
    assert!(agent_error(&no_key, 400).contains("X-Optimizely-SDK-Key"));
}
