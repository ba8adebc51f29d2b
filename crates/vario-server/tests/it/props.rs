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
