//! User attributes: an insertion-ordered map from key to JSON scalar.
//!
//! Order matters because events list visitor attributes in the caller's order.
//! Lookups scan linearly: users carry a handful of attributes, and a scan over a
//! few short keys beats hashing.

use serde_json::{Map, Number, Value};
use smol_str::SmolStr;

/// One attribute value as the caller sent it.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    /// A string (short ones are stored inline: no allocation, no pointer to chase).
    String(SmolStr),
    /// A boolean (never a number).
    Bool(bool),
    /// A JSON number, integer or float, kept exactly as sent.
    Number(Number),
    /// `null`: treated as absent by every match (`exists` is false).
    Null,
    /// A list or object: counts for `exists`, matches nothing else, never sent in events.
    Other(Value),
}

impl From<Value> for AttributeValue {
    fn from(v: Value) -> Self {
        match v {
            Value::String(s) => Self::String(s.into()),
            Value::Bool(b) => Self::Bool(b),
            Value::Number(n) => Self::Number(n),
            Value::Null => Self::Null,
            other => Self::Other(other),
        }
    }
}

impl From<&str> for AttributeValue {
    fn from(s: &str) -> Self {
        Self::String(s.into())
    }
}

impl From<String> for AttributeValue {
    fn from(s: String) -> Self {
        Self::String(s.into())
    }
}

impl From<bool> for AttributeValue {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<i64> for AttributeValue {
    fn from(i: i64) -> Self {
        Self::Number(i.into())
    }
}

impl From<f64> for AttributeValue {
    /// Non-finite floats have no JSON form and become [`AttributeValue::Null`].
    fn from(f: f64) -> Self {
        Number::from_f64(f).map_or(Self::Null, Self::Number)
    }
}

impl AttributeValue {
    /// The value as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Self::String(s) => Value::String(s.to_string()),
            Self::Bool(b) => Value::Bool(*b),
            Self::Number(n) => Value::Number(n.clone()),
            Self::Null => Value::Null,
            Self::Other(v) => v.clone(),
        }
    }
}

/// Whether `k` is `key`. Lengths first: keys of one user mostly differ in length, and
/// that test needs no call to `memcmp`.
#[inline(always)]
fn key_is(k: &SmolStr, key: &str) -> bool {
    short_eq(k.as_bytes(), key.as_bytes())
}

/// Byte equality for the short strings of attributes (keys, country codes...): a loop
/// beats the call into `memcmp` that `==` on slices makes.
#[inline(always)]
pub(crate) fn short_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 32 {
        return a == b;
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// Attributes in insertion order; setting an existing key keeps its position. Keys and
/// short string values live inline in one vector, so reading a user's attributes
/// touches one block of memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes(Vec<(SmolStr, AttributeValue)>);

impl Attributes {
    /// No attributes.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// The value of `key`, if present (a present `null` is `Some(Null)`).
    #[inline]
    pub fn get(&self, key: &str) -> Option<&AttributeValue> {
        self.0.iter().find(|(k, _)| key_is(k, key)).map(|(_, v)| v)
    }

    /// Sets `key`, replacing the value in place when the key exists.
    pub fn insert(&mut self, key: impl AsRef<str>, value: impl Into<AttributeValue>) {
        let key = SmolStr::new(key.as_ref());
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// The position of `key`.
    #[inline]
    pub(crate) fn position(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| key_is(k, key))
    }

    /// The value at a position from [`Attributes::position`].
    pub(crate) fn value_at(&self, i: usize) -> Option<&AttributeValue> {
        self.0.get(i).map(|(_, v)| v)
    }

    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &AttributeValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bucketing id: `$opt_bucketing_id` when it is a string, else the user id
    /// (bucketing.md §4). The flag says whether a non-string value was ignored.
    #[inline]
    pub fn bucketing_id<'a>(&'a self, user_id: &'a str) -> (&'a str, bool) {
        match self.get("$opt_bucketing_id") {
            Some(AttributeValue::String(s)) => (s, false),
            Some(_) => (user_id, true),
            None => (user_id, false),
        }
    }
}

impl From<Map<String, Value>> for Attributes {
    fn from(map: Map<String, Value>) -> Self {
        map.into_iter().collect()
    }
}

impl<K: AsRef<str>, V: Into<AttributeValue>> FromIterator<(K, V)> for Attributes {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut attrs = Self::new();
        for (k, v) in iter {
            attrs.insert(k, v);
        }
        attrs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overwriting_keeps_position() {
        let mut a: Attributes = [("x", 1i64), ("y", 2)].into_iter().collect();
        a.insert("x", "new");
        let keys: Vec<_> = a.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["x", "y"]);
        assert_eq!(a.get("x"), Some(&AttributeValue::from("new")));
    }

    #[test]
    fn bucketing_id_only_from_strings() {
        let a: Attributes = [("$opt_bucketing_id", AttributeValue::from(5i64))].into_iter().collect();
        assert_eq!(a.bucketing_id("u"), ("u", true));
        let a: Attributes = [("$opt_bucketing_id", "")].into_iter().collect();
        assert_eq!(a.bucketing_id("u"), ("", false));
    }
}
