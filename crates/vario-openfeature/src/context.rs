//! The evaluation context of a request: OpenFeature's `targetingKey` is the user id, the
//! other entries are the user's attributes.

use serde_json::{Map, Value};
use vario_sdk::Attributes;

use crate::evaluate::{ErrorCode, EvaluationError};

/// The context entry that names the user.
pub const TARGETING_KEY: &str = "targetingKey";

/// A checked evaluation context.
#[derive(Debug, Clone)]
pub struct EvaluationContext {
    /// The user id (`targetingKey`).
    pub user_id: String,
    /// Every other entry, as user attributes (values kept as sent: audiences compare
    /// strings, numbers and booleans; lists and objects match nothing, as in the SDKs).
    pub attributes: Attributes,
}

impl EvaluationContext {
    /// Reads a context object. The user id is required: Optimizely buckets by it.
    pub fn from_json(context: Option<&Value>) -> Result<Self, EvaluationError> {
        let invalid = |details: String| EvaluationError { code: ErrorCode::InvalidContext, details };
        let map: Map<String, Value> = match context {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(other) => return Err(invalid(format!("context must be an object, not {}", kind(other)))),
        };
        let mut attributes = map;
        let user_id = match attributes.remove(TARGETING_KEY) {
            Some(Value::String(id)) if !id.is_empty() => id,
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(EvaluationError {
                    code: ErrorCode::TargetingKeyMissing,
                    details: format!(
                        "context.{TARGETING_KEY} is required: it is the user id that Optimizely buckets by"
                    ),
                });
            }
            Some(other) => {
                return Err(invalid(format!("context.{TARGETING_KEY} must be a string, not {}", kind(&other))));
            }
        };
        Ok(Self { user_id, attributes: Attributes::from(attributes) })
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targeting_key_is_the_user_and_the_rest_are_attributes() {
        let ctx =
            EvaluationContext::from_json(Some(&json!({"targetingKey": "u1", "country": "de", "age": 30}))).unwrap();
        assert_eq!(ctx.user_id, "u1");
        assert_eq!(ctx.attributes.len(), 2);
        assert!(ctx.attributes.get(TARGETING_KEY).is_none());
    }

    #[test]
    fn a_missing_or_empty_targeting_key_is_targeting_key_missing() {
        for ctx in [None, Some(json!({})), Some(json!({"targetingKey": ""})), Some(json!({"targetingKey": null}))] {
            let e = EvaluationContext::from_json(ctx.as_ref()).unwrap_err();
            assert_eq!(e.code, ErrorCode::TargetingKeyMissing, "{ctx:?}");
        }
    }

    #[test]
    fn a_context_or_key_of_the_wrong_type_is_invalid_context() {
        for ctx in [json!([1]), json!("u1"), json!({"targetingKey": 7})] {
            let e = EvaluationContext::from_json(Some(&ctx)).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidContext, "{ctx}");
        }
    }
}
