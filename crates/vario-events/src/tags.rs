//! The reserved event tags `revenue` and `value` (events.md §7), read as the reference
//! SDK reads them. The tags themselves are always sent verbatim.

use serde_json::{Map, Number, Value};

use crate::pyfloat::python_float;

/// The reserved tag copied to the event's `revenue`.
pub const REVENUE_TAG: &str = "revenue";
/// The reserved tag copied to the event's `value`.
pub const VALUE_TAG: &str = "value";

/// `revenue`: only a JSON integer token (any size or sign), unchanged. Floats (even
/// `100.0`), strings and booleans give none.
pub fn revenue_value(tags: &Map<String, Value>) -> Option<Number> {
    match tag(tags, REVENUE_TAG)? {
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.clone()),
        _ => None,
    }
}

/// `value`: an integer, a float or a string that Python's `float()` reads, when the
/// result is finite. Booleans, lists and objects give none.
pub fn numeric_value(tags: &Map<String, Value>) -> Option<f64> {
    match tag(tags, VALUE_TAG)? {
        // Integer tokens convert with rounding to nearest, as Python's float(int) does.
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => python_float(s),
        _ => None,
    }
}

/// `tags[name]`. Tag maps are small, and comparing a few keys is cheaper than hashing one.
fn tag<'a>(tags: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if tags.len() <= 8 { tags.iter().find_map(|(k, v)| (k == name).then_some(v)) } else { tags.get(name) }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn tags(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn revenue_table() {
        let cases = [
            (json!(1000), Some(json!(1000))),
            (json!(-5), Some(json!(-5))),
            (json!(0), Some(json!(0))),
            (json!(1_152_921_504_606_846_976_u64), Some(json!(1_152_921_504_606_846_976_u64))),
            (json!(u64::MAX), Some(json!(u64::MAX))),
            (json!(10.5), None),
            (json!(100.0), None),
            (json!("100"), None),
            (json!(true), None),
            (json!(null), None),
            (json!([1]), None),
        ];
        for (tag, expected) in cases {
            let got = revenue_value(&tags(json!({ "revenue": tag }))).map(Value::Number);
            assert_eq!(got, expected, "revenue {tag}");
        }
        assert_eq!(revenue_value(&Map::new()), None);
        // Large maps take the hashed path.
        let mut many: Map<String, Value> = (0..20).map(|i| (format!("k{i}"), json!(i))).collect();
        many.insert("revenue".into(), json!(7));
        many.insert("value".into(), json!("2.5"));
        assert_eq!(revenue_value(&many), Some(Number::from(7)));
        assert_eq!(numeric_value(&many), Some(2.5));
    }

    #[test]
    fn value_table() {
        let cases = [
            (json!(3), Some(3.0)),
            (json!(0), Some(0.0)),
            (json!(1.5), Some(1.5)),
            (json!(1e20), Some(1e20)),
            (json!(-7), Some(-7.0)),
            (json!(u64::MAX), Some(18_446_744_073_709_551_615.0)),
            (json!("3.5"), Some(3.5)),
            (json!(" 7 "), Some(7.0)),
            (json!("1_000"), Some(1000.0)),
            (json!("abc"), None),
            (json!("inf"), None),
            (json!("nan"), None),
            (json!("1e400"), None),
            (json!(true), None),
            (json!(false), None),
            (json!([1]), None),
            (json!({}), None),
            (json!(null), None),
        ];
        for (tag, expected) in cases {
            assert_eq!(numeric_value(&tags(json!({ "value": tag }))), expected, "value {tag}");
        }
    }
}
