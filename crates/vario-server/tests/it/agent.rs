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
        json!({"userId": "u9", "experimentKey": "flag_1_test_0", "variationKey": "v1", "prevVariationKey": "",
            "messages": null})
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

/// Agent's `Decision`: the fields of its document's schema and their types.
fn check_activate_shape(d: &Value) {
    for field in ["userId", "experimentKey", "featureKey", "variationKey", "type"] {
        assert!(d[field].is_string(), "{field}: {d}");
    }
    assert!(d["enabled"].is_boolean(), "{d}");
    assert!(d.get("variables").is_none_or(Value::is_object), "{d}");
    assert!(d.get("error").is_none_or(Value::is_string), "{d}");
    let known = ["userId", "experimentKey", "featureKey", "variationKey", "type", "enabled", "variables", "error"];
    assert!(d.as_object().unwrap().keys().all(|k| known.contains(&k.as_str())), "{d}");
}

fn by_key(decisions: &Value) -> std::collections::BTreeMap<String, Value> {
    decisions
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {decisions}"))
        .iter()
        .map(|d| {
            check_activate_shape(d);
            let key = if d["type"] == "feature" { &d["featureKey"] } else { &d["experimentKey"] };
            (key.as_str().unwrap().to_owned(), d.clone())
        })
        .collect()
}

#[test]
fn activate_decides_experiments_and_features_as_the_sdk_and_stores_impressions_unless_disabled() {
    let server = started();
    let client = local();
    let attrs = vario_sdk::Attributes::from(attributes().as_object().unwrap().clone());
    let body = json!({"userId": "user_7", "userAttributes": attributes()});

    let some = post(&server, "/v1/activate?experimentKey=ab_exp_1&featureKey=flag_2&disableTracking=true", &body);
    assert_eq!(some.status, 200, "{}", some.body);
    let some = by_key(&some.json());
    assert_eq!(some.len(), 2, "{some:?}");
    let variation = client.get_variation("ab_exp_1", "user_7", &attrs).map(|v| v.key().to_owned()).unwrap_or_default();
    let exp = &some["ab_exp_1"];
    assert_eq!((exp["type"].as_str(), exp["variationKey"].as_str()), (Some("experiment"), Some(variation.as_str())));
    assert_eq!(exp["enabled"], !variation.is_empty());
    assert!(exp.get("variables").is_none(), "{exp}");
    let user = client.create_user_context("user_7", attrs.clone());
    let expected = user.decide("flag_2", DecideOptions::DISABLE_DECISION_EVENT);
    let feature = &some["flag_2"];
    assert_eq!(feature["type"], "feature");
    assert_eq!(feature["enabled"], expected.enabled());
    assert_eq!(feature["variationKey"], expected.variation_key().unwrap_or_default());
    assert_eq!(feature["experimentKey"], expected.rule_key().unwrap_or_default());
    assert_eq!(feature["variables"], Value::Object(expected.variables().clone()));
    assert_eq!(feature["userId"], "user_7");

    // type= adds every experiment (top-level and flag rules, not rollouts) or every flag.
    let config = client.optimizely_config().unwrap();
    let experiments = by_key(&post(&server, "/v1/activate?type=experiment&disableTracking=true", &body).json());
    assert_eq!(experiments.keys().collect::<Vec<_>>(), config.experiments_map.keys().collect::<Vec<_>>());
    let features = by_key(&post(&server, "/v1/activate?type=feature&disableTracking=true", &body).json());
    assert_eq!(features.keys().collect::<Vec<_>>(), config.features_map.keys().collect::<Vec<_>>());
    let enabled = by_key(&post(&server, "/v1/activate?type=feature&enabled=true&disableTracking=true", &body).json());
    let disabled = by_key(&post(&server, "/v1/activate?type=feature&enabled=false&disableTracking=true", &body).json());
    assert!(enabled.values().all(|d| d["enabled"] == true) && disabled.values().all(|d| d["enabled"] == false));
    assert_eq!(enabled.len() + disabled.len(), features.len());
    assert!(post(&server, "/v1/activate", &body).json().as_array().unwrap().is_empty());

    // Unknown keys are decisions with an error; an unknown type and no user are refused.
    let unknown = post(&server, "/v1/activate?experimentKey=nope&featureKey=nada", &body).json();
    assert_eq!(
        unknown,
        json!([
            {"userId": "user_7", "experimentKey": "nope", "featureKey": "", "variationKey": "", "type": "",
             "enabled": false, "error": "experimentKey not found"},
            {"userId": "user_7", "experimentKey": "", "featureKey": "nada", "variationKey": "", "type": "",
             "enabled": false, "error": "featureKey not found"},
        ])
    );
    assert_eq!(agent_error(&post(&server, "/v1/activate?type=flag", &body), 400), "type \"flag\" not supported");
    assert!(agent_error(&post(&server, "/v1/activate?type=feature", &json!({})), 400).contains("userId"));

    let dir = server.stop();
    let reader = vario_store::LogReader::open(dir.path()).unwrap();
    assert_eq!(reader.count().unwrap(), 0, "disableTracking sends nothing");

    // With tracking, the impressions the SDK sends for the same calls.
    let server = started();
    let tracked = post(&server, "/v1/activate?experimentKey=ab_exp_1&featureKey=flag_2", &body);
    assert_eq!(tracked.status, 200, "{}", tracked.body);
    let recorded = Recorder::default();
    let client = Client::builder()
        .datafile(DATAFILE)
        .unwrap()
        .event_dispatcher(recorded.clone())
        .immediate_events()
        .build()
        .unwrap();
    client.activate("ab_exp_1", "user_7", &attrs);
    client.create_user_context("user_7", attrs).decide("flag_2", DecideOptions::NONE);
    client.close();
    let impressions = recorded.events();
    assert!(impressions > 0, "the SDK sends impressions for these calls");
    assert_eq!(server.stop_and_count(), impressions);
}

/// Counts the events an SDK client sends.
#[derive(Clone, Default)]
struct Recorder(std::sync::Arc<std::sync::Mutex<u64>>);

impl Recorder {
    fn events(&self) -> u64 {
        *self.0.lock().unwrap()
    }
}

impl EventDispatcher for Recorder {
    fn dispatch(&self, event: &LogEvent) -> Result<(), DispatchError> {
        let batch: Value = serde_json::from_slice(&event.json()).unwrap();
        let events: usize = batch["visitors"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|v| v["snapshots"].as_array().unwrap())
            .map(|s| s["events"].as_array().unwrap().len())
            .sum();
        *self.0.lock().unwrap() += events as u64;
        Ok(())
    }
}

#[test]
fn lookup_shows_the_bucketing_kept_and_save_makes_a_user_keep_a_variation() {
    let server = started();
    let client = local();
    let none = vario_sdk::Attributes::default();
    let activate = |user: &str| {
        let answer =
            post(&server, "/v1/activate?experimentKey=flag_1_test_0&disableTracking=true", &json!({"userId": user}));
        answer.json()[0]["variationKey"].as_str().unwrap().to_owned()
    };
    let id_of = |key: &str| if key == "v0" { "68840" } else { "68868" };

    let fresh = post(&server, "/v1/lookup", &json!({"userId": "sticky"}));
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_eq!(fresh.json(), json!({"userId": "sticky", "experimentBucketMap": {}}));
    let variation = activate("sticky");
    let kept = post(&server, "/v1/lookup", &json!({"userId": "sticky"})).json();
    assert_eq!(
        kept,
        json!({"userId": "sticky", "experimentBucketMap": {"68809": {"variation_id": id_of(&variation)}}})
    );

    let natural = client.get_variation("flag_1_test_0", "saved", &none).unwrap().key().to_owned();
    let other = if natural == "v0" { "v1" } else { "v0" };
    let profile = json!({"userId": "saved", "experimentBucketMap": {"68809": {"variation_id": id_of(other)}}});
    let saved = post(&server, "/v1/save", &profile);
    assert_eq!((saved.status, saved.body.as_str()), (200, ""));
    assert_eq!(activate("saved"), other, "the saved profile wins over bucketing");
    assert_eq!(post(&server, "/v1/lookup", &json!({"userId": "saved"})).json(), profile);

    assert!(agent_error(&post(&server, "/v1/lookup", &json!({})), 400).contains("userId"));
    assert!(agent_error(&post(&server, "/v1/save", &json!({"experimentBucketMap": {}})), 400).contains("userId"));
    let malformed = json!({"userId": "u", "experimentBucketMap": {"68809": "68840"}});
    assert!(agent_error(&post(&server, "/v1/save", &malformed), 400).contains("variation_id"));

    // Through /v1/batch as alone.
    let ops = json!({"operations": [{"method": "POST", "url": "/v1/lookup", "body": {"userId": "saved"},
                                     "headers": {"X-Optimizely-SDK-Key": KEY}}]});
    let batch = request("POST", &format!("{}/v1/batch", server.url), &[], Some(&bytes(&ops))).json();
    assert_eq!(batch["response"][0]["body"], profile);
}

#[test]
fn user_profiles_are_bounded_and_can_be_turned_off() {
    let bounded = TestServer::with(|c| c.agent.user_profiles = 2);
    let bearer = format!("Bearer {ADMIN}");
    let put = |server: &TestServer| {
        let url = format!("{}/api/v1/environments/{KEY}/datafile", server.url);
        assert_eq!(request("PUT", &url, &[("authorization", &bearer)], Some(DATAFILE.as_bytes())).status, 200);
    };
    put(&bounded);
    for user in ["first", "second", "third"] {
        let profile = json!({"userId": user, "experimentBucketMap": {"68809": {"variation_id": "68840"}}});
        assert_eq!(post(&bounded, "/v1/save", &profile).status, 200);
    }
    let first = post(&bounded, "/v1/lookup", &json!({"userId": "first"})).json();
    assert_eq!(first["experimentBucketMap"], json!({}), "the user stored first is forgotten first");
    let third = post(&bounded, "/v1/lookup", &json!({"userId": "third"})).json();
    assert_eq!(third["experimentBucketMap"], json!({"68809": {"variation_id": "68840"}}));

    let off = TestServer::with(|c| c.agent.user_profiles = 0);
    put(&off);
    assert_eq!(agent_error(&post(&off, "/v1/lookup", &json!({"userId": "u"})), 500), "no user profile service found");
    assert_eq!(agent_error(&post(&off, "/v1/save", &json!({"userId": "u"})), 500), "no user profile service found");
    let decided = post(&off, "/v1/decide?keys=flag_1", &json!({"userId": "u"}));
    assert_eq!(decided.status, 200, "decisions do not need profiles");
}

#[test]
fn reset_gives_the_environment_a_fresh_client_without_overrides_or_profiles() {
    let server = started();
    let expected =
        local().create_user_context("u9", vario_sdk::Attributes::new()).decide("flag_1", DecideOptions::NONE);
    // Forced to a variation the user would not get, so that its end shows.
    let forced = if expected.variation_key() == Some("v1") { "v0" } else { "v1" };
    let force = json!({"userId": "u9", "experimentKey": "flag_1_test_0", "variationKey": forced});
    assert_eq!(post(&server, "/v1/override", &force).status, 200);
    assert_eq!(post(&server, "/v1/decide?keys=flag_1", &json!({"userId": "u9"})).json()["variationKey"], forced);
    let profile = json!({"userId": "u3", "experimentBucketMap": {"68809": {"variation_id": "68810"}}});
    assert_eq!(post(&server, "/v1/save", &profile).status, 200);

    let reset = post(&server, "/v1/reset", &json!({}));
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(reset.json(), json!({"result": true}));

    let decided = post(&server, "/v1/decide?keys=flag_1", &json!({"userId": "u9"})).json();
    assert_eq!(decided["variationKey"], expected.variation_key().unwrap_or_default(), "the override is gone");
    let looked = post(&server, "/v1/lookup", &json!({"userId": "u3"})).json();
    assert_eq!(looked["experimentBucketMap"], json!({}), "the saved profile is gone");
    let unknown = request("POST", &format!("{}/v1/reset", server.url), &[("x-optimizely-sdk-key", "nope")], None);
    assert_eq!(agent_error(&unknown, 403), "no datafile is hosted for SDK key \"nope\"");
    // Events decided before the reset were stored.
    assert!(server.stop_and_count() > 0);
}
