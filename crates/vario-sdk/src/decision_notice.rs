//! DECISION notifications, with the `info` each API reports (decisions.md §8). Built
//! only when someone listens.

use serde_json::{Map, Value, json};
use vario_core::{Attributes, FlagDecision};
use vario_datafile::{ExperimentIndex, ProjectConfig, VariationRef};

use crate::client::Client;
use crate::notification::{DecisionNotification, DecisionType};

fn emit(
    client: &Client,
    decision_type: DecisionType,
    user_id: &str,
    attributes: &Attributes,
    info: impl FnOnce() -> Value,
) {
    client.inner.notifications.notify_with(|| DecisionNotification {
        decision_type,
        user_id: user_id.to_owned(),
        attributes: attributes.clone(),
        info: info(),
    });
}

/// `get_variation` / `activate`.
pub(crate) fn experiment(
    client: &Client,
    config: &ProjectConfig,
    experiment: ExperimentIndex,
    variation: Option<VariationRef>,
    user_id: &str,
    attributes: &Attributes,
) {
    let exp = &config.experiments[experiment];
    let kind = if exp.is_feature_test { DecisionType::FeatureTest } else { DecisionType::AbTest };
    emit(client, kind, user_id, attributes, || {
        json!({
            "experiment_key": exp.key,
            "variation_key": variation.map(|v| config.variation(v).key.clone()),
        })
    });
}

/// What the legacy flag APIs report about where a decision came from.
fn source_info(config: &ProjectConfig, d: &FlagDecision) -> Value {
    match (d.source(), d.rule(), d.variation(config)) {
        (vario_core::DecisionSource::FeatureTest, Some(rule), Some(v)) => {
            json!({"experiment_key": config.experiments[rule].key, "variation_key": v.key})
        }
        _ => json!({}),
    }
}

/// `is_feature_enabled`.
pub(crate) fn feature(
    client: &Client,
    config: &ProjectConfig,
    d: &FlagDecision,
    user_id: &str,
    attributes: &Attributes,
) {
    emit(client, DecisionType::Feature, user_id, attributes, || {
        json!({
            "feature_key": config.flags[d.flag].key,
            "feature_enabled": d.enabled,
            "source": d.source().as_str(),
            "source_info": source_info(config, d),
        })
    });
}

/// `get_feature_variable*`.
pub(crate) fn variable(
    client: &Client,
    config: &ProjectConfig,
    d: &FlagDecision,
    variable: usize,
    user_id: &str,
    attributes: &Attributes,
) {
    emit(client, DecisionType::FeatureVariable, user_id, attributes, || {
        let var = &config.flags[d.flag].variables[variable];
        json!({
            "feature_key": config.flags[d.flag].key,
            "feature_enabled": d.enabled,
            "source": d.source().as_str(),
            "variable_key": var.key,
            "variable_value": d.variable_value(config, variable),
            "variable_type": var.kind.as_str(),
            "source_info": source_info(config, d),
        })
    });
}

/// `get_all_feature_variables`.
pub(crate) fn all_variables(
    client: &Client,
    config: &ProjectConfig,
    d: &FlagDecision,
    values: &Map<String, Value>,
    user_id: &str,
    attributes: &Attributes,
) {
    emit(client, DecisionType::AllFeatureVariables, user_id, attributes, || {
        json!({
            "feature_key": config.flags[d.flag].key,
            "feature_enabled": d.enabled,
            "source": d.source().as_str(),
            "variable_values": values,
            "source_info": source_info(config, d),
        })
    });
}

/// `decide*`.
pub(crate) fn flag(
    client: &Client,
    decision: &crate::user_context::Decision,
    event_dispatched: bool,
    user_id: &str,
    attributes: &Attributes,
) {
    emit(client, DecisionType::Flag, user_id, attributes, || {
        let (experiment_id, variation_id) = decision.wire_ids();
        json!({
            "flag_key": decision.flag_key(),
            "enabled": decision.enabled(),
            "variables": decision.variables(),
            "variation_key": decision.variation_key(),
            "rule_key": decision.rule_key(),
            "reasons": decision.reasons(),
            "decision_event_dispatched": event_dispatched,
            "experiment_id": experiment_id,
            "variation_id": variation_id,
        })
    });
}
