use std::os::unix::fs::PermissionsExt;

use vario_server::{AppState, ServerConfig, TokenSource};

use crate::{ADMIN, TestServer, batch, bytes, post_events, request};

#[test]
fn a_configured_write_key_is_required_for_its_project_only() {
    let server = TestServer::with(|c| {
        c.events.write_keys.insert("12002".into(), "wk-secret".into());
    });
    let body = bytes(&batch("w"));
    let none = post_events(&server, &body, &[]);
    assert_eq!((none.status, none.error().0.as_str()), (401, "unauthorized"));
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    assert_eq!(post_events(&server, &body, &[("authorization", "Bearer nope")]).status, 401);
    assert_eq!(server.stored(), 0);
    assert_eq!(post_events(&server, &body, &[("authorization", "Bearer wk-secret")]).status, 204);
    assert_eq!(post_events(&server, &bytes(&batch("w2")), &[("x-vario-write-key", "wk-secret")]).status, 204);

    let mut other = batch("o");
    other["project_id"] = "999".into();
    assert_eq!(post_events(&server, &bytes(&other), &[]).status, 204, "projects without a key stay open");
    assert_eq!(server.stored(), 6);
}

#[test]
fn require_write_key_closes_projects_without_one() {
    let server = TestServer::with(|c| c.events.require_write_key = true);
    let answer = post_events(&server, &bytes(&batch("x")), &[("authorization", "Bearer anything")]);
    assert_eq!((answer.status, answer.error()), (401, ("unauthorized".into(), Some("project_id".into()))));
}

#[test]
fn admin_endpoints_need_the_admin_token() {
    let server = TestServer::start();
    let url = format!("{}/api/v1/environments/dev/datafile", server.url);
    let datafile = crate::datafiles::DATAFILE.as_bytes();
    for headers in [vec![], vec![("authorization", "Bearer wrong")], vec![("authorization", "Basic abc")]] {
        let answer = request("PUT", &url, &headers, Some(datafile));
        assert_eq!((answer.status, answer.error().0.as_str()), (401, "unauthorized"));
    }
    let bearer = format!("Bearer {ADMIN}");
    assert_eq!(request("PUT", &url, &[("authorization", &bearer)], Some(datafile)).status, 200);
}

#[test]
fn a_generated_admin_token_is_saved_owner_only_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let (state, source) = AppState::open(ServerConfig::new(dir.path())).unwrap();
    let path = dir.path().join("admin-token");
    assert_eq!(source, TokenSource::Generated(path.clone()));
    assert!(state.admin_token().len() >= 32);
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let token = state.admin_token().to_owned();
    state.close_store();
    drop(state);

    let (again, source) = AppState::open(ServerConfig::new(dir.path())).unwrap();
    assert_eq!(source, TokenSource::Saved(path));
    assert_eq!(again.admin_token(), token);
    again.close_store();
}

#[test]
fn secrets_compare_equal_only_when_equal() {
    use vario_server::auth::secrets_equal;
    assert!(secrets_equal("abc", "abc"));
    assert!(!secrets_equal("abc", "abd"));
    assert!(!secrets_equal("abc", "abcd"));
    assert!(!secrets_equal("", "a"));
}
