use crate::{ADMIN, TestServer, request};

pub(crate) const DATAFILE: &str = r#"{"version": "4", "accountId": "12001", "projectId": "12002", "revision": "42",
    "groups": [], "experiments": [], "audiences": [], "attributes": [], "featureFlags": [], "rollouts": [],
    "events": [{"id": "90001", "key": "purchase", "experimentIds": []}]}"#;

fn put(server: &TestServer, key: &str, body: &[u8]) -> crate::Answer {
    let bearer = format!("Bearer {ADMIN}");
    request(
        "PUT",
        &format!("{}/api/v1/environments/{key}/datafile", server.url),
        &[("authorization", &bearer)],
        Some(body),
    )
}

#[test]
fn an_uploaded_datafile_is_served_with_etag_and_304() {
    let server = TestServer::start();
    let url = format!("{}/datafiles/dev_key.json", server.url);
    assert_eq!(request("GET", &url, &[], None).status, 404);

    let uploaded = put(&server, "dev_key", DATAFILE.as_bytes());
    assert_eq!(uploaded.status, 200, "{}", uploaded.body);
    assert_eq!(uploaded.json()["revision"], "42");

    let got = request("GET", &url, &[], None);
    assert_eq!(got.status, 200);
    assert_eq!(got.body, DATAFILE, "served byte for byte");
    assert_eq!(got.header("content-type"), Some("application/json"));
    let etag = got.header("etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"), "strong: {etag}");
    assert_eq!(uploaded.header("etag"), Some(etag.as_str()));

    let cached = request("GET", &url, &[("if-none-match", &etag)], None);
    assert_eq!((cached.status, cached.body.as_str()), (304, ""));
    assert_eq!(cached.header("etag"), Some(etag.as_str()));
    assert_eq!(request("GET", &url, &[("if-none-match", "*")], None).status, 304);
    assert_eq!(request("GET", &url, &[("if-none-match", &format!("\"other\", W/{etag}"))], None).status, 304);
    assert_eq!(request("GET", &url, &[("if-none-match", "\"other\"")], None).status, 200);
    // The Python and JS SDKs revalidate with If-Modified-Since.
    let modified = got.header("last-modified").unwrap().to_owned();
    assert_eq!(request("GET", &url, &[("if-modified-since", &modified)], None).status, 304);
    assert_eq!(request("GET", &url, &[("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT")], None).status, 200);

    let changed = DATAFILE.replace("\"42\"", "\"43\"");
    assert_eq!(put(&server, "dev_key", changed.as_bytes()).status, 200);
    let new = request("GET", &url, &[("if-none-match", &etag)], None);
    assert_eq!((new.status, new.body.as_str()), (200, changed.as_str()));
    assert_ne!(new.header("etag"), Some(etag.as_str()));
}

#[test]
fn an_invalid_datafile_is_400_naming_the_path_and_changes_nothing() {
    let server = TestServer::start();
    assert_eq!(put(&server, "k", DATAFILE.as_bytes()).status, 200);
    let bad = DATAFILE.replace(r#""experimentIds": []"#, r#""experimentIds": 5"#);
    let answer = put(&server, "k", bad.as_bytes());
    assert_eq!(answer.status, 400, "{}", answer.body);
    let (code, path) = answer.error();
    assert_eq!((code.as_str(), path.as_deref()), ("invalid_datafile", Some("events[0].experimentIds")));
    assert_eq!(put(&server, "k", b"{nope").error().0, "invalid_datafile");
    assert_eq!(put(&server, "bad.key", DATAFILE.as_bytes()).error().0, "invalid_sdk_key");
    assert_eq!(request("GET", &format!("{}/datafiles/k.json", server.url), &[], None).body, DATAFILE);
}

#[test]
fn datafiles_survive_a_restart() {
    let server = TestServer::start();
    assert_eq!(put(&server, "prod", DATAFILE.as_bytes()).status, 200);
    let etag =
        request("GET", &format!("{}/datafiles/prod.json", server.url), &[], None).header("etag").unwrap().to_owned();
    let server = TestServer::in_dir(server.stop(), |_| {});
    let got = request("GET", &format!("{}/datafiles/prod.json", server.url), &[], None);
    assert_eq!((got.status, got.body.as_str()), (200, DATAFILE));
    assert_eq!(got.header("etag"), Some(etag.as_str()), "the same bytes keep their ETag");
}
