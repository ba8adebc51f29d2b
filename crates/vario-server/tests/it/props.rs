//! Whatever the body, the Events API answers 2xx or 4xx, never 5xx, and never dies.

use proptest::prelude::*;
use serde_json::Value;

use crate::{TestServer, batch, bytes, gzip, post_events};

/// Mutations of a valid batch: a value anywhere replaced by something of another type.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
    ];
    (any::<u64>(), leaf, 0..8usize).prop_map(|(seed, leaf, depth)| {
        let mut value = batch(&format!("p{seed}"));
        replace_somewhere(&mut value, seed, depth, leaf);
        bytes(&value)
    })
}

fn replace_somewhere(value: &mut Value, seed: u64, depth: usize, leaf: Value) {
    let children: usize = match value {
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        _ => 0,
    };
    if depth == 0 || children == 0 {
        *value = leaf;
        return;
    }
    let i = (seed % children as u64) as usize;
    let next = seed / 7 + 1;
    match value {
        Value::Array(a) => replace_somewhere(&mut a[i], next, depth - 1, leaf),
        Value::Object(o) => {
            if let Some((_, child)) = o.iter_mut().nth(i) {
                replace_somewhere(child, next, depth - 1, leaf);
            }
        }
        _ => {}
    }
}

fn bodies() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        "\\PC{0,200}".prop_map(String::into_bytes),
        mutated(),
        // Valid JSON text cut short.
        (mutated(), any::<prop::sample::Index>()).prop_map(|(b, i)| b[..i.index(b.len())].to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn no_body_gets_a_5xx(body in bodies(), compress in any::<bool>()) {
        thread_local! { static SERVER: TestServer = TestServer::start(); }
        SERVER.with(|server| {
            let (body, headers) = if compress {
                (gzip(&body), vec![("content-encoding", "gzip")])
            } else {
                (body, vec![])
            };
            let answer = post_events(server, &body, &headers);
            prop_assert!(answer.status == 204 || (400..500).contains(&answer.status), "{} {}", answer.status, answer.body);
            if answer.status != 204 {
                answer.error();
            }
            Ok(())
        })?;
    }
}

/// A request as a client on the internet may send it: a method, a target, headers and
/// a body, each often valid, sometimes any bytes.
fn raw_requests() -> impl Strategy<Value = Vec<u8>> {
    let method = prop_oneof![
        Just("GET".to_owned()),
        Just("POST".to_owned()),
        Just("PUT".to_owned()),
        Just("DELETE".to_owned()),
        "[A-Z]{1,8}",
    ];
    let path = prop_oneof![
        Just("/v1/events".to_owned()),
        Just("/ui/login".to_owned()),
        Just("/ui/logout".to_owned()),
        Just("/api/v1/query".to_owned()),
        Just("/api/v1/projects/p/events".to_owned()),
        Just("/datafiles/prod.json".to_owned()),
        "/[ -~]{0,40}",
        "/(ui|api/v1|datafiles)/\\PC{0,20}",
    ];
    let header = prop_oneof![
        Just(("content-type".to_owned(), b"application/x-www-form-urlencoded".to_vec())),
        Just(("content-type".to_owned(), b"application/json".to_vec())),
        Just(("content-encoding".to_owned(), b"gzip".to_vec())),
        Just(("origin".to_owned(), b"http://evil.example".to_vec())),
        ("[a-z-]{1,12}", proptest::collection::vec(any::<u8>(), 0..40)),
    ];
    (method, path, proptest::collection::vec(header, 0..4), bodies()).prop_map(|(method, path, headers, body)| {
        let mut out = format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n").into_bytes();
        for (name, value) in headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend(value.into_iter().filter(|b| *b != b'\r' && *b != b'\n'));
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(&body);
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Any request through hyper's parser and the whole router: never a 500, and every
    /// error that has a body is the JSON error shape (a page is HTML).
    #[test]
    fn no_request_gets_a_500_and_errors_are_the_json_shape(request in raw_requests()) {
        use std::io::{Read, Write};
        thread_local! { static SERVER: TestServer = TestServer::start(); }
        SERVER.with(|server| {
            let addr = server.url.trim_start_matches("http://");
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
            stream.write_all(&request).unwrap();
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            let text = String::from_utf8_lossy(&answer);
            prop_assert!(text.starts_with("HTTP/1.1 "), "no answer to {:?}", String::from_utf8_lossy(&request));
            let status: u16 = text[9..12].parse().unwrap();
            prop_assert!(status != 500, "{text}");
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            if status >= 400 && !body.is_empty() && !head.to_ascii_lowercase().contains("content-type: text/html") {
                let json: Value = serde_json::from_str(body).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
                prop_assert!(json["error"]["code"].is_string(), "{text}");
            }
            Ok(())
        })?;
    }
}
