//! CORS at the HTTP level: preflights and answers of the public SDK routes (datafiles,
//! Events API) for the allowed origins, refusals for the others, and no CORS at all on
//! the admin API and the pages. Browsers are in `crates/vario-cli/tests/it/web_sdk.rs`.

use vario_server::{AppState, CorsConfig, ServerConfig};

use crate::datafiles::DATAFILE;
use crate::{ADMIN, Answer, TestServer, batch, bytes, request};

const SHOP: &str = "http://shop.example";

fn listed(origins: &[&str]) -> TestServer {
    TestServer::with(|c| c.cors.allowed_origins = origins.iter().map(|o| (*o).to_owned()).collect())
}

fn upload(server: &TestServer) {
    let bearer = format!("Bearer {ADMIN}");
    let url = format!("{}/api/v1/environments/web/datafile", server.url);
    let answer = request("PUT", &url, &[("authorization", &bearer)], Some(DATAFILE.as_bytes()));
    assert_eq!(answer.status, 200, "{}", answer.body);
}

fn preflight(server: &TestServer, path: &str, origin: &str, method: &str, headers: &str) -> Answer {
    let mut sent = vec![("origin", origin), ("access-control-request-method", method)];
    if !headers.is_empty() {
        sent.push(("access-control-request-headers", headers));
    }
    request("OPTIONS", &format!("{}{path}", server.url), &sent, None)
}

/// No answer of any route lets a page send cookies or HTTP authentication.
fn no_credentials(answer: &Answer) {
    assert_eq!(answer.header("access-control-allow-credentials"), None, "{answer:?}");
}

fn no_cors(answer: &Answer) {
    no_credentials(answer);
    for name in ["access-control-allow-origin", "access-control-allow-methods", "access-control-expose-headers"] {
        assert_eq!(answer.header(name), None, "{name}: {answer:?}");
    }
}

fn refused(answer: &Answer) {
    assert_eq!((answer.status, answer.error().0.as_str()), (403, "cors_refused"), "{answer:?}");
    no_cors(answer);
}

#[test]
fn preflights_of_the_public_routes_answer_their_methods_headers_and_max_age() {
    let server = TestServer::start();
    let events = preflight(&server, "/v1/events", SHOP, "POST", "content-type");
    assert_eq!(events.status, 204, "{events:?}");
    assert_eq!(events.header("access-control-allow-origin"), Some("*"));
    assert_eq!(events.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(events.header("access-control-max-age"), Some("7200"));
    let allowed = events.header("access-control-allow-headers").unwrap().to_ascii_lowercase();
    for name in ["content-type", "content-encoding", "x-vario-write-key", "authorization"] {
        assert!(allowed.split(", ").any(|n| n == name), "{name} in {allowed}");
    }
    no_credentials(&events);

    // The browser SDK revalidates its datafile with If-Modified-Since, set by script.
    let datafile = preflight(&server, "/datafiles/web.json", SHOP, "GET", "if-modified-since,If-None-Match");
    assert_eq!(datafile.status, 204, "{datafile:?}");
    assert_eq!(datafile.header("access-control-allow-origin"), Some("*"));
    assert_eq!(datafile.header("access-control-allow-methods"), Some("GET, HEAD"));
    assert!(datafile.header("vary").unwrap().contains("Access-Control-Request-Headers"));
    no_credentials(&datafile);
}

#[test]
fn a_preflight_for_another_method_or_header_is_refused_naming_it() {
    let server = TestServer::start();
    let put = preflight(&server, "/v1/events", SHOP, "PUT", "content-type");
    refused(&put);
    let message = put.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("\"PUT\"") && message.contains("POST"), "{message}");
    refused(&preflight(&server, "/datafiles/web.json", SHOP, "POST", ""));
    let header = preflight(&server, "/v1/events", SHOP, "POST", "content-type, x-tracking-id");
    refused(&header);
    assert!(header.body.contains("x-tracking-id"), "{}", header.body);
    // An OPTIONS that is no preflight is what it was: a method the route does not take.
    let plain = request("OPTIONS", &format!("{}/v1/events", server.url), &[], None);
    assert_eq!((plain.status, plain.error().0.as_str()), (405, "method_not_allowed"));
    let get = request("GET", &format!("{}/v1/events", server.url), &[("origin", SHOP)], None);
    assert_eq!((get.status, get.error().0.as_str()), (405, "method_not_allowed"));
}

#[test]
fn a_conditional_datafile_request_from_a_page_gets_304_with_the_etag_exposed() {
    let server = TestServer::start();
    upload(&server);
    let url = format!("{}/datafiles/web.json", server.url);
    let got = request("GET", &url, &[("origin", SHOP)], None);
    assert_eq!((got.status, got.body.as_str()), (200, DATAFILE));
    assert_eq!(got.header("access-control-allow-origin"), Some("*"));
    assert_eq!(got.header("access-control-expose-headers"), Some("ETag"));
    let etag = got.header("etag").unwrap().to_owned();
    let cached = request("GET", &url, &[("origin", SHOP), ("if-none-match", &etag)], None);
    assert_eq!((cached.status, cached.body.as_str()), (304, ""));
    assert_eq!(cached.header("access-control-allow-origin"), Some("*"));
    assert_eq!(cached.header("access-control-expose-headers"), Some("ETag"));
    assert_eq!(cached.header("etag"), Some(etag.as_str()));
    no_credentials(&cached);
    // With `*`, servers' own requests get the same answer, so shared caches can keep one.
    let plain = request("GET", &url, &[], None);
    assert_eq!(plain.header("access-control-allow-origin"), Some("*"));
    let missing = request("GET", &format!("{}/datafiles/none.json", server.url), &[("origin", SHOP)], None);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("access-control-allow-origin"), Some("*"), "the page can read why");
}

#[test]
fn an_allowed_origin_is_echoed_on_both_public_routes_and_its_events_are_stored() {
    let server = listed(&["https://other.example", SHOP]);
    upload(&server);
    let answer = preflight(&server, "/v1/events", SHOP, "POST", "content-type");
    assert_eq!(answer.status, 204, "{answer:?}");
    assert_eq!(answer.header("access-control-allow-origin"), Some(SHOP));

    let body = bytes(&batch("cors-allowed"));
    let url = format!("{}/v1/events", server.url);
    let posted = request("POST", &url, &[("origin", SHOP), ("content-type", "application/json")], Some(&body));
    assert_eq!(posted.status, 204, "{}", posted.body);
    assert_eq!(posted.header("access-control-allow-origin"), Some(SHOP));
    assert_eq!(posted.header("vary"), Some("Origin"));
    no_credentials(&posted);
    assert_eq!(server.stored(), 2);

    let datafile = request("GET", &format!("{}/datafiles/web.json", server.url), &[("origin", SHOP)], None);
    assert_eq!(datafile.status, 200);
    assert_eq!(datafile.header("access-control-allow-origin"), Some(SHOP));
    assert_eq!(datafile.header("access-control-expose-headers"), Some("ETag"));
}

#[test]
fn origins_outside_the_allow_list_are_refused_on_every_public_route_and_store_nothing() {
    let server = listed(&[SHOP]);
    upload(&server);
    for other in ["http://evil.example", "https://shop.example", "http://shop.example:8080", "null"] {
        refused(&preflight(&server, "/v1/events", other, "POST", "content-type"));
        refused(&preflight(&server, "/datafiles/web.json", other, "GET", ""));
        let datafile = request("GET", &format!("{}/datafiles/web.json", server.url), &[("origin", other)], None);
        refused(&datafile);
        assert!(datafile.body.contains(other), "{}", datafile.body);
        // What sendBeacon sends: text/plain, no preflight. The origin alone refuses it.
        let body = bytes(&batch("cors-refused"));
        let url = format!("{}/v1/events", server.url);
        let headers = [("origin", other), ("content-type", "text/plain;charset=UTF-8")];
        refused(&request("POST", &url, &headers, Some(&body)));
    }
    assert_eq!(server.stored(), 0);

    // Servers send no Origin: the allow-list is for browsers only.
    let body = bytes(&batch("server-side"));
    let posted = request("POST", &format!("{}/v1/events", server.url), &[], Some(&body));
    assert_eq!(posted.status, 204, "{}", posted.body);
    assert_eq!(posted.header("vary"), Some("Origin"));
    assert_eq!(posted.header("access-control-allow-origin"), None);
    assert_eq!(server.stored(), 2);
}

#[test]
fn an_empty_allow_list_refuses_every_page() {
    let server = listed(&[]);
    refused(&preflight(&server, "/v1/events", SHOP, "POST", "content-type"));
    refused(&request("GET", &format!("{}/datafiles/web.json", server.url), &[("origin", SHOP)], None));
}

#[test]
fn admin_routes_and_pages_never_answer_cross_origin() {
    let server = TestServer::start();
    upload(&server);
    let bearer = format!("Bearer {ADMIN}");
    for (path, method) in [
        ("/api/v1/environments/web/datafile", "PUT"),
        ("/api/v1/query", "POST"),
        ("/api/v1/projects", "GET"),
        ("/ui/login", "POST"),
        ("/ui", "GET"),
    ] {
        let answer = preflight(&server, path, SHOP, method, "authorization, content-type");
        assert_ne!(answer.status / 100, 2, "{path}: {answer:?}");
        no_cors(&answer);
    }
    for path in ["/api/v1/projects", "/api/v1/openapi.json", "/", "/ui/login", "/ui", "/healthz", "/metrics"] {
        let answer =
            request("GET", &format!("{}{path}", server.url), &[("origin", SHOP), ("authorization", &bearer)], None);
        assert!(answer.status < 500, "{path}: {answer:?}");
        no_cors(&answer);
    }
}

#[test]
fn a_malformed_allow_list_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(dir.path());
    config.cors = CorsConfig { allowed_origins: vec!["https://shop.example/".into()], ..CorsConfig::default() };
    let error = AppState::open(config).err().expect("refused").to_string();
    assert!(error.contains("cors.allowed_origins") && error.contains("is not an origin"), "{error}");
}
