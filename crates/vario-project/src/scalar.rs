//! Variable values are text in the datafile, but people write `default: 3` or
//! `enabled_color: true` in YAML; these deserializers accept any scalar (and, for JSON
//! variables, any document) and keep its text.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn to_text<E: serde::de::Error>(value: Value) -> Result<String, E> {
    match value {
        Value::String(s) => Ok(s),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Err(E::custom("expected a value, found null")),
        // A JSON variable may be written as a document; its value is the JSON text.
        other => Ok(other.to_string()),
    }
}

/// One value as text.
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    to_text(Value::deserialize(d)?)
}

/// A map of values as text.
pub(crate) fn text_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    BTreeMap::<String, Value>::deserialize(d)?.into_iter().map(|(k, v)| Ok((k, to_text(v)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "text")]
        v: String,
    }

    #[test]
    fn scalars_keep_their_text() {
        for (json, want) in
            [(r#""red""#, "red"), ("3", "3"), ("2.5", "2.5"), ("true", "true"), (r#"{"a":1}"#, r#"{"a":1}"#)]
        {
            let h: Holder = serde_json::from_str(&format!(r#"{{"v": {json}}}"#)).unwrap();
            assert_eq!(h.v, want);
        }
        assert!(serde_json::from_str::<Holder>(r#"{"v": null}"#).is_err());
    }
}
