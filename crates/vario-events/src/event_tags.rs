//! The `tags` of a conversion in the wire model: the caller's object, sent verbatim
//! after §5 stripping. Tags read from a payload are an [`EventTags::Object`]; tags
//! written once as the JSON that is sent ([`EventTags::render`]) cost one allocation
//! instead of one per key and string value, and are copied as bytes when written.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::strip::StrippedMap;
use crate::write;

/// A conversion's tags.
#[derive(Debug, Clone)]
pub enum EventTags {
    /// An object, sent with §5 applied.
    Object(Map<String, Value>),
    /// The compact JSON (UTF-8) of an object with §5 already applied, exactly as it is
    /// sent. Bytes, not `str`: the writer only ever copies them, so checking them for
    /// UTF-8 (or shrinking the buffer) would be work for nothing.
    Rendered(Vec<u8>),
}

impl EventTags {
    /// `map` with §5 applied, written as it will be sent.
    pub fn render(map: &Map<String, Value>) -> Self {
        let mut out = Vec::with_capacity(16 + 24 * map.len());
        write::object(&mut out, map);
        Self::Rendered(out)
    }

    /// The tags as an object (read back from their JSON when rendered).
    pub fn to_map(&self) -> Cow<'_, Map<String, Value>> {
        match self {
            Self::Object(map) => Cow::Borrowed(map),
            // A rendered text always came from an object, so it reads back as one.
            Self::Rendered(json) => Cow::Owned(serde_json::from_slice(json).unwrap_or_default()),
        }
    }

    /// Appends the JSON that is sent (§5 applied).
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Object(map) => write::object(out, map),
            Self::Rendered(json) => out.extend_from_slice(json),
        }
    }
}

impl From<Map<String, Value>> for EventTags {
    fn from(map: Map<String, Value>) -> Self {
        Self::Object(map)
    }
}

/// Equal when they send the same tags, whichever form each is in.
impl PartialEq for EventTags {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Rendered(a), Self::Rendered(b)) => a == b,
            _ => {
                let (a, b) = (self.to_map(), other.to_map());
                crate::strip::strip_map(&a) == crate::strip::strip_map(&b)
            }
        }
    }
}

impl Serialize for EventTags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Object(map) => StrippedMap(map).serialize(serializer),
            // Read back: serde is the reference path, not the hot one (`write` is). The
            // text is serde_json's own spelling of each value, so the bytes come out equal.
            Self::Rendered(_) => StrippedMap(&self.to_map()).serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for EventTags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::deserialize(deserializer).map(Self::Object)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn rendered_tags_are_the_stripped_object_as_serde_writes_it() {
        let tags = object(
            json!({"revenue": 4200, "value": null, "name": "shoes \"red\"\n", "n": {"tags": null, "x": [1.5, null]}, "e": 1e300}),
        );
        let rendered = EventTags::render(&tags);
        let EventTags::Rendered(text) = &rendered else { panic!("not rendered") };
        let stripped = crate::strip::strip_map(&tags);
        assert_eq!(text, &serde_json::to_vec(&stripped).unwrap());
        assert_eq!(
            serde_json::to_string(&rendered).unwrap(),
            serde_json::to_string(&EventTags::Object(tags.clone())).unwrap()
        );
        assert_eq!(rendered.to_map().into_owned(), stripped);
        assert_eq!(rendered, EventTags::Object(tags));
    }

    #[test]
    fn different_tags_differ_in_either_form() {
        let a = object(json!({"a": 1}));
        let b = object(json!({"a": 2}));
        assert_ne!(EventTags::render(&a), EventTags::render(&b));
        assert_ne!(EventTags::render(&a), EventTags::Object(b));
        assert_eq!(EventTags::render(&a), EventTags::Object(a));
    }
}
