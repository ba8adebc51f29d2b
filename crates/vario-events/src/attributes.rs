//! Visitor attributes of an event (events.md §4): declared keys become their ids,
//! `$opt_*` keys stand for themselves, only valid scalar values pass, caller order is
//! kept, and the bot-filtering entry comes last.

use rustc_hash::FxHashMap;
use serde_json::{Number, Value};
use smol_str::SmolStr;
use vario_core::{AttributeValue, Attributes};
use vario_datafile::{ProjectConfig, finite_number};

use crate::model::VisitorAttribute;
use crate::write;
use crate::{BOT_FILTERING_KEY, CUSTOM_ATTRIBUTE_TYPE};

/// The prefix of reserved attribute keys, sent even when undeclared.
pub const RESERVED_PREFIX: &str = "$opt_";

/// A declared attribute as events send it.
#[derive(Debug, Clone)]
struct Declared {
    key: SmolStr,
    id: SmolStr,
    /// The entry's JSON up to its value.
    prefix: Box<[u8]>,
}

/// Attribute ids of one config, ready to be copied into events.
#[derive(Debug, Clone)]
pub(crate) struct AttributeIds {
    /// Declared key → its entry.
    declared: FxHashMap<Box<str>, Declared>,
    /// The `$opt_bot_filtering` entry, when the datafile's `botFiltering` is a boolean.
    bot_filtering: Option<VisitorAttribute>,
    /// That entry's JSON.
    bot_filtering_json: Option<Box<[u8]>>,
}

impl AttributeIds {
    pub(crate) fn new(config: &ProjectConfig) -> Self {
        let mut declared = FxHashMap::default();
        for attribute in &config.attributes {
            // The config decides which declaration of a repeated key wins.
            if let Some(winner) = config.attribute_by_key(&attribute.key) {
                let prefix = entry_prefix(&winner.id, &winner.key);
                declared.insert(
                    winner.key.as_str().into(),
                    Declared { key: SmolStr::new(&winner.key), id: SmolStr::new(&winner.id), prefix },
                );
            }
        }
        let bot_filtering = config.bot_filtering.map(|on| {
            let key = SmolStr::new_static(BOT_FILTERING_KEY);
            attribute(key.clone(), key, Value::Bool(on))
        });
        let bot_filtering_json = config.bot_filtering.map(|on| {
            let mut json = entry_prefix(BOT_FILTERING_KEY, BOT_FILTERING_KEY).into_vec();
            write::boolean(&mut json, on);
            json.push(b'}');
            json.into_boxed_slice()
        });
        Self { declared, bot_filtering, bot_filtering_json }
    }

    /// The entries sent for `attributes`, in caller order (without the bot-filtering
    /// entry): declared keys under their ids, `$opt_*` keys as themselves, and only
    /// values that are sent.
    fn entries<'a>(&'a self, attributes: &'a Attributes) -> impl Iterator<Item = (Entity<'a>, Sent<'a>)> {
        attributes.iter().filter_map(|(key, value)| {
            let value = Sent::of(value)?;
            let entity = match self.declared.get(key) {
                // The reference SDK tests the id for truth: a declared empty id drops the entry.
                Some(declared) if declared.id.is_empty() => return None,
                Some(declared) => Entity::Declared(declared),
                None if key.starts_with(RESERVED_PREFIX) => Entity::Reserved(key),
                None => return None,
            };
            Some((entity, value))
        })
    }

    /// Writes the entries [`Self::visitor_attributes`] makes, comma-separated, as the
    /// batch writer writes them, without making them.
    pub(crate) fn write_visitor_attributes(&self, out: &mut Vec<u8>, attributes: &Attributes) {
        let mut written = 0;
        for (entity, value) in self.entries(attributes) {
            if written > 0 {
                out.push(b',');
            }
            written += 1;
            match entity {
                Entity::Declared(declared) => out.extend_from_slice(&declared.prefix),
                Entity::Reserved(key) => out.extend_from_slice(&entry_prefix(key, key)),
            }
            value.write(out);
            out.push(b'}');
        }
        if let Some(json) = &self.bot_filtering_json {
            if written > 0 {
                out.push(b',');
            }
            out.extend_from_slice(json);
        }
    }

    pub(crate) fn visitor_attributes(&self, attributes: &Attributes) -> Vec<VisitorAttribute> {
        let mut list = Vec::with_capacity(attributes.len() + 1);
        for (entity, value) in self.entries(attributes) {
            let (id, key) = match entity {
                Entity::Declared(declared) => (declared.id.clone(), declared.key.clone()),
                Entity::Reserved(key) => {
                    let key = SmolStr::new(key);
                    (key.clone(), key)
                }
            };
            list.push(attribute(id, key, value.to_json()));
        }
        list.extend(self.bot_filtering.clone());
        list
    }
}

/// Who an attribute entry is sent as.
enum Entity<'a> {
    /// A declared attribute, under its id.
    Declared(&'a Declared),
    /// A `$opt_*` key, as itself.
    Reserved(&'a str),
}

/// A value that is sent (events.md §4): a string, a boolean, or a number that is finite
/// with magnitude at most 2^53 (integers stay integers).
enum Sent<'a> {
    String(&'a str),
    Bool(bool),
    Number(&'a Number),
}

impl<'a> Sent<'a> {
    fn of(value: &'a AttributeValue) -> Option<Self> {
        match value {
            AttributeValue::String(s) => Some(Self::String(s)),
            AttributeValue::Bool(b) => Some(Self::Bool(*b)),
            AttributeValue::Number(n) => finite_number(n).map(|_| Self::Number(n)),
            AttributeValue::Null | AttributeValue::Other(_) => None,
        }
    }

    fn to_json(&self) -> Value {
        match *self {
            Self::String(s) => Value::String(s.to_owned()),
            Self::Bool(b) => Value::Bool(b),
            Self::Number(n) => Value::Number(n.clone()),
        }
    }

    /// As the batch writer writes [`Self::to_json`].
    fn write(&self, out: &mut Vec<u8>) {
        match *self {
            Self::String(s) => write::string(out, s),
            Self::Bool(b) => write::boolean(out, b),
            Self::Number(n) => write::number(out, n),
        }
    }
}

fn attribute(entity_id: SmolStr, key: SmolStr, value: Value) -> VisitorAttribute {
    VisitorAttribute { entity_id, key, attribute_type: SmolStr::new_static(CUSTOM_ATTRIBUTE_TYPE), value }
}

/// The JSON of an attribute entry up to its value: `{"entity_id":"…","key":"…","type":"custom","value":`.
fn entry_prefix(entity_id: &str, key: &str) -> Box<[u8]> {
    let mut json = Vec::with_capacity(48 + entity_id.len() + key.len());
    json.extend_from_slice(br#"{"entity_id":"#);
    write::string(&mut json, entity_id);
    json.extend_from_slice(br#","key":"#);
    write::string(&mut json, key);
    json.extend_from_slice(br#","type":"#);
    write::string(&mut json, CUSTOM_ATTRIBUTE_TYPE);
    json.extend_from_slice(br#","value":"#);
    json.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config(extra: &str) -> ProjectConfig {
        let text = format!(
            r#"{{"version": "4", "accountId": "1", "projectId": "2", "revision": "3", "groups": [],
            "experiments": [], "events": [], "audiences": [],
            "attributes": [{{"id": "101", "key": "a"}}, {{"id": "102", "key": "$opt_declared"}},
                           {{"id": "", "key": "empty_id"}}] {extra}}}"#
        );
        match ProjectConfig::from_json(&text) {
            Ok(c) => c,
            Err(e) => panic!("test datafile: {e}"),
        }
    }

    fn sent(config: &ProjectConfig, attrs: Value) -> Value {
        let attrs: Attributes = match attrs {
            Value::Object(m) => m.into(),
            _ => Attributes::new(),
        };
        serde_json::to_value(AttributeIds::new(config).visitor_attributes(&attrs)).unwrap_or_default()
    }

    #[test]
    fn declared_reserved_and_dropped() {
        let c = config("");
        let got = sent(
            &c,
            json!({"a": 1, "undeclared": "x", "$opt_user_agent": "ua", "$opt_declared": true, "empty_id": "e"}),
        );
        assert_eq!(
            got,
            json!([
                {"entity_id": "101", "key": "a", "type": "custom", "value": 1},
                {"entity_id": "$opt_user_agent", "key": "$opt_user_agent", "type": "custom", "value": "ua"},
                {"entity_id": "102", "key": "$opt_declared", "type": "custom", "value": true}
            ])
        );
    }

    #[test]
    fn invalid_values_are_dropped() {
        let c = config("");
        for bad in [json!(null), json!([1]), json!({}), json!(18_014_398_509_481_984_u64), json!(-1e300)] {
            assert_eq!(sent(&c, json!({ "a": bad })), json!([]), "{bad}");
        }
        let edge = json!(9_007_199_254_740_992_u64);
        assert_eq!(sent(&c, json!({ "a": edge }))[0]["value"], edge);
        assert_eq!(sent(&c, json!({"a": 34.5}))[0]["value"], json!(34.5));
    }

    #[test]
    fn bot_filtering_last_iff_boolean() {
        for (extra, expected) in [
            (r#", "botFiltering": false"#, Some(false)),
            (r#", "botFiltering": true"#, Some(true)),
            (r#", "botFiltering": "yes""#, None),
            ("", None),
        ] {
            let got = sent(&config(extra), json!({"$opt_bot_filtering": "mine", "a": 2}));
            let list = got.as_array().cloned().unwrap_or_default();
            let last = list.last().cloned().unwrap_or_default();
            match expected {
                Some(on) => {
                    assert_eq!(list.len(), 3, "{extra}");
                    assert_eq!(
                        last,
                        json!({"entity_id": "$opt_bot_filtering", "key": "$opt_bot_filtering", "type": "custom", "value": on})
                    );
                }
                None => assert_eq!(list.len(), 2, "{extra}"),
            }
        }
    }
}
