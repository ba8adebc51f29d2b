//! The reference SDK's null stripping (events.md §5): in every JSON object at any depth,
//! including inside user tags, a key named `revenue`, `value`, `tags` or `decisions`
//! whose value is `null` is dropped. Other `null`s stay.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value};

/// The keys whose `null` values the reference SDK drops.
pub const STRIPPED_KEYS: [&str; 4] = ["revenue", "value", "tags", "decisions"];

/// Whether an object entry disappears under §5.
pub(crate) fn is_stripped(key: &str, value: &Value) -> bool {
    value.is_null() && STRIPPED_KEYS.contains(&key)
}

/// A copy of `map` with §5 applied at every depth.
pub fn strip_map(map: &Map<String, Value>) -> Map<String, Value> {
    if !needs_stripping(map) {
        // Cloning keeps the hash table as is; rebuilding would rehash every key.
        return map.clone();
    }
    let mut out = Map::with_capacity(map.len());
    for (k, v) in map {
        if !is_stripped(k, v) {
            out.insert(k.clone(), strip_value(v));
        }
    }
    out
}

/// Applies §5 to `map` in place, at every depth.
pub fn strip_map_in_place(map: &mut Map<String, Value>) {
    if !needs_stripping(map) {
        return;
    }
    // `retain` keeps the order of the remaining keys.
    map.retain(|k, v| !is_stripped(k, v));
    for value in map.values_mut() {
        match value {
            Value::Object(inner) => strip_map_in_place(inner),
            Value::Array(items) => items.iter_mut().for_each(strip_in_place),
            _ => {}
        }
    }
}

fn strip_in_place(value: &mut Value) {
    match value {
        Value::Object(map) => strip_map_in_place(map),
        Value::Array(items) => items.iter_mut().for_each(strip_in_place),
        _ => {}
    }
}

/// Whether §5 removes anything from `map`.
fn needs_stripping(map: &Map<String, Value>) -> bool {
    map.iter().any(|(k, v)| is_stripped(k, v) || value_needs_stripping(v))
}

fn value_needs_stripping(value: &Value) -> bool {
    match value {
        Value::Object(map) => needs_stripping(map),
        Value::Array(items) => items.iter().any(value_needs_stripping),
        _ => false,
    }
}

/// A copy of `value` with §5 applied at every depth.
pub fn strip_value(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(strip_map(map)),
        Value::Array(items) => Value::Array(items.iter().map(strip_value).collect()),
        scalar => scalar.clone(),
    }
}

/// Serialises a value with §5 applied, without copying it: the model may hold values
/// that were deserialised or built by hand, and the wire must still follow §5.
pub(crate) struct Stripped<'a>(pub(crate) &'a Value);

/// [`Stripped`] for an object.
pub(crate) struct StrippedMap<'a>(pub(crate) &'a Map<String, Value>);

impl Serialize for Stripped<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => StrippedMap(map).serialize(serializer),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Stripped(item))?;
                }
                seq.end()
            }
            scalar => scalar.serialize(serializer),
        }
    }
}

impl Serialize for StrippedMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The length is unknown until filtered; JSON does not need it.
        let mut map = serializer.serialize_map(None)?;
        for (k, v) in self.0 {
            if !is_stripped(k, v) {
                map.serialize_entry(k, &Stripped(v))?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn strips_only_the_four_keys_at_any_depth() {
        let tags = json!({
            "revenue": null, "value": null, "tags": null, "decisions": null, "other": null,
            "nested": {"value": null, "x": 1, "list": [{"revenue": null, "keep": null}]},
            "value2": null
        });
        let expected = json!({
            "other": null,
            "nested": {"x": 1, "list": [{"keep": null}]},
            "value2": null
        });
        assert_eq!(strip_value(&tags), expected);
        let mut in_place = tags.clone();
        if let Value::Object(map) = &mut in_place {
            strip_map_in_place(map);
        }
        assert_eq!(in_place, expected);
        let text = serde_json::to_string(&Stripped(&tags)).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), expected);
    }

    #[test]
    fn keeps_non_null_reserved_keys_and_order() {
        let tags = json!({"value": "3.5", "revenue": false, "a": 1, "tags": {}});
        let text = serde_json::to_string(&Stripped(&tags)).unwrap();
        assert_eq!(text, r#"{"value":"3.5","revenue":false,"a":1,"tags":{}}"#);
    }
}
