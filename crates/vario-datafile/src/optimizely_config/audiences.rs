//! The audience string of an experiment or rule (`"us" OR "fr"`), as the reference SDK
//! writes it from `audienceConditions` (Python's `OptimizelyConfigService.stringify_conditions`).
//!
//! Its rules, copied with their quirks:
//! - Leaves are audience ids, shown as the audience's name in double quotes (nothing in
//!   the name is escaped); an id no audience has is shown as itself.
//! - `["and", "1"]` and `["or", "1"]` show `"a"`; `["not", "1"]` shows `NOT "a"`.
//! - Otherwise operands are joined by the last operator seen (`OR` before any), and a
//!   nested list is put in parentheses. A nested list as the last item is preceded by the
//!   operator even when nothing comes before it: `["or", ["and", "1", "2"]]` shows
//!   `OR ("a" AND "b")`.
//! - A lone operator (`["and"]`), `[]`, `null` and an absent field show `""`;
//!   `audienceIds` is never read (an experiment with only `audienceIds` shows `""`).
//! - A string in place of the list is read as the list of its characters.
//!
//! Where the reference SDK raises instead (a number, boolean, object or list where an id
//! belongs, e.g. `[["or", "1", "2"]]`, or an object or number in place of the list; it then
//! builds no client at all), the element is shown as if its JSON text were the id, and a
//! non-list in place of the list shows `""`.

use rustc_hash::FxHashMap;
use serde_json::Value;

const OPERATORS: [&str; 3] = ["and", "or", "not"];

/// The audience string of a rule whose `audienceConditions` is `conditions` (`None`:
/// absent), with `names` mapping audience ids to names.
pub(super) fn audience_string(conditions: Option<&Value>, names: &FxHashMap<String, String>) -> String {
    match conditions {
        Some(Value::Array(items)) => stringify(items, names),
        Some(Value::String(s)) => {
            let chars: Vec<Value> = s.chars().map(|c| Value::String(c.to_string())).collect();
            stringify(&chars, names)
        }
        _ => String::new(),
    }
}

fn operator(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| OPERATORS.contains(s))
}

/// The quoted name of the audience an item names; `None` for `null`, which the reference
/// SDK skips inside a list.
fn quoted(item: &Value, names: &FxHashMap<String, String>) -> Option<String> {
    let name = match item {
        Value::Null => return None,
        Value::String(id) => names.get(id).cloned().unwrap_or_else(|| id.clone()),
        other => other.to_string(),
    };
    Some(format!("\"{name}\""))
}

fn stringify(items: &[Value], names: &FxHashMap<String, String>) -> String {
    let len = items.len();
    if len == 0 {
        return String::new();
    }
    if len == 1 && operator(&items[0]).is_none() {
        return quoted(&items[0], names).unwrap_or_else(|| "\"null\"".into());
    }
    if len == 2 && operator(&items[0]).is_some() && !items[1].is_array() && operator(&items[1]).is_none() {
        let name = quoted(&items[1], names).unwrap_or_else(|| "\"null\"".into());
        return if operator(&items[0]) == Some("not") { format!("NOT {name}") } else { name };
    }
    let mut out = String::new();
    if len > 1 {
        let mut op = "OR".to_owned();
        for (i, item) in items.iter().enumerate() {
            if let Some(o) = operator(item) {
                op = o.to_uppercase();
            } else if let Value::Array(nested) = item {
                let inner = stringify(nested, names);
                if i + 1 < len {
                    out.push_str(&format!("({inner}) "));
                } else {
                    out.push_str(&format!("{op} ({inner})"));
                }
            } else if let Some(name) = quoted(item, names) {
                if i + 1 < len - 1 {
                    out.push_str(&format!("{name} {op} "));
                } else if i + 1 == len {
                    out.push_str(&format!("{op} {name}"));
                } else {
                    out.push_str(&format!("{name} "));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn names() -> FxHashMap<String, String> {
        [("1", "us"), ("2", "fr"), ("3", "mobile"), ("4", "")]
            .into_iter()
            .map(|(id, name)| (id.to_owned(), name.to_owned()))
            .collect()
    }

    fn show(conditions: Value) -> String {
        audience_string(Some(&conditions), &names())
    }

    #[test]
    fn empty_and_absent_show_nothing() {
        assert_eq!(audience_string(None, &names()), "");
        assert_eq!(show(json!(null)), "");
        assert_eq!(show(json!([])), "");
        assert_eq!(show(json!(["and"])), "");
        assert_eq!(show(json!({})), "");
    }

    #[test]
    fn one_audience_is_its_quoted_name() {
        assert_eq!(show(json!(["1"])), r#""us""#);
        assert_eq!(show(json!(["and", "1"])), r#""us""#);
        assert_eq!(show(json!(["or", "2"])), r#""fr""#);
        assert_eq!(show(json!(["not", "1"])), r#"NOT "us""#);
    }

    #[test]
    fn unknown_ids_and_empty_names() {
        assert_eq!(show(json!(["99"])), r#""99""#);
        assert_eq!(show(json!(["or", "4", "99"])), r#""" OR "99""#);
    }

    #[test]
    fn operands_are_joined_by_the_operator() {
        assert_eq!(show(json!(["or", "1", "2"])), r#""us" OR "fr""#);
        assert_eq!(show(json!(["and", "1", "2", "3"])), r#""us" AND "fr" AND "mobile""#);
        // No operator: an implicit "or".
        assert_eq!(show(json!(["1", "2"])), r#""us" OR "fr""#);
        assert_eq!(show(json!(["1", "2", "3"])), r#""us" OR "fr" OR "mobile""#);
    }

    #[test]
    fn nested_lists_are_parenthesized() {
        assert_eq!(show(json!(["and", ["or", "1", "2"], "3"])), r#"("us" OR "fr") AND "mobile""#);
        assert_eq!(show(json!(["and", "3", ["or", "1", "2"]])), r#""mobile" AND ("us" OR "fr")"#);
        assert_eq!(
            show(json!(["or", ["and", "1", "3"], ["and", "2", ["not", "3"]]])),
            r#"("us" AND "mobile") OR ("fr" AND (NOT "mobile"))"#
        );
        assert_eq!(show(json!(["not", ["or", "1", "2"]])), r#"NOT ("us" OR "fr")"#);
    }

    #[test]
    fn a_nested_list_alone_keeps_its_leading_operator() {
        // The reference SDK's output, odd as it is.
        assert_eq!(show(json!(["or", ["and", "1", "2"]])), r#"OR ("us" AND "fr")"#);
        assert_eq!(show(json!(["and", ["not", "1"]])), r#"AND (NOT "us")"#);
    }

    #[test]
    fn the_last_operator_seen_wins() {
        assert_eq!(show(json!(["and", "1", "or", "2"])), r#""us" AND OR "fr""#);
        assert_eq!(show(json!(["1", "and", "2"])), r#""us" OR AND "fr""#);
    }

    #[test]
    fn null_items_are_skipped_inside_a_list() {
        assert_eq!(show(json!(["or", null, "1", "2"])), r#""us" OR "fr""#);
    }

    #[test]
    fn a_string_is_read_as_its_characters() {
        assert_eq!(show(json!("1")), r#""us""#);
        assert_eq!(show(json!("12")), r#""us" OR "fr""#);
    }

    #[test]
    fn what_the_reference_sdk_raises_on_shows_the_json_text() {
        assert_eq!(show(json!([["or", "1", "2"]])), r#""["or","1","2"]""#);
        assert_eq!(show(json!(["or", 5, "1"])), r#""5" OR "us""#);
        assert_eq!(show(json!(7)), "");
    }
}
