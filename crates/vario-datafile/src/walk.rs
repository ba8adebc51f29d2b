//! JSON paths for errors found after the datafile was read (`featureFlags[2].rolloutId`).
//! A path is a linked list on the stack and is only rendered when an error is built.

use std::fmt;

use serde_json::Value;

use crate::error::{DatafileError, Problem};

/// One position in the document: the root, an object key or an array index.
#[derive(Clone, Copy)]
pub(crate) struct At<'p> {
    parent: Option<&'p Self>,
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
    pub(crate) fn key(&'p self, key: &'p str) -> Self {
        At { parent: Some(self), seg: Seg::Key(key) }
    }

    pub(crate) fn index(&'p self, i: usize) -> Self {
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
