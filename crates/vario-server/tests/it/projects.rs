//! Project management over HTTP: create, read, update, archive; field-specific
//! errors; conflicts; publishing of the built datafiles.

use serde_json::{Value, json};

use crate::{ADMIN, TestServer, request};

fn call(server: &TestServer, method: &str, path: &str, body: Option<&Value>, extra: &[(&str, &str)]) -> crate::Answer {
    let auth = format!("Bearer {ADMIN}");
    let mut headers = vec![("authorization", auth.as_str()), ("content-type", "application/json")];
    headers.extend_from_slice(extra);
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
    request(method, &format!("{}{path}", server.url), &headers, bytes.as_deref())
}

fn shop() -> Value {
    json!({
        "key": "shop",
        "environments": [{"key": "production"}],
        "events": [{"key": "purchase"}],
        "flags": [{
            "key": "checkout",
            "variations": [{"key": "off"}, {"key": "on", "enabled": true}],
            "rules": [{"key": "checkout_test", "type": "ab_test", "metrics": ["purchase"],
                       "traffic": [{"to": "off", "end": 5000}, {"to": "on", "end": 10000}],
                       "status": {"production": "running"}}],
            "everyone_else": {"variation": "off"}
        }]
    })
}

#[test]
fn a_project_is_created_served_edited_and_archived() {
    let server = TestServer::start();
    let created = call(&server, "PUT", "/api/v1/projects/shop", Some(&shop()), &[]);
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["revision"], 1);
    assert_eq!(created.header("etag"), Some("\"1\""));

    // The datafile is served at once and decides.
    let datafile = request("GET", &format!("{}/datafiles/shop-production.json", server.url), &[], None);
    assert_eq!(datafile.status, 200);
    let client = vario_sdk_free_check(&datafile.body);
    assert_eq!(client["featureFlags"][0]["key"], "checkout");
    let etag = datafile.header("etag").unwrap().to_owned();

    // Add an object, read it back.
    let added = call(&server, "POST", "/api/v1/projects/shop/events", Some(&json!({"key": "signup"})), &[]);
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(added.json()["changes"][0]["action"], "create");
    let event = call(&server, "GET", "/api/v1/projects/shop/events/signup", None, &[]);
    assert!(event.json()["object"]["id"].as_str().is_some_and(|id| id.chars().all(|c| c.is_ascii_digit())));
    let again = call(&server, "POST", "/api/v1/projects/shop/events", Some(&json!({"key": "signup"})), &[]);
    assert_eq!((again.status, again.error().0.as_str()), (409, "conflict"));

    // Archive it: the datafile changes and so does its ETag.
    let archived = call(&server, "DELETE", "/api/v1/projects/shop/events/signup", None, &[]);
    assert_eq!(archived.json()["changes"][0]["action"], "archive", "{}", archived.body);
    let now = request("GET", &format!("{}/datafiles/shop-production.json", server.url), &[], None);
    assert_ne!(now.header("etag").unwrap(), etag);
    assert!(!now.body.contains("signup"));

    let audit = call(&server, "GET", "/api/v1/projects/shop/audit", None, &[]);
    let entries = audit.json()["entries"].as_array().unwrap().clone();
    assert_eq!(entries[0]["action"], "archive");
    assert_eq!(entries[0]["actor"], "api:admin");
    assert_eq!(entries[0]["before"]["archived"], Value::Null);
    assert_eq!(entries[0]["after"]["archived"], true);
}

fn vario_sdk_free_check(body: &str) -> Value {
    vario_datafile::ProjectConfig::from_json(body).unwrap();
    serde_json::from_str(body).unwrap()
}

#[test]
fn errors_name_the_field_and_stale_revisions_conflict() {
    let server = TestServer::start();
    call(&server, "PUT", "/api/v1/projects/shop", Some(&shop()), &[]);
    let mut bad = shop();
    bad["flags"][0]["rules"][0]["traffic"][1]["end"] = json!(12000);
    let answer = call(&server, "PUT", "/api/v1/projects/shop", Some(&bad), &[]);
    assert_eq!(answer.status, 400);
    assert_eq!(answer.error(), ("invalid_field".into(), Some("flags[0].rules[0].traffic[1].end".into())));

    let flag = json!({"key": "checkout", "variations": [{"key": "off"}], "everyone_else": {"variation": "gone"}});
    let answer = call(&server, "PUT", "/api/v1/projects/shop/flags/checkout", Some(&flag), &[]);
    assert_eq!(answer.error().1.as_deref(), Some("flags[0].everyone_else.variation"), "{}", answer.body);

    let typo = json!({"key": "refund", "colour": "red"});
    let answer = call(&server, "POST", "/api/v1/projects/shop/events", Some(&typo), &[]);
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains("colour"), "{}", answer.body);

    let stale = call(&server, "PUT", "/api/v1/projects/shop", Some(&shop()), &[("if-match", "\"7\"")]);
    assert_eq!((stale.status, stale.error().0.as_str()), (409, "conflict"));
    let dry = call(
        &server,
        "POST",
        "/api/v1/projects/shop/events?dry_run=true",
        Some(&json!({"key": "x"})),
        &[("if-match", "\"1\"")],
    );
    assert_eq!(dry.json()["revision"], 2);
    assert_eq!(call(&server, "GET", "/api/v1/projects/shop", None, &[]).json()["revision"], 1);

    let unauthorized = request("GET", &format!("{}/api/v1/projects", server.url), &[], None);
    assert_eq!(unauthorized.status, 401);
    let openapi = request("GET", &format!("{}/api/v1/openapi.json", server.url), &[], None);
    assert_eq!(openapi.json()["openapi"], "3.1.0");
}

#[test]
fn concurrent_api_edits_lose_no_update() {
    let server = TestServer::start();
    assert_eq!(call(&server, "PUT", "/api/v1/projects/shop", Some(&shop()), &[]).status, 201);
    const WRITERS: usize = 4;
    const EDITS: usize = 5;
    let conflicts: usize = std::thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let server = &server;
                s.spawn(move || {
                    let mut conflicts = 0;
                    for e in 0..EDITS {
                        // Read, modify, write back with If-Match; on 409 read again.
                        loop {
                            let current = call(server, "GET", "/api/v1/projects/shop", None, &[]).json();
                            let mut project = current["project"].clone();
                            project["events"].as_array_mut().unwrap().push(json!({"key": format!("w{w}_e{e}")}));
                            let tag = format!("\"{}\"", current["revision"]);
                            let put =
                                call(server, "PUT", "/api/v1/projects/shop", Some(&project), &[("if-match", &tag)]);
                            match put.status {
                                200 => break,
                                409 => conflicts += 1,
                                other => panic!("{other}: {}", put.body),
                            }
                        }
                    }
                    conflicts
                })
            })
            .collect();
        writers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let last = call(&server, "GET", "/api/v1/projects/shop", None, &[]).json();
    assert_eq!(last["revision"], 1 + WRITERS * EDITS, "one revision per accepted edit ({conflicts} conflicts retried)");
    let keys: Vec<&str> =
        last["project"]["events"].as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap()).collect();
    for w in 0..WRITERS {
        for e in 0..EDITS {
            assert!(keys.contains(&format!("w{w}_e{e}").as_str()), "w{w}_e{e} lost: {keys:?}");
        }
    }
}
