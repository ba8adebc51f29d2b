//! The datafile as it is written: a serde mirror of the JSON, field for field, borrowing
//! strings from the input where it can. Required and optional fields follow the
//! reference SDK (datafile.md §2 and §4); meaning is given to them in `parse.rs`.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

type Str<'a> = Cow<'a, str>;

/// An absent or `null` list reads as empty. (Top-level sections may be absent but not
/// `null`: the reference SDK fails on a `null` section.)
fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Datafile<'a> {
    #[serde(borrow)]
    pub(crate) version: Str<'a>,
    #[serde(borrow)]
    pub(crate) account_id: Str<'a>,
    #[serde(borrow)]
    pub(crate) project_id: Str<'a>,
    #[serde(borrow)]
    pub(crate) revision: Str<'a>,
    #[serde(default, borrow)]
    pub(crate) sdk_key: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub(crate) environment_key: Option<Str<'a>>,
    /// `null` is kept (`Some(Value::Null)`): the reference SDK sends it as it is.
    #[serde(default, rename = "anonymizeIP", deserialize_with = "present")]
    pub(crate) anonymize_ip: Option<Value>,
    #[serde(default)]
    pub(crate) bot_filtering: Option<Value>,
    #[serde(default)]
    pub(crate) send_flag_decisions: Option<Value>,
    #[serde(default)]
    pub(crate) region: Option<Value>,
    #[serde(borrow)]
    pub(crate) attributes: Vec<Attribute<'a>>,
    #[serde(borrow)]
    pub(crate) audiences: Vec<Audience<'a>>,
    #[serde(default, borrow)]
    pub(crate) typed_audiences: Vec<TypedAudience<'a>>,
    #[serde(borrow)]
    pub(crate) experiments: Vec<Experiment<'a>>,
    #[serde(borrow)]
    pub(crate) groups: Vec<Group<'a>>,
    #[serde(default, borrow)]
    pub(crate) feature_flags: Vec<Flag<'a>>,
    #[serde(default, borrow)]
    pub(crate) rollouts: Vec<Rollout<'a>>,
    #[serde(borrow)]
    pub(crate) events: Vec<Event<'a>>,
    #[serde(default, borrow)]
    #[allow(dead_code)] // validated only: ODP settings do not affect decisions
    pub(crate) integrations: Vec<Integration<'a>>,
    #[serde(default, borrow)]
    pub(crate) holdouts: Vec<Holdout<'a>>,
    #[serde(default, borrow)]
    pub(crate) local_holdouts: Vec<Holdout<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct Attribute<'a> {
    #[serde(borrow)]
    pub(crate) id: Str<'a>,
    #[serde(borrow)]
    pub(crate) key: Str<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Event<'a> {
    #[serde(borrow)]
    pub(crate) id: Str<'a>,
    #[serde(borrow)]
    pub(crate) key: Str<'a>,
    #[serde(borrow)]
    pub(crate) experiment_ids: Vec<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // validated only
pub(crate) struct Integration<'a> {
    #[serde(borrow)]
    pub(crate) key: Str<'a>,
    #[serde(default, borrow)]
    pub(crate) host: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub(crate) public_key: Option<Str<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct Audience<'a> {
    #[serde(borrow)]
    pub(crate) id: Str<'a>,
    #[serde(borrow)]
    pub(crate) name: Str<'a>,
    /// A condition tree encoded as a JSON string.
    #[serde(borrow)]
    pub(crate) conditions: Str<'a>,
}

#[derive(Deserialize)]
pub(crate) struct TypedAudience<'a> {
    #[serde(borrow)]
    pub(crate) id: Str<'a>,
    #[serde(borrow)]
    pub(crate) name: Str<'a>,
    pub(crate) conditions: Required<Value>,
}

/// A field that may be absent (`None`) or hold any JSON, `null` included.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A field that must be present but may hold any JSON, `null` included.
pub(crate) struct Required<T>(pub(crate) T);

impl<'de> Deserialize<'de> for Required<Value> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(Required)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Experiment<'a> {
    #[serde(borrow)]
    pub(crate) id: Str<'a>,
    #[serde(borrow)]
    pub(crate) key: Str<'a>,
    #[serde(borrow)]
    pub(crate) layer_id: Str<'a>,
    #[serde(borrow)]
    pub(crate) status: Str<'a>,
    #[serde(borrow)]
    pub(crate) variations: Vec<Variation<'a>>,
    pub(crate) traffic_allocation: Vec<TrafficRange<'a>>,
    #[serde(borrow)]
    pub(crate) audience_ids: Vec<Str<'a>>,
    #[serde(default)]
    pub(crate) audience_conditions: Option<Value>,
    pub(crate) forced_variations: Map<String, Value>,
    #[serde(default, rename = "type", borrow)]
    pub(crate) rule_type: Option<Str<'a>>,
    #[serde(default)]
    pub(crate) cmab: Option<Cmab<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Cmab<'a> {
    #[serde(default, deserialize_with = "list", borrow)]
    pub(crate) attribute_ids: Vec<Str<'a>>,
    #[serde(default)]
    pub(crate) traffic_allocation: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Variation<'a> {
    #[serde(borrow)]
    pub(crate) id: Str<'a>,
    #[serde(borrow)]
    pub(crate) key: Str<'a>,
    #[serde(default)]
    pub(crate) feature_enabled: Option<Value>,
    #[serde(default, deserialize_with = "list", borrow)]
    pub(crate) variables: Vec<VariableUsage<'a>>,
}

/// A variation's value of a variable: a string in the format, but the reference SDKs load
/// any JSON here (the value is then cast as the SDK casts it; `parse.rs` warns).
#[derive(Deserialize)]
pub(crate) struct VariableUsage<'a> {
    #[serde(borrow)]
    pub(crate) id: Str<'a>,
    pub(crate) value: Required<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TrafficRange<'a> {
    #[serde(borrow)]
    pub(crate) entity_id: Str<'a>,
    pub(crate) end_of_range: Number,
}

/// Any JSON value where a number belongs; whether a non-integer is acceptable depends on
/// where it stands, so it is judged later.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Number {
    Int(i64),
    Big,
    Float(f64),
    /// Not a number: what it was, rendered for the error message.
    Other(String),
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumberVisitor)
    }
}

struct NumberVisitor;

impl<'de> Visitor<'de> for NumberVisitor {
    type Value = Number;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_i64<E>(self, v: i64) -> Result<Number, E> {
        Ok(Number::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Number, E> {
        Ok(i64::try_from(v).map_or(Number::Big, Number::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Number, E> {
        Ok(Number::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Number, E> {
        Ok(Number::Other(crate::walk::describe(&Value::String(v.to_owned()))))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Number, E> {
        Ok(Number::Other(v.to_string()))
    }
    fn visit_unit<E>(self) -> Result<Number, E> {
        Ok(Number::Other("null".into()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Number, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Number::Other("an array".into()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Number, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Number::Other("an object".into()))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Group<'a> {
    #[serde(borrow)]
    pub(crate) id: Str<'a>,
    #[serde(borrow)]
    pub(crate) policy: Str<'a>,
    #[serde(borrow)]
    pub(crate) traffic_allocation: Vec<TrafficRange<'a>>,
    #[serde(borrow)]
    pub(crate) experiments: Vec<Experiment<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct Rollout<'a> {
    #[serde(borrow)]
    pub(crate) id: Str<'a>,
    #[serde(borrow)]
    pub(crate) experiments: Vec<Experiment<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Flag<'a> {
    #[serde(borrow)]
    pub(crate) id: Str<'a>,
    #[serde(borrow)]
    pub(crate) key: Str<'a>,
    #[serde(borrow)]
    pub(crate) experiment_ids: Vec<Str<'a>>,
    #[serde(borrow)]
    pub(crate) rollout_id: Str<'a>,
    #[serde(borrow)]
    pub(crate) variables: Vec<Variable<'a>>,
}

/// A feature variable. `type`, `subType` and `defaultValue` are strings in the format, but
/// the reference SDKs load any JSON in them (only a missing `type` or `defaultValue` makes
/// the datafile invalid); what they answer for odd values is decided in `variable.rs`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Variable<'a> {
    #[serde(borrow)]
    pub(crate) id: Str<'a>,
    #[serde(borrow)]
    pub(crate) key: Str<'a>,
    #[serde(rename = "type")]
    pub(crate) kind: Required<Value>,
    pub(crate) default_value: Required<Value>,
    #[serde(default)]
    pub(crate) sub_type: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Holdout<'a> {
    #[serde(borrow)]
    pub(crate) id: Str<'a>,
    #[serde(borrow)]
    pub(crate) key: Str<'a>,
    #[serde(borrow)]
    pub(crate) status: Str<'a>,
    #[serde(borrow)]
    pub(crate) variations: Vec<Variation<'a>>,
    #[serde(borrow)]
    pub(crate) traffic_allocation: Vec<TrafficRange<'a>>,
    #[serde(borrow)]
    pub(crate) audience_ids: Vec<Str<'a>>,
    #[serde(default)]
    pub(crate) audience_conditions: Option<Value>,
    #[serde(default, deserialize_with = "list", borrow)]
    pub(crate) included_rules: Vec<Str<'a>>,
    #[serde(default)]
    pub(crate) exclude_targeted_deliveries: Option<Value>,
}

/// Turns serde's wording into the datafile error's: `expected X, found Y`, `missing
/// required field`, with the JSON path of the field.
pub(crate) fn describe_error(path: &str, message: &str) -> (String, crate::error::Problem) {
    use crate::error::Problem;
    let message = message.rfind(" at line ").map_or(message, |i| &message[..i]);
    let root = if path == "." { "" } else { path };
    if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
        let path = if root.is_empty() { field.to_owned() } else { format!("{root}.{field}") };
        return (path, Problem::Missing);
    }
    let path = if root.is_empty() { "$".to_owned() } else { root.to_owned() };
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        let problem = Problem::WrongType { expected: expected_name(expected), found: found_value(found) };
        return (path, problem);
    }
    (path, Problem::Other(message.to_owned()))
}

fn expected_name(serde: &str) -> &'static str {
    match serde {
        "a string" | "a borrowed string" => "a string",
        "a sequence" => "an array",
        "a boolean" => "a boolean",
        "a number" => "a number",
        s if s.starts_with("struct ") || s == "a map" => "an object",
        _ => "another type",
    }
}

fn found_value(serde: &str) -> String {
    let unquote = |s: &str| s.trim_matches('`').to_owned();
    match serde {
        "sequence" => "an array".into(),
        "map" => "an object".into(),
        "null" | "unit value" => "null".into(),
        s => {
            for prefix in ["string ", "integer ", "floating point ", "boolean "] {
                if let Some(v) = s.strip_prefix(prefix) {
                    return unquote(v);
                }
            }
            s.to_owned()
        }
    }
}
