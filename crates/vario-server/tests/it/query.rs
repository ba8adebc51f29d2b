use serde_json::json;

use crate::{ADMIN, TestServer, batch, bytes, post_events, request};

fn post_query(server: &TestServer, token: Option<&str>, body: &str) -> crate::Answer {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer));
    }
    request("POST", &format!("{}/api/v1/query", server.url), &headers, Some(body.as_bytes()))
}

#[test]
fn query_needs_the_admin_token_and_answers_rows() {
    let server = TestServer::with(|c| c.storage.compact_interval_seconds = 0);
    assert_eq!(post_events(&server, &bytes(&batch("q")), &[]).status, 204);
    let sql = r#"{"sql": "SELECT kind, visitor_id, revenue FROM events ORDER BY kind"}"#;

    for token in [None, Some("wrong")] {
        let answer = post_query(&server, token, sql);
        assert_eq!(answer.status, 401, "{}", answer.body);
        assert_eq!(answer.error().0, "unauthorized");
    }
    let answer = post_query(&server, Some(ADMIN), sql);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.json(),
        json!({"columns": ["kind", "visitor_id", "revenue"],
               "rows": [["conversion", "user_4", 4200], ["decision", "user_4", null]]})
    );
}

#[test]
fn bad_or_writing_sql_is_400() {
    let server = TestServer::start();
    for (body, code) in [
        (r#"{"sql": "SELEC 1"}"#, "invalid_query"),
        (r#"{"sql": "DROP TABLE events"}"#, "invalid_query"),
        (r#"{"sql": "COPY events TO 'x.csv'"}"#, "invalid_query"),
        (r#"{"sql": 5}"#, "invalid_field"),
        (r#"{"sql": "#, "malformed_json"),
    ] {
        let answer = post_query(&server, Some(ADMIN), body);
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert_eq!(answer.error().0, code, "{body}");
    }
}

#[test]
fn events_are_compacted_at_shutdown_and_still_answered_once() {
    let server = TestServer::with(|c| c.storage.compact_interval_seconds = 0);
    assert_eq!(post_events(&server, &bytes(&batch("a")), &[]).status, 204);
    let stored = server.stored();
    let dir = server.stop();
    let log = vario_store::LogReader::open(dir.path()).unwrap().events_since(0, 10).unwrap();
    assert_eq!(vario_store::watermark(dir.path()).unwrap(), log.last().unwrap().seq);
    assert!(!vario_store::live_files(dir.path(), i64::MAX).unwrap().is_empty());

    let server = TestServer::in_dir(dir, |_| {});
    assert_eq!(post_events(&server, &bytes(&batch("b")), &[]).status, 204);
    let answer = post_query(&server, Some(ADMIN), r#"{"sql": "SELECT count(DISTINCT uuid), count(*) FROM events"}"#);
    assert_eq!(answer.json()["rows"], json!([[stored + 2, stored + 2]]));
}

#[test]
fn events_are_compacted_in_the_background() {
    let server = TestServer::with(|c| c.storage.compact_interval_seconds = 1);
    assert_eq!(post_events(&server, &bytes(&batch("bg")), &[]).status, 204);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while vario_store::watermark(server.dir.path()).unwrap() == 0 {
        assert!(std::time::Instant::now() < deadline, "no compaction within 20 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(vario_store::live_files(server.dir.path(), i64::MAX).unwrap().len(), 1);
    // Compacted a moment ago: the events stay in the log for `prune_after_seconds`.
    let reader = vario_store::LogReader::open(server.dir.path()).unwrap();
    assert_eq!((reader.pruned_through().unwrap(), reader.count().unwrap()), (0, reader.last_seq().unwrap()));
}

#[test]
fn compacted_events_are_pruned_from_the_log_and_stay_counted_once() {
    let server = TestServer::with(|c| {
        c.storage.compact_interval_seconds = 1;
        c.storage.prune_after_seconds = 0;
        // Every commit's uuids go out to a run file, so the log may prune them.
        c.storage.uuid_memtable_keys = 1;
    });
    assert_eq!(post_events(&server, &bytes(&batch("p1")), &[]).status, 204);
    assert_eq!(post_events(&server, &bytes(&batch("p2")), &[]).status, 204);
    let reader = vario_store::LogReader::open(server.dir.path()).unwrap();
    let stored = i64::try_from(reader.last_seq().unwrap()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // Everything but the last row (kept so that seqs never restart) leaves the log.
    while reader.pruned_through().unwrap() < stored - 1 {
        assert!(std::time::Instant::now() < deadline, "not pruned within 20 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(reader.count().unwrap(), 1);
    // A retry of a pruned batch is still a duplicate, and queries count each event once.
    assert_eq!(post_events(&server, &bytes(&batch("p1")), &[]).status, 204);
    let answer = post_query(&server, Some(ADMIN), r#"{"sql": "SELECT count(DISTINCT uuid), count(*) FROM events"}"#);
    assert_eq!(answer.json()["rows"], json!([[stored, stored]]));
}

#[test]
fn events_wait_with_503_while_compaction_is_too_far_behind() {
    let server = TestServer::with(|c| {
        c.storage.compact_interval_seconds = 0;
        c.storage.max_uncompacted_events = 1;
    });
    assert_eq!(post_events(&server, &bytes(&batch("lag1")), &[]).status, 204);
    let refused = post_events(&server, &bytes(&batch("lag2")), &[]);
    assert_eq!(refused.status, 503);
    assert_eq!(refused.json()["error"]["code"], "overloaded");
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("compaction is"), "{}", refused.body);
    // Nothing of the refused batch was stored.
    let answer = post_query(&server, Some(ADMIN), r#"{"sql": "SELECT count(*) FROM events WHERE uuid LIKE 'lag2%'"}"#);
    assert_eq!(answer.json()["rows"], json!([[0]]));
}

#[test]
fn events_are_accepted_again_once_compaction_catches_up() {
    let server = TestServer::with(|c| {
        c.storage.compact_interval_seconds = 1;
        c.storage.max_uncompacted_events = 1;
    });
    assert_eq!(post_events(&server, &bytes(&batch("c1")), &[]).status, 204);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let status = post_events(&server, &bytes(&batch("c2")), &[]).status;
        if status == 204 {
            break;
        }
        assert_eq!(status, 503);
        assert!(std::time::Instant::now() < deadline, "still refused after 20 s");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
