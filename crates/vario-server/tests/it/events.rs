use serde_json::json;
use vario_store::{EventKind, LogReader};

use crate::{TestServer, batch, bytes, gzip, post_events};

#[test]
fn a_valid_batch_is_stored_before_the_204() {
    let server = TestServer::start();
    let answer = post_events(&server, &bytes(&batch("a")), &[]);
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert!(answer.body.is_empty());

    // The 204 means committed: a reader in another connection sees it at once.
    let reader = LogReader::open(server.dir.path()).unwrap();
    let events = reader.events_since(0, 10).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].row.kind, EventKind::Decision);
    assert_eq!(events[0].row.decision.as_ref().unwrap().variation_key, "control");
    assert_eq!(events[1].row.kind, EventKind::Conversion);
    assert_eq!((events[1].row.revenue, events[1].row.value), (Some(4200), Some(12.5)));
    assert_eq!(events[1].row.client_name, "python-sdk");
}

#[test]
fn a_retried_batch_is_answered_204_and_stored_once() {
    let server = TestServer::start();
    for _ in 0..3 {
        assert_eq!(post_events(&server, &bytes(&batch("r")), &[]).status, 204);
    }
    assert_eq!(server.stored(), 2);
}

#[test]
fn unknown_fields_and_nulls_from_other_sdks_are_accepted() {
    let server = TestServer::start();
    let mut b = batch("u");
    b["region"] = json!("EU"); // Go
    b["visitors"][0]["session_id"] = json!(123); // Java
    b["visitors"][0]["snapshots"][0]["decisions"][0]["campaign_id"] = json!(null); // JS
    b["visitors"][0]["snapshots"][0]["decisions"][0]["is_campaign_holdback"] = json!(false);
    b["visitors"][0]["snapshots"][0]["events"][0]["timestamp"] = json!(1_700_000_000_002.0_f64); // a JS number
    let answer = post_events(&server, &bytes(&b), &[]);
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(server.stored(), 2);
}

#[test]
fn a_gzip_batch_is_accepted() {
    let server = TestServer::start();
    let answer = post_events(&server, &gzip(&bytes(&batch("g"))), &[("content-encoding", "gzip")]);
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(server.stored(), 2);
}

/// Name, body, status, code, path named.
type Case = (&'static str, Vec<u8>, u16, &'static str, Option<String>);

/// Each class of bad input: status, code and the path named.
#[test]
fn bad_input_is_refused_with_the_field_path_and_nothing_is_stored() {
    let server = TestServer::start();
    let mut cases: Vec<Case> = vec![
        ("not JSON", b"{\"account_id\": ".to_vec(), 400, "malformed_json", None),
        ("garbage", b"hello".to_vec(), 400, "malformed_json", None),
        ("trailing data", [bytes(&batch("t")), b" {}".to_vec()].concat(), 400, "malformed_json", None),
        ("not an object", b"[]".to_vec(), 400, "invalid_field", None),
    ];
    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut b = batch("bad");
        edit(&mut b);
        bytes(&b)
    };
    let event = "visitors[1].snapshots[0].events[0]";
    cases.extend([
        (
            "wrong type",
            with(&|b| b["visitors"][1]["snapshots"][0]["events"][0]["timestamp"] = json!("yesterday")),
            400,
            "invalid_field",
            Some(format!("{event}.timestamp")),
        ),
        (
            "fractional timestamp",
            with(&|b| b["visitors"][1]["snapshots"][0]["events"][0]["timestamp"] = json!(1.5)),
            400,
            "invalid_field",
            Some(format!("{event}.timestamp")),
        ),
        (
            "missing field",
            with(&|b| {
                b["visitors"][1]["snapshots"][0]["events"][0].as_object_mut().unwrap().remove("timestamp");
            }),
            400,
            "invalid_field",
            Some(format!("{event}.timestamp")),
        ),
        (
            "missing visitors",
            with(&|b| {
                b.as_object_mut().unwrap().remove("visitors");
            }),
            400,
            "invalid_field",
            Some("visitors".into()),
        ),
        (
            "missing uuid",
            with(&|b| {
                b["visitors"][1]["snapshots"][0]["events"][0].as_object_mut().unwrap().remove("uuid");
            }),
            400,
            "invalid_field",
            Some(format!("{event}.uuid")),
        ),
        (
            "empty key",
            with(&|b| b["visitors"][1]["snapshots"][0]["events"][0]["key"] = json!("")),
            400,
            "invalid_field",
            Some(format!("{event}.key")),
        ),
        (
            "fractional revenue",
            with(&|b| b["visitors"][1]["snapshots"][0]["events"][0]["revenue"] = json!(10.5)),
            400,
            "invalid_field",
            Some(format!("{event}.revenue")),
        ),
        (
            "negative timestamp",
            with(&|b| b["visitors"][1]["snapshots"][0]["events"][0]["timestamp"] = json!(-1)),
            400,
            "invalid_field",
            Some(format!("{event}.timestamp")),
        ),
        (
            "long visitor id",
            with(&|b| b["visitors"][0]["visitor_id"] = json!("v".repeat(1025))),
            400,
            "too_long",
            Some("visitors[0].visitor_id".into()),
        ),
        (
            "long event key",
            with(&|b| b["visitors"][1]["snapshots"][0]["events"][0]["key"] = json!("k".repeat(257))),
            400,
            "too_long",
            Some(format!("{event}.key")),
        ),
        (
            "nested attribute value",
            with(&|b| b["visitors"][0]["attributes"][0]["value"] = json!({"a": 1})),
            400,
            "invalid_field",
            Some("visitors[0].attributes[0].value".into()),
        ),
        (
            "too many visitors",
            with(&|b| {
                let one = b["visitors"][1].clone();
                b["visitors"] = json!(vec![one; 10_001]);
            }),
            400,
            "too_many",
            Some("visitors".into()),
        ),
    ]);
    // Not a finite double: JSON cannot say NaN, and 1e999 overflows.
    let infinite = String::from_utf8(bytes(&batch("inf"))).unwrap().replace("12.5,", "1e999,");
    cases.push(("non-finite number", infinite.into_bytes(), 400, "invalid_field", Some(format!("{event}.value"))));

    for (name, body, status, code, path) in cases {
        let answer = post_events(&server, &body, &[]);
        assert_eq!(answer.status, status, "{name}: {}", answer.body);
        let (got_code, got_path) = answer.error();
        assert_eq!(got_code, code, "{name}: {}", answer.body);
        if let Some(path) = path {
            assert_eq!(got_path, Some(path), "{name}: {}", answer.body);
        }
    }
    assert_eq!(server.stored(), 0, "a rejected request stores nothing");
}

#[test]
fn bodies_over_the_limit_are_413_even_when_compressed() {
    let server = TestServer::start();
    let limit = vario_server::Limits::default().max_body_bytes;
    let mut big = batch("big");
    big["visitors"][0]["visitor_id"] = json!("x".repeat(limit));
    let answer = post_events(&server, &bytes(&big), &[]);
    assert_eq!((answer.status, answer.error().0.as_str()), (413, "payload_too_large"));

    // A gzip bomb: a few kilobytes that would inflate to 10 MB.
    let bomb = gzip(&vec![b' '; 10 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024);
    let answer = post_events(&server, &bomb, &[("content-encoding", "gzip")]);
    assert_eq!((answer.status, answer.error().0.as_str()), (413, "payload_too_large"));
    assert_eq!(server.stored(), 0);
}

#[test]
fn damaged_gzip_and_unknown_encodings_are_refused() {
    let server = TestServer::start();
    let mut damaged = gzip(&bytes(&batch("d")));
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xff;
    let answer = post_events(&server, &damaged, &[("content-encoding", "gzip")]);
    assert_eq!(answer.status, 400, "{}", answer.body);
    let answer = post_events(&server, &bytes(&batch("b")), &[("content-encoding", "br")]);
    assert_eq!((answer.status, answer.error().0.as_str()), (415, "unsupported_encoding"));
    assert_eq!(server.stored(), 0);
}

#[test]
fn a_large_batch_is_parsed_off_the_async_threads_and_stored() {
    let server = TestServer::start();
    let mut b = batch("large");
    let template = b["visitors"][1].clone();
    let visitors: Vec<_> = (0..2_000)
        .map(|i| {
            let mut v = template.clone();
            v["snapshots"][0]["events"][0]["uuid"] = json!(format!("large-{i}"));
            v
        })
        .collect();
    b["visitors"] = json!(visitors);
    assert!(bytes(&b).len() > 64 * 1024);
    assert_eq!(post_events(&server, &bytes(&b), &[]).status, 204);
    assert_eq!(server.stored(), 2_000);
}

#[test]
fn a_full_disk_is_503_and_keeps_every_accepted_event() {
    let server = TestServer::with(|c| c.storage.max_bytes = Some(200 * 1024));
    let mut accepted = 0;
    let mut refused = None;
    for i in 0..500 {
        let answer = post_events(&server, &bytes(&batch(&format!("full{i}"))), &[]);
        if answer.status == 204 {
            accepted += 1;
        } else {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("the log should fill up");
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.error().0, "storage_unavailable");
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("disk full"), "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("1"));
    let health = crate::request("GET", &format!("{}/healthz", server.url), &[], None);
    assert_eq!(health.status, 503);

    let dir = server.stop();
    let reader = LogReader::open(dir.path()).unwrap();
    reader.integrity_check().unwrap();
    assert_eq!(reader.count().unwrap(), accepted * 2);
}

#[test]
fn shutdown_commits_and_a_restart_sees_everything() {
    let server = TestServer::start();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let url = server.url.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let body = bytes(&batch(&format!("s{t}-{i}")));
                    let a = crate::request("POST", &format!("{url}/v1/events"), &[], Some(&body));
                    assert_eq!(a.status, 204, "{}", a.body);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let commits = server.state.open_store().unwrap().stats().commits;
    assert!((1..=40).contains(&commits));
    let dir = server.stop();
    let server = TestServer::in_dir(dir, |_| {});
    assert_eq!(server.stored(), 80);
    assert_eq!(post_events(&server, &bytes(&batch("s0-0")), &[]).status, 204);
    assert_eq!(server.stored(), 80);
}
