//! What differs between two datafiles, by meaning rather than by line: lists of
//! objects are matched by `key` (or `id`), so a reordering is no change and a path
//! reads `featureFlags[checkout].variables[color].defaultValue`.

use std::collections::HashSet;
use std::fmt;

use serde_json::Value;

/// One difference.
#[derive(Debug, Clone, PartialEq)]
pub struct DatafileChange {
    /// Where: field names, and list items by key, id or position.
    pub path: String,
    /// The value in the first datafile (none: added).
    pub before: Option<Value>,
    /// The value in the second datafile (none: removed).
    pub after: Option<Value>,
}

impl fmt::Display for DatafileChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.before, &self.after) {
            (None, Some(a)) => write!(f, "+ {}: {a}", self.path),
            (Some(b), None) => write!(f, "- {}: {b}", self.path),
            (Some(b), Some(a)) => write!(f, "~ {}: {b} -> {a}", self.path),
            (None, None) => write!(f, "  {}", self.path),
        }
    }
}

/// The differences from `a` to `b`, in document order.
pub fn diff_datafiles(a: &Value, b: &Value) -> Vec<DatafileChange> {
    let mut out = Vec::new();
    diff(a, b, "", &mut out);
    out
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() { field.to_owned() } else { format!("{path}.{field}") }
}

fn diff(a: &Value, b: &Value, path: &str, out: &mut Vec<DatafileChange>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                match y.get(k) {
                    Some(vb) => diff(va, vb, &join(path, k), out),
                    None => out.push(DatafileChange { path: join(path, k), before: Some(va.clone()), after: None }),
                }
            }
            for (k, vb) in y.iter().filter(|(k, _)| !x.contains_key(*k)) {
                out.push(DatafileChange { path: join(path, k), before: None, after: Some(vb.clone()) });
            }
        }
        (Value::Array(x), Value::Array(y)) => match identity(x).zip(identity(y)).filter(|(i, j)| i == j) {
            Some((field, _)) => {
                let id = |v: &Value| v[field].as_str().unwrap_or_default().to_owned();
                for va in x {
                    let at = format!("{path}[{}]", id(va));
                    match y.iter().find(|vb| id(vb) == id(va)) {
                        Some(vb) => diff(va, vb, &at, out),
                        None => out.push(DatafileChange { path: at, before: Some(va.clone()), after: None }),
                    }
                }
                for vb in y.iter().filter(|vb| !x.iter().any(|va| id(va) == id(vb))) {
                    out.push(DatafileChange {
                        path: format!("{path}[{}]", id(vb)),
                        before: None,
                        after: Some(vb.clone()),
                    });
                }
            }
            None if x.len() == y.len() && x.iter().all(Value::is_object) => {
                for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                    diff(va, vb, &format!("{path}[{i}]"), out);
                }
            }
            None => out.push(DatafileChange { path: path.to_owned(), before: Some(a.clone()), after: Some(b.clone()) }),
        },
        _ => out.push(DatafileChange { path: path.to_owned(), before: Some(a.clone()), after: Some(b.clone()) }),
    }
}

/// The field that names the items of a list uniquely: `key`, else `id`.
fn identity(items: &[Value]) -> Option<&'static str> {
    ["key", "id"].into_iter().find(|field| {
        let mut seen = HashSet::new();
        !items.is_empty() && items.iter().all(|v| v[*field].as_str().is_some_and(|s| seen.insert(s)))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lists_match_by_key() {
        let a =
            json!({"revision": "1", "featureFlags": [{"key": "a", "rolloutId": "1"}, {"key": "b", "rolloutId": "2"}]});
        let b = json!({"revision": "2", "featureFlags": [{"key": "b", "rolloutId": "2"}, {"key": "a", "rolloutId": "3"}, {"key": "c"}]});
        let lines: Vec<String> = diff_datafiles(&a, &b).iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                r#"~ revision: "1" -> "2""#.to_owned(),
                r#"~ featureFlags[a].rolloutId: "1" -> "3""#.to_owned(),
                r#"+ featureFlags[c]: {"key":"c"}"#.to_owned(),
            ]
        );
        assert!(diff_datafiles(&a, &a).is_empty());
    }
}
