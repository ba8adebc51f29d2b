use crate::{TestServer, batch, bytes, post_events, request};

#[test]
fn healthz_is_ok_with_a_writable_log() {
    let server = TestServer::start();
    let answer = request("GET", &format!("{}/healthz", server.url), &[], None);
    assert_eq!((answer.status, answer.json()["status"].as_str()), (200, Some("ok")));
}

#[test]
fn metrics_count_events_rejections_and_commits() {
    let server = TestServer::start();
    assert_eq!(post_events(&server, &bytes(&batch("m")), &[]).status, 204);
    assert_eq!(post_events(&server, &bytes(&batch("m")), &[]).status, 204);
    assert_eq!(post_events(&server, b"{", &[]).status, 400);
    let answer = request("GET", &format!("{}/metrics", server.url), &[], None);
    assert_eq!(answer.status, 200);
    assert!(answer.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    let text = answer.body;
    for line in [
        "vario_events_accepted_total 4",
        "vario_events_stored_total 2",
        "vario_events_duplicate_total 2",
        "vario_event_batches_accepted_total 2",
        "vario_event_batches_rejected_total{reason=\"malformed_json\"} 1",
        "vario_store_commits_total 2",
        "vario_store_queue_depth 0",
        "vario_storage_up 1",
        "vario_uuid_index_runs 0",
        "vario_store_commit_duration_seconds_count 2",
        "vario_http_request_duration_seconds_count{route=\"events\"} 3",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    let bytes_line = text.lines().find(|l| l.starts_with("vario_storage_bytes ")).unwrap();
    assert!(bytes_line.split(' ').nth(1).unwrap().parse::<u64>().unwrap() > 0);
    // Every sample line is `name{labels} value` with a numeric value.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
}

#[test]
fn unknown_routes_and_methods_get_the_json_error_shape() {
    let server = TestServer::start();
    let answer = request("GET", &format!("{}/nope", server.url), &[], None);
    assert_eq!((answer.status, answer.error().0.as_str()), (404, "not_found"));
    let answer = request("GET", &format!("{}/v1/events", server.url), &[], None);
    assert_eq!((answer.status, answer.error().0.as_str()), (405, "method_not_allowed"));
}
