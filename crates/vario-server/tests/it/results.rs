//! `GET /api/v1/experiments/{key}/results`: the results document over events posted to
//! the server, behind the admin token, with options as query parameters.

use serde_json::json;

use crate::{ADMIN, TestServer, batch, bytes, post_events, request};

const DATAFILE: &str = r#"{"version": "4", "accountId": "12001", "projectId": "12002", "revision": "42",
    "groups": [], "audiences": [], "attributes": [], "featureFlags": [], "rollouts": [],
    "experiments": [{"id": "40001", "key": "ab_exp", "layerId": "41001", "status": "Running",
        "audienceIds": [], "forcedVariations": {},
        "variations": [{"id": "40011", "key": "control"}, {"id": "40012", "key": "treatment"}],
        "trafficAllocation": [{"entityId": "40011", "endOfRange": 5000}, {"entityId": "40012", "endOfRange": 10000}]}],
    "events": [{"id": "90001", "key": "purchase", "experimentIds": ["40001"]}]}"#;

fn get(server: &TestServer, path: &str, token: Option<&str>) -> crate::Answer {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer.iter().map(|b| ("authorization", b.as_str())).collect();
    request("GET", &format!("{}{path}", server.url), &headers, None)
}

fn server_with_events() -> TestServer {
    let server = TestServer::with(|c| c.storage.compact_interval_seconds = 0);
    let bearer = format!("Bearer {ADMIN}");
    let put = request(
        "PUT",
        &format!("{}/api/v1/environments/results_key/datafile", server.url),
        &[("authorization", &bearer)],
        Some(DATAFILE.as_bytes()),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(post_events(&server, &bytes(&batch("r")), &[]).status, 204);
    server
}

#[test]
fn results_need_the_admin_token_and_count_the_posted_events() {
    let server = server_with_events();
    for token in [None, Some("wrong")] {
        let answer = get(&server, "/api/v1/experiments/ab_exp/results", token);
        assert_eq!(answer.status, 401, "{}", answer.body);
    }
    let answer = get(&server, "/api/v1/experiments/ab_exp/results", Some(ADMIN));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let doc = answer.json();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["experiment"], json!({"id": "40001", "key": "ab_exp"}));
    assert_eq!(doc["variations"][0]["visitors"], 1);
    let rate = &doc["metrics"][0];
    assert_eq!(rate["name"], "purchase: conversion rate");
    assert_eq!(rate["variations"][0]["sum"], 1.0, "the purchase came after the decision");
    let revenue = &doc["metrics"][2];
    assert_eq!(revenue["variations"][0]["sum"], 4200.0);

    // The same options as the CLI: a window before the events leaves nobody.
    let answer = get(&server, "/api/v1/experiments/ab_exp/results?to=2020-01-01&interval=hour", Some(ADMIN));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["variations"][0]["visitors"], 0);
    let answer = get(&server, "/api/v1/experiments/ab_exp/results?segment=device%3Diphone", Some(ADMIN));
    assert_eq!(answer.json()["variations"][0]["visitors"], 1);
    let answer = get(&server, "/api/v1/experiments/ab_exp/results?segment=device%3Dandroid", Some(ADMIN));
    assert_eq!(answer.json()["variations"][0]["visitors"], 0);
}

#[test]
fn bad_options_are_400_naming_the_parameter_and_unknown_experiments_404() {
    let server = server_with_events();
    for (query, field) in [
        ("from=someday", "from"),
        ("alpha=1.5", "alpha"),
        ("interval=week", "interval"),
        ("segment=novalue", "segment"),
        ("exclude_multiple_exposures=maybe", "exclude_multiple_exposures"),
        ("colour=blue", "colour"),
    ] {
        let answer = get(&server, &format!("/api/v1/experiments/ab_exp/results?{query}"), Some(ADMIN));
        assert_eq!(answer.status, 400, "{query}: {}", answer.body);
        assert_eq!(answer.error(), ("invalid_field".to_owned(), Some(field.to_owned())), "{query}");
    }
    let answer = get(&server, "/api/v1/experiments/ab_exp/results?baseline=ghost", Some(ADMIN));
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("ghost"), "{}", answer.body);
    let answer = get(&server, "/api/v1/experiments/nope/results", Some(ADMIN));
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert!(answer.body.contains("nope"), "{}", answer.body);
}
