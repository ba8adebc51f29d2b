//! JSON text as Python's `json.dumps` writes it with its defaults: `", "` and `": "`
//! between items, keys in the order they were read, every character outside printable
//! ASCII escaped, floats as `repr` writes them. The reference SDK stores typed audience
//! conditions re-encoded so, and its OptimizelyConfig shows that text.

use std::fmt::Write;

use serde_json::{Number, Value};

/// `json.dumps(value)`.
///
/// Integers beyond 64 bits reach here as floats (serde_json reads them so), so they are
/// written as floats, where Python writes every digit.
pub(super) fn dumps(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(out, key);
                out.push_str(": ");
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

fn write_number(out: &mut String, n: &Number) {
    if n.is_f64() {
        out.push_str(&float_repr(n.as_f64().unwrap_or(0.0)));
    } else {
        // Integers: the digits, as Python's `int.__repr__`.
        let _ = write!(out, "{n}");
    }
}

/// Python's `repr(float)`: the shortest digits that read back as the same float, in
/// positional notation when the decimal exponent is in -4..16 (with `.0` when there is no
/// fraction), else as `d.ddde±XX`.
pub(super) fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    // Rust's `{:e}` writes the shortest round-trip digits as `d.ddde<exp>`.
    let scientific = format!("{:e}", x.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // Position of the decimal point after the first digit, as Python's `decpt`.
    let point = exponent + 1;
    if point > 16 || point <= -4 {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{first}{fraction}e{exp_sign}{:02}", exponent.abs());
    }
    if point <= 0 {
        let zeros = "0".repeat(point.unsigned_abs() as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let point = point as usize;
    if digits.len() <= point {
        let zeros = "0".repeat(point - digits.len());
        return format!("{sign}{digits}{zeros}.0");
    }
    let (whole, fraction) = digits.split_at(point);
    format!("{sign}{whole}.{fraction}")
}

/// A JSON string with `ensure_ascii`: `"` and `\` escaped, the usual short escapes, and
/// `\uXXXX` (lower-case hex, UTF-16 surrogate pairs beyond the BMP) for everything else
/// outside `' '..='~'`.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn separators_and_key_order_are_pythons() {
        let value: Value = serde_json::from_str(r#"{"b": [1, {"z": null, "a": true}], "a": "x"}"#).unwrap();
        assert_eq!(dumps(&value), r#"{"b": [1, {"z": null, "a": true}], "a": "x"}"#);
        assert_eq!(dumps(&json!([])), "[]");
        assert_eq!(dumps(&json!({})), "{}");
    }

    #[test]
    fn strings_are_ascii_only() {
        assert_eq!(dumps(&json!("a\"b\\c\n\t\u{1}\u{7f}é€😀")), r#""a\"b\\c\n\t\u0001\u007f\u00e9\u20ac\ud83d\ude00""#);
    }

    #[test]
    fn floats_are_written_as_repr() {
        let cases = [
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1.5, "1.5"),
            (100.0, "100.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000123, "0.000123"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (123456789.125, "123456789.125"),
            (1e22, "1e+22"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (0.1, "0.1"),
            (-2.5e-7, "-2.5e-07"),
        ];
        for (x, repr) in cases {
            assert_eq!(float_repr(x), repr, "{x:e}");
        }
    }

    #[test]
    fn integers_keep_their_digits() {
        let value: Value =
            serde_json::from_str("[0, -7, 18446744073709551615, -9223372036854775808, 1e3, 2.50]").unwrap();
        assert_eq!(dumps(&value), "[0, -7, 18446744073709551615, -9223372036854775808, 1000.0, 2.5]");
    }
}
