//! An event's `uuid` as text. The SDKs send version-4 uuids, 36 characters hyphenated:
//! one more than a heap allocation for every event if they were a `SmolStr` (inline up
//! to 23 bytes). So 36-byte texts are kept inline, any other text (the wire accepts any
//! string) as a `SmolStr`.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smol_str::SmolStr;

/// Length of a hyphenated uuid.
const HYPHENATED: usize = 36;

/// The text of an event's uuid.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EventUuid(Repr);

// Each text has one representation (by its length), so the derived equality is the
// equality of the texts.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Hyphenated([u8; HYPHENATED]),
    Other(SmolStr),
}

impl EventUuid {
    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Built from a `&str` only, so always UTF-8.
            Repr::Hyphenated(bytes) => std::str::from_utf8(bytes).unwrap_or_default(),
            Repr::Other(s) => s,
        }
    }

    /// The text's bytes, without the UTF-8 check `as_str` makes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Hyphenated(bytes) => bytes,
            Repr::Other(s) => s.as_bytes(),
        }
    }
}

impl From<&str> for EventUuid {
    fn from(s: &str) -> Self {
        match <[u8; HYPHENATED]>::try_from(s.as_bytes()) {
            Ok(bytes) => Self(Repr::Hyphenated(bytes)),
            Err(_) => Self(Repr::Other(SmolStr::new(s))),
        }
    }
}

impl From<String> for EventUuid {
    fn from(s: String) -> Self {
        Self::from(s.as_str())
    }
}

impl From<SmolStr> for EventUuid {
    fn from(s: SmolStr) -> Self {
        if s.len() == HYPHENATED { Self::from(s.as_str()) } else { Self(Repr::Other(s)) }
    }
}

impl Default for EventUuid {
    fn default() -> Self {
        Self(Repr::Other(SmolStr::default()))
    }
}

impl Deref for EventUuid {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for EventUuid {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for EventUuid {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for EventUuid {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl fmt::Display for EventUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for EventUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for EventUuid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventUuid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        SmolStr::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_of_every_length_read_back_and_compare_as_text() {
        for n in [0, 1, 23, 24, 35, 36, 37, 80] {
            let text: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            let from_str = EventUuid::from(text.as_str());
            let from_smol = EventUuid::from(SmolStr::new(&text));
            assert_eq!(from_str.as_str(), text);
            assert_eq!(from_str, from_smol, "length {n}");
            assert_eq!(from_str, text.as_str());
            assert_eq!(from_str.to_string(), text);
            assert_eq!(serde_json::to_string(&from_str).unwrap(), serde_json::to_string(&text).unwrap());
            let back: EventUuid = serde_json::from_str(&serde_json::to_string(&text).unwrap()).unwrap();
            assert_eq!(back, from_str);
        }
        let unicode = "é".repeat(18); // 36 bytes, not ASCII
        assert_eq!(EventUuid::from(unicode.as_str()).as_str(), unicode);
        assert_ne!(EventUuid::from("a"), EventUuid::from("b"));
    }
}
