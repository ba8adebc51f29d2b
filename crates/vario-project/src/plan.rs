//! What a change does, object by object: the plan `vario project apply` shows before
//! applying and the audit log records after. Objects are matched by kind and key.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::Project;

/// What happens to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A new object.
    Create,
    /// A changed object.
    Update,
    /// An object leaves the datafiles (it stays in the store).
    Archive,
    /// An archived object comes back.
    Restore,
}

impl Action {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Archive => "archive",
            Self::Restore => "restore",
        }
    }
}

/// One object's change, with its JSON before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// `project`, `environment`, `attribute`, `audience`, `event`, `group`,
    /// `experiment` or `flag`.
    pub kind: &'static str,
    /// The object's key.
    pub key: String,
    /// What happens.
    pub action: Action,
    /// Top-level fields that differ (updates only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// The object before (none when created).
    pub before: Option<Value>,
    /// The object after.
    pub after: Option<Value>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = match self.action {
            Action::Create => '+',
            Action::Update => '~',
            Action::Archive => '-',
            Action::Restore => '^',
        };
        write!(f, "{sign} {} {} {:?}", self.action.as_str(), self.kind, self.key)?;
        if !self.fields.is_empty() {
            write!(f, " ({})", self.fields.join(", "))?;
        }
        Ok(())
    }
}

/// The kinds of objects, as (name, field of the project document).
pub const KINDS: [(&str, &str); 7] = [
    ("environment", "environments"),
    ("attribute", "attributes"),
    ("audience", "audiences"),
    ("event", "events"),
    ("group", "groups"),
    ("experiment", "experiments"),
    ("flag", "flags"),
];

/// The changes that turn `old` (none: a new project) into `new`.
pub fn plan(old: Option<&Project>, new: &Project) -> Vec<Change> {
    let old_doc = old.map(document).unwrap_or_default();
    let new_doc = document(new);
    let mut changes = Vec::new();
    let header = |doc: &Map<String, Value>| {
        let mut h = doc.clone();
        for (_, field) in KINDS {
            h.remove(field);
        }
        Value::Object(h)
    };
    let (old_header, new_header) = (header(&old_doc), header(&new_doc));
    if old.is_none() {
        changes.push(change("project", &new.key, Action::Create, None, Some(new_header)));
    } else if old_header != new_header {
        changes.push(change("project", &new.key, Action::Update, Some(old_header), Some(new_header)));
    }
    for (kind, field) in KINDS {
        let items = |doc: &Map<String, Value>| doc.get(field).and_then(Value::as_array).cloned().unwrap_or_default();
        let before = items(&old_doc);
        for after in items(&new_doc) {
            let key = key_of(&after);
            match before.iter().find(|b| key_of(b) == key) {
                None => changes.push(change(kind, &key, Action::Create, None, Some(after))),
                Some(b) if *b == after => {}
                Some(b) => {
                    let action = match (archived(b), archived(&after)) {
                        (false, true) => Action::Archive,
                        (true, false) => Action::Restore,
                        _ => Action::Update,
                    };
                    changes.push(change(kind, &key, action, Some(b.clone()), Some(after)));
                }
            }
        }
    }
    changes
}

fn document(project: &Project) -> Map<String, Value> {
    match serde_json::to_value(project) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn key_of(item: &Value) -> String {
    item.get("key").and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn archived(item: &Value) -> bool {
    item.get("archived").and_then(Value::as_bool).unwrap_or(false)
}

fn change(kind: &'static str, key: &str, action: Action, before: Option<Value>, after: Option<Value>) -> Change {
    let mut fields = Vec::new();
    if action == Action::Update
        && let (Some(Value::Object(b)), Some(Value::Object(a))) = (&before, &after)
    {
        let mut names: Vec<&String> = b.keys().chain(a.keys()).collect();
        names.sort();
        names.dedup();
        fields = names.into_iter().filter(|n| b.get(*n) != a.get(*n)).cloned().collect();
    }
    Change { kind, key: key.to_owned(), action, fields, before, after }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Event;

    #[test]
    fn changes_are_found_per_object() {
        let mut old = Project::new("shop");
        old.events.push(Event { id: "1".into(), key: "purchase".into(), description: String::new(), archived: false });
        let mut new = old.clone();
        new.events[0].description = "a sale".into();
        new.events.push(Event { id: String::new(), key: "signup".into(), description: String::new(), archived: false });
        let changes = plan(Some(&old), &new);
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].to_string(), r#"~ update event "purchase" (description)"#);
        assert_eq!(changes[1].to_string(), r#"+ create event "signup""#);
        new.events[0].archived = true;
        assert_eq!(plan(Some(&old), &new)[0].action, Action::Archive);
        assert!(plan(Some(&old), &old).is_empty());
    }
}
