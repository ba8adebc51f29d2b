//! A small typed walker over `serde_json::Value` that remembers the JSON path, so that
//! every validation error names the exact field (`groups[0].experiments[2].status`).
//! The path is a linked list on the stack and is only rendered when an error is built.

use std::fmt;

use serde_json::{Map, Value};

use crate::error::{DatafileError, Problem};

/// One position in the document: the root, an object key or an array index.
#[derive(Clone, Copy)]
pub(crate) struct At<'p> {
    parent: Option<&'p At<'p>>,
    seg: Seg<'p>,
}

#[derive(Clone, Copy)]
enum Seg<'p> {
    Root,
    Key(&'p str),
    Index(usize),
}

pub(crate) const ROOT: At<'static> = At { parent: None, seg: Seg::Root };

impl<'p> At<'p> {
    pub(crate) fn key(&'p self, key: &'p str) -> At<'p> {
        At { parent: Some(self), seg: Seg::Key(key) }
    }

    pub(crate) fn index(&'p self, i: usize) -> At<'p> {
        At { parent: Some(self), seg: Seg::Index(i) }
    }

    pub(crate) fn error(&self, problem: Problem) -> DatafileError {
        DatafileError::Invalid { path: self.to_string(), problem }
    }

    pub(crate) fn wrong_type(&self, expected: &'static str, found: &Value) -> DatafileError {
        self.error(Problem::WrongType { expected, found: describe(found) })
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.parent, self.seg) {
            (None, _) => f.write_str("$"),
            // `$.experiments` reads worse than `experiments`; drop the root marker.
            (Some(At { parent: None, .. }), Seg::Key(k)) => f.write_str(k),
            (Some(parent), Seg::Key(k)) => write!(f, "{parent}.{k}"),
            (Some(parent), Seg::Index(i)) => write!(f, "{parent}[{i}]"),
            (Some(parent), Seg::Root) => parent.fmt(f),
        }
    }
}

/// A short rendering of a JSON value for error messages.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() > 40 => {
            let head: String = s.chars().take(40).collect();
            format!("{head:?}…")
        }
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// An object being read, with its path.
#[derive(Clone, Copy)]
pub(crate) struct Obj<'v, 'p> {
    pub(crate) map: &'v Map<String, Value>,
    pub(crate) at: &'p At<'p>,
}

pub(crate) fn as_obj<'v, 'p>(v: &'v Value, at: &'p At<'p>) -> Result<Obj<'v, 'p>, DatafileError> {
    match v {
        Value::Object(map) => Ok(Obj { map, at }),
        other => Err(at.wrong_type("an object", other)),
    }
}

pub(crate) fn as_str<'v>(v: &'v Value, at: &At<'_>) -> Result<&'v str, DatafileError> {
    v.as_str().ok_or_else(|| at.wrong_type("a string", v))
}

pub(crate) fn as_array<'v>(v: &'v Value, at: &At<'_>) -> Result<&'v [Value], DatafileError> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(at.wrong_type("an array", other)),
    }
}

impl<'v, 'p> Obj<'v, 'p> {
    /// A present, non-null field, or `Missing`.
    pub(crate) fn req(&self, key: &str) -> Result<&'v Value, DatafileError> {
        self.map.get(key).ok_or_else(|| self.at.key(key).error(Problem::Missing))
    }

    pub(crate) fn opt(&self, key: &str) -> Option<&'v Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn req_str(&self, key: &str) -> Result<&'v str, DatafileError> {
        as_str(self.req(key)?, &self.at.key(key))
    }

    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'v str>, DatafileError> {
        self.opt(key).map(|v| as_str(v, &self.at.key(key))).transpose()
    }

    pub(crate) fn req_array(&self, key: &str) -> Result<&'v [Value], DatafileError> {
        as_array(self.req(key)?, &self.at.key(key))
    }

    /// An optional array field: absent or null reads as empty.
    pub(crate) fn opt_array(&self, key: &str) -> Result<&'v [Value], DatafileError> {
        match self.opt(key) {
            None => Ok(&[]),
            Some(v) => as_array(v, &self.at.key(key)),
        }
    }

    /// Applies `f` to every element of a (required or optional) array, with the element's path.
    pub(crate) fn each<T>(
        &self,
        key: &str,
        required: bool,
        mut f: impl FnMut(&'v Value, &At<'_>) -> Result<T, DatafileError>,
    ) -> Result<Vec<T>, DatafileError> {
        let items = if required { self.req_array(key)? } else { self.opt_array(key)? };
        let here = self.at.key(key);
        items.iter().enumerate().map(|(i, v)| f(v, &here.index(i))).collect()
    }

    /// Reads an array of strings.
    pub(crate) fn str_list(&self, key: &str, required: bool) -> Result<Vec<String>, DatafileError> {
        self.each(key, required, |v, at| as_str(v, at).map(str::to_owned))
    }
}
