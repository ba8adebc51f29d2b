//! Every route of Agent's API document, answered by a real server, checked against the
//! document's response schema for the status it answered (`spec/agent/contract.json`,
//! the document restated as JSON Schema). Every status the document lists for a route
//! is provoked at least once, but for the few that no request can cause (listed below
//! with why).

use std::collections::BTreeSet;

use base64::Engine as _;
use serde_json::{Value, json};
use vario_server::{AgentClientConfig, ServerConfig};

use crate::{ADMIN, Answer, TestServer, bytes, request};

const CONTRACT: &str = include_str!("../../../../spec/agent/contract.json");
const DATAFILE: &str = include_str!("../../../../spec/compat/05-feature-variables/datafile.json");
const KEY: &str = "contract-env";
const SECRET: &[u8] = b"the contract test's signing secret";
const CLIENT_SECRET: &[u8] = b"the contract test's client secret";

/// Statuses the document lists that no request can provoke: Agent's 500 for a decide
/// that fails inside the SDK has no counterpart (Vario's decisions do not fail).
const UNPROVOKED: &[(&str, &str)] = &[("decide", "500")];

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn hosting(configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
    let server = TestServer::with(configure);
    let url = format!("{}/api/v1/environments/{KEY}/datafile", server.url);
    let bearer = format!("Bearer {ADMIN}");
    assert_eq!(request("PUT", &url, &[("authorization", &bearer)], Some(DATAFILE.as_bytes())).status, 200);
    server
}

/// One request and the route of the document it exercises.
struct Case {
    operation: &'static str,
    method: &'static str,
    target: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
}

fn case(operation: &'static str, method: &'static str, target: &str, key: &str, body: Option<Value>) -> Case {
    let mut headers = vec![("content-type", "application/json".to_owned())];
    if !key.is_empty() {
        headers.push(("x-optimizely-sdk-key", key.to_owned()));
    }
    Case { operation, method, target: target.to_owned(), headers, body: body.as_ref().map(bytes) }
}

fn cases() -> Vec<Case> {
    let user = json!({"userId": "u1", "userAttributes": {"plan": "gold"}});
    let mut all = Vec::new();
    for key in [KEY, "unknown-env"] {
        all.push(case("getConfig", "GET", "/v1/config", key, None));
        all.push(case("getDatafile", "GET", "/v1/datafile", key, None));
        all.push(case("decide", "POST", "/v1/decide?keys=flag_1", key, Some(user.clone())));
        all.push(case("lookup", "POST", "/v1/lookup", key, Some(json!({"userId": "u1"}))));
        let profile = json!({"userId": "u2", "experimentBucketMap": {"68809": {"variation_id": "68810"}}});
        all.push(case("save", "POST", "/v1/save", key, Some(profile)));
        all.push(case("trackEvent", "POST", "/v1/track?eventKey=signup", key, Some(user.clone())));
        all.push(case(
            "activate",
            "POST",
            "/v1/activate?experimentKey=ab_exp_0&featureKey=flag_1",
            key,
            Some(user.clone()),
        ));
        let force = json!({"userId": "u1", "experimentKey": "ab_exp_0", "variationKey": "v1"});
        all.push(case("override", "POST", "/v1/override", key, Some(force)));
    }
    all.extend([
        case("decide", "POST", "/v1/decide", KEY, Some(user.clone())),
        case("decide", "POST", "/v1/decide?keys=flag_1&keys=nope", KEY, Some(user.clone())),
        case("decide", "POST", "/v1/decide", KEY, Some(json!({"userAttributes": {}}))),
        case("lookup", "POST", "/v1/lookup", KEY, Some(json!({}))),
        case("save", "POST", "/v1/save", KEY, Some(json!({"userId": "u2", "experimentBucketMap": {"1": {}}}))),
        case("trackEvent", "POST", "/v1/track?eventKey=nope", KEY, Some(user.clone())),
        case("trackEvent", "POST", "/v1/track", KEY, Some(user.clone())),
        case("activate", "POST", "/v1/activate?type=feature&type=experiment", KEY, Some(user.clone())),
        case("activate", "POST", "/v1/activate?experimentKey=nope", KEY, Some(user.clone())),
        case("activate", "POST", "/v1/activate?type=bogus", KEY, Some(user.clone())),
        case("override", "POST", "/v1/override", KEY, Some(json!({"experimentKey": "ab_exp_0"}))),
        case("decide", "POST", "/v1/decide", "", Some(user.clone())),
    ]);
    let operation = |url: &str, body: &Value| json!({"method": "POST", "url": url, "operationID": url, "body": body, "headers": {"X-Optimizely-SDK-Key": KEY}});
    let ops = json!({"operations": [
        operation("/v1/decide", &user), operation("/v1/activate?type=feature", &user),
        operation("/v1/track?eventKey=signup", &user), operation("/v1/lookup", &json!({"userId": "u1"})),
        operation("/v1/save", &json!({"userId": "u3", "experimentBucketMap": {}})),
        {"method": "GET", "url": "/v1/config", "operationID": "config", "headers": {"X-Optimizely-SDK-Key": KEY}},
    ]});
    all.push(case("batch", "POST", "/v1/batch", "", Some(ops)));
    all.push(case("batch", "POST", "/v1/batch", "", Some(json!({"operations": "not a list"}))));
    let too_many: Vec<Value> = (0..501).map(|_| json!({"method": "GET", "url": "/v1/config"})).collect();
    all.push(case("batch", "POST", "/v1/batch", "", Some(json!({"operations": too_many}))));
    all
}

/// Cases on a server that asks for tokens: every route without one, and the token
/// route itself.
fn auth_cases() -> Vec<Case> {
    let mut all: Vec<Case> = cases()
        .into_iter()
        .filter(|c| c.headers.iter().any(|(n, v)| *n == "x-optimizely-sdk-key" && v == KEY))
        .collect();
    let form = |secret: &[u8]| Case {
        operation: "getToken",
        method: "POST",
        target: "/oauth/token".into(),
        headers: vec![("content-type", "application/x-www-form-urlencoded".into())],
        body: Some(format!("grant_type=client_credentials&client_id=svc&client_secret={}", b64(secret)).into_bytes()),
    };
    all.push(form(CLIENT_SECRET));
    all.push(form(b"a wrong secret"));
    all
}

/// Cases on a server without user profiles.
fn no_profile_cases() -> Vec<Case> {
    cases()
        .into_iter()
        .filter(|c| matches!(c.operation, "lookup" | "save") && c.headers.iter().any(|(_, v)| v == KEY))
        .collect()
}

fn run(server: &TestServer, case: &Case) -> Answer {
    let headers: Vec<(&str, &str)> = case.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    request(case.method, &format!("{}{}", server.url, case.target), &headers, case.body.as_deref())
}

#[test]
fn every_route_answers_what_agents_api_document_describes_for_each_status() {
    let contract: Value = serde_json::from_str(CONTRACT).unwrap();
    let routes = contract["routes"].as_object().unwrap();
    let plain = hosting(|_| {});
    let with_auth = hosting(|c| {
        c.agent.auth.hmac_secrets = vec![b64(SECRET)];
        c.agent.auth.clients = vec![AgentClientConfig {
            id: "svc".into(),
            secret_hash: b64(bcrypt::hash(CLIENT_SECRET, 4).unwrap().as_bytes()),
            sdk_keys: vec![KEY.into()],
        }];
    });
    let without_profiles = hosting(|c| c.agent.user_profiles = 0);

    let mut seen = BTreeSet::new();
    let mut failures = Vec::new();
    let runs = [(&plain, cases()), (&with_auth, auth_cases()), (&without_profiles, no_profile_cases())];
    for (server, cases) in &runs {
        for case in cases {
            let route = &routes[case.operation];
            assert_eq!(route["method"], case.method, "{}", case.operation);
            assert!(case.target.starts_with(route["path"].as_str().unwrap()), "{}: {}", case.operation, case.target);
            let answer = run(server, case);
            let status = answer.status.to_string();
            let Some(schema) = route["responses"].get(&status) else {
                failures.push(format!(
                    "{} {}: status {status} is not in the document: {}",
                    case.method, case.target, answer.body
                ));
                continue;
            };
            seen.insert((case.operation.to_owned(), status.clone()));
            let body: Value = if answer.body.is_empty() {
                Value::Null
            } else {
                match serde_json::from_str(&answer.body) {
                    Ok(body) => body,
                    Err(e) => {
                        failures.push(format!(
                            "{} {} ({status}): not JSON ({e}): {}",
                            case.method, case.target, answer.body
                        ));
                        continue;
                    }
                }
            };
            let mut full = schema.clone();
            full["$defs"] = contract["schemas"].clone();
            let validator = jsonschema::draft202012::options().should_validate_formats(true).build(&full).unwrap();
            for error in validator.iter_errors(&body) {
                failures.push(format!(
                    "{} {} ({status}) at {}: {error}",
                    case.method,
                    case.target,
                    error.instance_path()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "answers that differ from the document:\n{}", failures.join("\n"));

    let documented: BTreeSet<(String, String)> = routes
        .iter()
        .flat_map(|(op, r)| r["responses"].as_object().unwrap().keys().map(|s| (op.clone(), s.clone())))
        .filter(|(op, s)| !UNPROVOKED.contains(&(op.as_str(), s.as_str())))
        .collect();
    let missing: Vec<_> = documented.difference(&seen).collect();
    assert!(missing.is_empty(), "documented statuses no case provoked: {missing:?}");
}
