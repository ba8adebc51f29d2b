//! Parsing an event batch and checking it against the documented limits. Every refusal
//! names the JSON path of the field, e.g. `visitors[0].snapshots[0].events[0].timestamp`.

use serde_json::Value;
use serde_json::error::Category;
use vario_events::EventBatch;

use crate::config::Limits;
use crate::error::{ApiError, Code};

/// Parses `bytes` as an Optimizely event batch (unknown fields ignored); the types and
/// required fields are checked here, the limits by [`check_limits`].
pub fn parse_events(bytes: &[u8]) -> Result<EventBatch, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let batch: EventBatch = serde_path_to_error::deserialize(&mut de).map_err(json_error)?;
    de.end().map_err(|e| ApiError::new(Code::MalformedJson, format!("unexpected data after the JSON object: {e}")))?;
    Ok(batch)
}

/// The path and problem of a serde error.
fn json_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let mut path = error.path().to_string();
    let inner = error.into_inner();
    let message = inner.to_string();
    let code = if message.starts_with("number out of range") {
        // JSON has no NaN or infinity; a number too large for a double is one.
        Code::InvalidField
    } else {
        match inner.classify() {
            Category::Data => Code::InvalidField,
            Category::Syntax | Category::Eof | Category::Io => Code::MalformedJson,
        }
    };
    // serde reports a missing field at its parent; name the field itself.
    if let Some(field) = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
        path = if path == "." { field.to_owned() } else { format!("{path}.{field}") };
    }
    if path == "." { ApiError::new(code, message) } else { ApiError::at(code, path, message) }
}

/// The checks serde cannot make: lengths, counts, required non-empty values.
pub fn check_limits(batch: &EventBatch, limits: &Limits) -> Result<(), ApiError> {
    let id = |path: &dyn Fn() -> String, value: &str| check_len(path, value, limits.max_id_bytes);
    id(&|| "account_id".into(), &batch.account_id)?;
    id(&|| "project_id".into(), &batch.project_id)?;
    id(&|| "revision".into(), &batch.revision)?;
    id(&|| "client_name".into(), &batch.client_name)?;
    id(&|| "client_version".into(), &batch.client_version)?;
    if batch.visitors.len() > limits.max_visitors {
        return Err(ApiError::at(
            Code::TooMany,
            "visitors",
            format!("{} visitors in one batch; the limit is {}", batch.visitors.len(), limits.max_visitors),
        ));
    }
    let mut events = 0usize;
    for (v, visitor) in batch.visitors.iter().enumerate() {
        check_len(&|| format!("visitors[{v}].visitor_id"), &visitor.visitor_id, limits.max_visitor_id_bytes)?;
        if visitor.attributes.len() > limits.max_attributes {
            return Err(ApiError::at(
                Code::TooMany,
                format!("visitors[{v}].attributes"),
                format!("{} attributes; the limit is {}", visitor.attributes.len(), limits.max_attributes),
            ));
        }
        for (a, attribute) in visitor.attributes.iter().enumerate() {
            let at = |field: &str| format!("visitors[{v}].attributes[{a}].{field}");
            id(&|| at("entity_id"), &attribute.entity_id)?;
            id(&|| at("key"), &attribute.key)?;
            id(&|| at("type"), &attribute.attribute_type)?;
            match &attribute.value {
                Value::String(s) => check_len(&|| at("value"), s, limits.max_attribute_value_bytes)?,
                Value::Array(_) | Value::Object(_) => {
                    return Err(ApiError::at(
                        Code::InvalidField,
                        at("value"),
                        "an attribute value must be a string, a number, a boolean or null",
                    ));
                }
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
        for (s, snapshot) in visitor.snapshots.iter().enumerate() {
            for (d, decision) in snapshot.decisions.iter().flatten().enumerate() {
                let at = |field: &str| format!("visitors[{v}].snapshots[{s}].decisions[{d}].{field}");
                id(&|| at("campaign_id"), &decision.campaign_id)?;
                id(&|| at("experiment_id"), &decision.experiment_id)?;
                id(&|| at("variation_id"), decision.variation_id.as_deref().unwrap_or_default())?;
                let m = &decision.metadata;
                id(&|| at("metadata.flag_key"), &m.flag_key)?;
                id(&|| at("metadata.rule_key"), &m.rule_key)?;
                id(&|| at("metadata.rule_type"), &m.rule_type)?;
                id(&|| at("metadata.variation_key"), &m.variation_key)?;
                id(&|| at("metadata.cmab_uuid"), m.cmab_uuid.as_deref().unwrap_or_default())?;
            }
            for (e, event) in snapshot.events.iter().enumerate() {
                events += 1;
                if events > limits.max_events {
                    return Err(ApiError::at(
                        Code::TooMany,
                        "visitors",
                        format!("more than {} events in one batch", limits.max_events),
                    ));
                }
                let at = |field: &str| format!("visitors[{v}].snapshots[{s}].events[{e}].{field}");
                id(&|| at("entity_id"), &event.entity_id)?;
                id(&|| at("uuid"), &event.uuid)?;
                id(&|| at("key"), &event.key)?;
                if event.uuid.trim().is_empty() {
                    return Err(ApiError::at(
                        Code::InvalidField,
                        at("uuid"),
                        "every event needs a uuid: it makes a retried batch count once",
                    ));
                }
                if event.key.is_empty() {
                    return Err(ApiError::at(Code::InvalidField, at("key"), "every event needs a key"));
                }
                if event.timestamp < 0 {
                    return Err(ApiError::at(
                        Code::InvalidField,
                        at("timestamp"),
                        format!("timestamp {} is before 1970; it must be Unix epoch milliseconds", event.timestamp),
                    ));
                }
                if let Some(revenue) = &event.revenue
                    && revenue.as_i64().is_none()
                    && !revenue.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                {
                    return Err(ApiError::at(
                        Code::InvalidField,
                        at("revenue"),
                        format!("revenue {revenue} must be an integer between -2^63 and 2^63-1"),
                    ));
                }
                if let Some(tags) = &event.tags {
                    let size = json_size(tags);
                    if size > limits.max_tags_bytes {
                        return Err(ApiError::at(
                            Code::TooLong,
                            at("tags"),
                            format!("tags are {size} bytes of JSON; the limit is {}", limits.max_tags_bytes),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

fn check_len(path: &dyn Fn() -> String, value: &str, max: usize) -> Result<(), ApiError> {
    if value.len() > max {
        return Err(ApiError::at(Code::TooLong, path(), format!("{} bytes; the limit is {max}", value.len())));
    }
    Ok(())
}

/// Length of the JSON text of `value`, without building it.
fn json_size(value: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail; were it to, the size would read as 0 and the
    // store's own serialisation would still catch the value.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}
