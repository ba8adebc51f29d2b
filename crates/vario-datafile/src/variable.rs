//! Feature variables: their declared type and the reference SDK's string casts
//! (decisions.md §5). Values are cast once, when the datafile is loaded.

use serde_json::Value;

/// The declared type of a feature variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VariableType {
    /// `"boolean"`: only the string `"true"` is true.
    Boolean,
    /// `"integer"`: a base-10 integer.
    Integer,
    /// `"double"`: a float.
    Double,
    /// `"string"`: the raw string.
    String,
    /// `"json"`, or `"string"` with `subType: "json"`.
    Json,
    /// Any other declared type: read as the raw string, and never equal to a typed getter.
    Other,
}

impl VariableType {
    /// Parses a datafile `type` (with its optional `subType`).
    pub fn parse(kind: &str, sub_type: Option<&str>) -> Self {
        match (kind, sub_type) {
            ("string", Some("json")) | ("json", _) => Self::Json,
            ("boolean", _) => Self::Boolean,
            ("integer", _) => Self::Integer,
            ("double", _) => Self::Double,
            ("string", _) => Self::String,
            _ => Self::Other,
        }
    }

    /// The name the SDK APIs use (`get_feature_variable_<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Boolean => "boolean",
            Self::Integer => "integer",
            Self::Double => "double",
            Self::String => "string",
            Self::Json => "json",
            Self::Other => "other",
        }
    }

    /// Casts a raw datafile string to this type. `Value::Null` when the cast fails, as the
    /// reference SDK returns `None` then.
    pub fn cast(self, raw: &str) -> Value {
        match self {
            Self::Boolean => Value::Bool(raw == "true"),
            Self::Integer => parse_integer(raw).map_or(Value::Null, Value::Number),
            Self::Double => parse_double(raw).and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number),
            Self::String | Self::Other => Value::String(raw.to_owned()),
            Self::Json => serde_json::from_str(raw).unwrap_or(Value::Null),
        }
    }
}

impl VariableType {
    /// Parses a datafile `type` and `subType` that may hold any JSON: a non-string `type`
    /// is an unknown type, a non-string `subType` is no sub-type (the reference SDK compares
    /// them with strings).
    pub fn parse_value(kind: &Value, sub_type: Option<&Value>) -> Self {
        match kind.as_str() {
            Some(kind) => Self::parse(kind, sub_type.and_then(Value::as_str)),
            None => Self::Other,
        }
    }

    /// Casts a datafile value that may hold any JSON, as the reference SDK casts it: a
    /// string as [`VariableType::cast`]; anything else the way its cast functions treat a
    /// non-string (`value == "true"`, `int(value)`, `float(value)`, `json.loads(value)`,
    /// the value itself for strings and unknown types), `Null` where they raise.
    pub fn cast_value(self, raw: &Value) -> Value {
        let Value::String(text) = raw else { return self.cast_non_string(raw) };
        self.cast(text)
    }

    fn cast_non_string(self, raw: &Value) -> Value {
        match (self, raw) {
            (Self::Boolean, _) => Value::Bool(false),
            (Self::Integer, Value::Bool(b)) => Value::from(i64::from(*b)),
            (Self::Integer, Value::Number(n)) if n.is_f64() => n.as_f64().map_or(Value::Null, truncated),
            (Self::Integer, Value::Number(_)) => raw.clone(),
            (Self::Double, Value::Bool(b)) => Value::from(if *b { 1.0 } else { 0.0 }),
            (Self::Double, Value::Number(n)) => {
                n.as_f64().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number)
            }
            (Self::Integer | Self::Double | Self::Json, _) => Value::Null,
            (Self::String | Self::Other, _) => raw.clone(),
        }
    }
}

/// Python's `int(float)`: toward zero; beyond 64 bits the nearest float, as for strings.
fn truncated(f: f64) -> Value {
    let t = f.trunc();
    if t >= i64::MIN as f64 && t < i64::MAX as f64 {
        Value::from(t as i64)
    } else {
        serde_json::Number::from_f64(t).map_or(Value::Null, Value::Number)
    }
}

/// Python's `int(str)`: surrounding whitespace, an optional sign, ASCII digits with
/// single `_` separators between digits. Integers beyond 64 bits have no exact JSON
/// number here; they come back as the nearest float (as the JavaScript SDK returns them).
fn parse_integer(raw: &str) -> Option<serde_json::Number> {
    let s = raw.trim();
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = strip_underscores(digits, |b| b.is_ascii_digit())?;
    if digits.is_empty() {
        return None;
    }
    let signed = if negative { format!("-{digits}") } else { digits };
    if let Ok(i) = signed.parse::<i64>() {
        return Some(i.into());
    }
    if let Ok(u) = signed.parse::<u64>() {
        return Some(u.into());
    }
    signed.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
}

/// Python's `float(str)`: whitespace, sign, decimal or exponent forms, `inf`/`nan`
/// spellings, `_` between digits.
fn parse_double(raw: &str) -> Option<f64> {
    let s = raw.trim();
    let cleaned = strip_underscores(s, |b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        .unwrap_or_else(|| s.to_owned());
    let lower = cleaned.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if matches!(unsigned, "inf" | "infinity" | "nan") {
        return lower.parse().ok();
    }
    // Rust accepts the same decimal grammar as Python once the special words are handled.
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-')) {
        return None;
    }
    lower.parse().ok()
}

/// Removes `_` separators when each one sits between two digits; `None` otherwise or
/// when a byte outside `allowed` appears.
fn strip_underscores(s: &str, allowed: impl Fn(u8) -> bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let between_digits =
                i > 0 && bytes[i - 1].is_ascii_digit() && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !between_digits {
                return None;
            }
        } else if allowed(b) {
            out.push(b as char);
        } else {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn casts_follow_the_reference_sdk() {
        use VariableType::*;
        assert_eq!(Boolean.cast("true"), json!(true));
        assert_eq!(Boolean.cast("True"), json!(false));
        assert_eq!(Boolean.cast("1"), json!(false));
        assert_eq!(Integer.cast("3"), json!(3));
        assert_eq!(Integer.cast(" 42 "), json!(42));
        assert_eq!(Integer.cast("+7"), json!(7));
        assert_eq!(Integer.cast("-7"), json!(-7));
        assert_eq!(Integer.cast("1_000"), json!(1000));
        assert_eq!(Integer.cast("3.0"), Value::Null);
        assert_eq!(Integer.cast("99999999999999999999"), json!(1e20));
        assert_eq!(Integer.cast("-9223372036854775809"), json!(-9223372036854775809.0));
        assert_eq!(Integer.cast("1__0"), Value::Null);
        assert_eq!(Integer.cast(""), Value::Null);
        assert_eq!(Integer.cast("-"), Value::Null);
        assert_eq!(Double.cast("1e3"), json!(1000.0));
        assert_eq!(Double.cast("3"), json!(3.0));
        assert_eq!(Double.cast(" .5 "), json!(0.5));
        assert_eq!(Double.cast("1_000.5"), json!(1000.5));
        assert_eq!(Double.cast("abc"), Value::Null);
        assert_eq!(Double.cast("nan"), Value::Null, "NaN has no JSON form");
        assert_eq!(String.cast("x"), json!("x"));
        assert_eq!(Json.cast("{\"k\":1}"), json!({"k": 1}));
        assert_eq!(Json.cast("[1,2]"), json!([1, 2]));
        assert_eq!(Json.cast("{"), Value::Null);
    }

    #[test]
    fn non_string_values_cast_as_the_reference_sdk_casts_them() {
        use VariableType::*;
        assert_eq!(Boolean.cast_value(&json!(true)), json!(false), "only the string \"true\" is true");
        assert_eq!(Integer.cast_value(&json!(5)), json!(5));
        assert_eq!(Integer.cast_value(&json!(2.9)), json!(2));
        assert_eq!(Integer.cast_value(&json!(-2.9)), json!(-2));
        assert_eq!(Integer.cast_value(&json!(true)), json!(1));
        assert_eq!(Integer.cast_value(&json!(null)), Value::Null);
        assert_eq!(Double.cast_value(&json!(3)), json!(3.0));
        assert_eq!(Double.cast_value(&json!(false)), json!(0.0));
        assert_eq!(Double.cast_value(&json!([1])), Value::Null);
        assert_eq!(Json.cast_value(&json!({"a": 1})), Value::Null, "json.loads of a dict raises");
        assert_eq!(Json.cast_value(&json!(7)), Value::Null);
        assert_eq!(String.cast_value(&json!({"a": 1})), json!({"a": 1}), "a string variable is returned as it is");
        assert_eq!(Other.cast_value(&json!(7)), json!(7));
        assert_eq!(Integer.cast_value(&json!("12")), json!(12));
    }

    #[test]
    fn non_string_types_are_unknown_types() {
        assert_eq!(VariableType::parse_value(&json!(7), None), VariableType::Other);
        assert_eq!(VariableType::parse_value(&json!("string"), Some(&json!(1))), VariableType::String);
        assert_eq!(VariableType::parse_value(&json!("string"), Some(&json!("json"))), VariableType::Json);
    }

    #[test]
    fn string_with_json_subtype_is_json() {
        assert_eq!(VariableType::parse("string", Some("json")), VariableType::Json);
        assert_eq!(VariableType::parse("string", None), VariableType::String);
        assert_eq!(VariableType::parse("float", None), VariableType::Other);
    }
}
