//! What one user gets from every flag and A/B test of a datafile, and why: shared by
//! `vario explain` and the explain page.

use serde_json::{Value, json};
use vario_core::{Reason, User, experiment_variation};
use vario_datafile::{Origin, ProjectConfig};
use vario_sdk::{Attributes, Client, DecideOptions, SdkError};

/// Parses `KEY=VALUE` into an attribute: numbers, `true`/`false` and `null` are typed,
/// the rest are strings (as `vario explain --attr` takes them). `None` without `=`.
pub fn parse_attribute(pair: &str) -> Option<(String, Value)> {
    let (key, raw) = pair.split_once('=')?;
    let value = match serde_json::from_str::<Value>(raw) {
        Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => v,
        _ => Value::from(raw),
    };
    Some((key.to_owned(), value))
}

/// Every flag's decision (through the SDK, sending no events) and every A/B test's
/// variation that is no flag's rule, each with its reasons:
/// `{"revision", "user", "flags": [{flag, enabled, variation, rule, variables, reasons}],
/// "experiments": [{experiment, variation, reasons}]}`.
pub fn explain(text: &str, config: &ProjectConfig, user_id: &str, attributes: &Attributes) -> Result<Value, SdkError> {
    let client = Client::from_datafile(text)?;
    let user = client.create_user_context(user_id, attributes.clone());
    let options = DecideOptions::INCLUDE_REASONS | DecideOptions::DISABLE_DECISION_EVENT;
    let flags: Vec<Value> = config
        .flags
        .iter()
        .map(|flag| {
            let d = user.decide(&flag.key, options);
            json!({"flag": flag.key, "enabled": d.enabled(), "variation": d.variation_key(), "rule": d.rule_key(),
                   "variables": d.variables(), "reasons": d.reasons()})
        })
        .collect();
    let core_user = User::new(user_id, attributes);
    let experiments: Vec<Value> = config
        .experiments
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.is_feature_test && !matches!(e.origin, Origin::Rollout(_)))
        .map(|(i, e)| {
            let mut trace: Vec<Reason> = Vec::new();
            let (variation, _) = experiment_variation(config, i, &core_user, None, &mut trace);
            let reasons: Vec<String> = trace.iter().map(|r| r.describe(config)).collect();
            json!({"experiment": e.key, "variation": variation.map(|v| &config.variation(v).key), "reasons": reasons})
        })
        .collect();
    Ok(json!({"revision": config.revision, "user": user_id, "flags": flags, "experiments": experiments}))
}
