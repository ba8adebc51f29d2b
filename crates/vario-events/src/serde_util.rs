//! Serde helpers of the wire model: lenient reading of what other SDKs send, and the
//! §5 stripping on write.

use serde::{Deserialize, Deserializer, Serializer};
use serde_json::{Map, Number, Value};

use crate::strip::{Stripped, StrippedMap};

/// Reads `null` as the type's default (JS sends `null` ids; Java may send `null` lists).
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// Reads epoch milliseconds: an integer, or a float with no fractional part (a
/// JavaScript number may be written either way).
pub(crate) fn timestamp_ms<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let n = Number::deserialize(deserializer)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        // In range, an integral float converts exactly (`as` would saturate silently).
        Some(f) if f.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&f) => Ok(f as i64),
        _ => Err(serde::de::Error::custom(format!("timestamp {n} is not an integer number of milliseconds"))),
    }
}

/// Writes a JSON value with §5 applied.
pub(crate) fn serialize_stripped<S: Serializer>(value: &Value, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_some(&Stripped(value))
}

/// Writes event tags with §5 applied.
#[allow(clippy::ref_option)] // serde's serialize_with passes a reference
pub(crate) fn serialize_stripped_tags<S: Serializer>(
    tags: &Option<Map<String, Value>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match tags {
        Some(map) => serializer.serialize_some(&StrippedMap(map)),
        None => serializer.serialize_none(),
    }
}
