//! Whether a decision's stored attributes (`[{entity_id, key, type, value}]` as JSON
//! text) put the visitor in a segment.

use serde::Deserialize;
use serde_json::Value;

use crate::document::SegmentDoc;

#[derive(Deserialize)]
struct Attribute {
    key: String,
    value: Value,
}

/// Whether `attributes` holds `segment.attribute` with a value whose text is
/// `segment.value` (strings as they are, numbers and booleans as JSON writes them).
pub fn matches(attributes: &str, segment: &SegmentDoc) -> bool {
    // Most rows lack the key: skip parsing them.
    if !attributes.contains(segment.attribute.as_str()) {
        return false;
    }
    let Ok(list) = serde_json::from_str::<Vec<Attribute>>(attributes) else { return false };
    list.iter().any(|a| {
        a.key == segment.attribute
            && match &a.value {
                Value::String(s) => *s == segment.value,
                Value::Number(_) | Value::Bool(_) => {
                    let text = a.value.to_string();
                    text == segment.value
                }
                _ => false,
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(a: &str, v: &str) -> SegmentDoc {
        SegmentDoc { attribute: a.into(), value: v.into() }
    }

    #[test]
    fn strings_numbers_and_booleans_match_by_text() {
        let attrs = r#"[{"entity_id":"1","key":"browser","type":"custom","value":"safari"},
                        {"entity_id":"2","key":"age","type":"custom","value":31},
                        {"entity_id":"3","key":"vip","type":"custom","value":true}]"#;
        assert!(matches(attrs, &seg("browser", "safari")));
        assert!(!matches(attrs, &seg("browser", "chrome")));
        assert!(matches(attrs, &seg("age", "31")));
        assert!(matches(attrs, &seg("vip", "true")));
        assert!(!matches(attrs, &seg("country", "fr")));
        assert!(!matches("not json browser", &seg("browser", "x")));
    }
}
