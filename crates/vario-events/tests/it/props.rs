//! Properties over arbitrary tags and attributes: building never panics, the wire
//! follows §5 and §7, and what is written reads back to the same model.

use proptest::prelude::*;
use serde_json::{Map, Number, Value};
use vario_events::{EventBatch, LogEvent, numeric_value, revenue_value, strip_value};

use crate::fixture::{attrs, factory};

/// Keys that exercise the reserved names as well as ordinary ones.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("revenue".to_owned()),
        Just("value".to_owned()),
        Just("tags".to_owned()),
        Just("decisions".to_owned()),
        Just("age".to_owned()),
        Just("plan".to_owned()),
        Just("$opt_x".to_owned()),
        "[a-z$_]{0,6}",
    ]
}

/// Floats that survive text and back exactly with serde_json's default parser.
fn float() -> impl Strategy<Value = f64> {
    (-(1_i64 << 20)..(1_i64 << 20)).prop_map(|k| k as f64 / 8.0)
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        float().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,8}".prop_map(Value::String),
        // Strings that Python's float() may read, with small exponents.
        "[ ]?[+-]?[0-9]{1,4}(_[0-9]{1,3})?(\\.[0-9]{0,3})?(e[+-]?[0-9])?[ ]?".prop_map(Value::String),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn map() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((key(), json()), 0..6).prop_map(|kv| kv.into_iter().collect())
}

/// Whether a reserved key holds null anywhere in `value`.
fn has_stripped_null(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| (v.is_null() && vario_events::STRIPPED_KEYS.contains(&k.as_str())) || has_stripped_null(v)),
        Value::Array(items) => items.iter().any(has_stripped_null),
        _ => false,
    }
}

proptest! {
    #[test]
    fn arbitrary_tags_and_attributes(tags in prop::option::of(map()), attributes in map()) {
        let factory = factory();
        let attributes = attrs(Value::Object(attributes));
        let event = factory.conversion("purchase", "u", &attributes, tags.as_ref());
        prop_assert!(event.is_some());
        let Some(event) = event else { return Ok(()) };
        let owned = factory.conversion_owned("purchase", "u", &attributes, tags.clone());
        let pin = |e: vario_events::UserEvent| e.with_uuid("u").with_timestamp(1);
        prop_assert_eq!(owned.map(pin), Some(pin(event.clone())));

        let bytes = LogEvent::from(event.clone()).to_json_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        prop_assert!(!has_stripped_null(&body));

        let sent = &body["visitors"][0]["snapshots"][0]["events"][0];
        match &tags {
            None => prop_assert!(sent.get("tags").is_none()),
            Some(tags) => {
                prop_assert_eq!(&sent["tags"], &strip_value(&Value::Object(tags.clone())));
                prop_assert_eq!(sent.get("revenue").cloned(), revenue_value(tags).map(Value::Number));
                prop_assert_eq!(sent.get("value").and_then(Value::as_f64), numeric_value(tags));
            }
        }
        for attribute in body["visitors"][0]["attributes"].as_array().unwrap() {
            prop_assert!(matches!(attribute["value"], Value::String(_) | Value::Bool(_) | Value::Number(_)));
        }

        let batch = EventBatch::from_events(&[event]).unwrap();
        // The fast writer and serde agree byte for byte.
        prop_assert_eq!(serde_json::to_vec(&batch).unwrap(), bytes.clone());
        let parsed: EventBatch = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(&parsed, &batch);
        prop_assert_eq!(parsed.to_json_bytes(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_reader(text in ".{0,64}") {
        let _ = serde_json::from_str::<EventBatch>(&text);
    }

    #[test]
    fn python_float_never_panics(text in "\\PC{0,12}") {
        let _ = vario_events::python_float(&text);
    }
}
