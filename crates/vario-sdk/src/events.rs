//! From decisions to events: which call sends which impression (decisions.md §7), and
//! the hand-off to the dispatcher. Building the payload is `vario-events`' job.

use serde_json::{Map, Value};
use vario_core::{Attributes, DecidedBy, DecisionSource, FlagDecision};
use vario_datafile::{ProjectConfig, VariationRef};
use vario_events::{Impression, LogEvent, RuleType, UserEvent};

use crate::client::{Client, Loaded};

/// What an impression reports.
pub(crate) enum ImpressionOf<'a> {
    /// `activate`: the experiment's variation, typed "experiment".
    Activate(VariationRef),
    /// A flag decision.
    Flag(&'a FlagDecision),
}

pub(crate) fn send_impression(
    client: &Client,
    loaded: &Loaded,
    user_id: &str,
    attributes: &Attributes,
    of: ImpressionOf<'_>,
) {
    if client.inner.dispatcher.is_none() {
        return;
    }
    let config: &ProjectConfig = &loaded.config;
    let impression = match of {
        ImpressionOf::Activate(v) => {
            let exp = &config.experiments[v.experiment];
            let variation = config.variation(v);
            Impression {
                user_id,
                attributes,
                layer_id: &exp.layer_id,
                experiment_id: &exp.id,
                variation: Some((&variation.id, &variation.key)),
                flag_key: "",
                rule_key: &exp.key,
                rule_type: RuleType::Experiment,
                enabled: true,
                cmab_uuid: None,
            }
        }
        ImpressionOf::Flag(d) => {
            let (layer_id, experiment_id) = match d.by {
                DecidedBy::FeatureTest(v) | DecidedBy::Rollout(v) => {
                    // The rule visited: a forced variation may come from another rule.
                    let exp = &config.experiments[d.rule().unwrap_or(v.experiment)];
                    (exp.layer_id.as_str(), exp.id.as_str())
                }
                DecidedBy::Holdout { .. } => ("", d.holdout(config).map_or("", |h| h.id.as_str())),
                DecidedBy::FlagForced(_) | DecidedBy::Nothing => ("", ""),
            };
            Impression {
                user_id,
                attributes,
                layer_id,
                experiment_id,
                variation: d.variation(config).map(|v| (v.id.as_str(), v.key.as_str())),
                flag_key: &config.flags[d.flag].key,
                rule_key: d.rule_key(config).unwrap_or(""),
                rule_type: match d.source() {
                    DecisionSource::FeatureTest => RuleType::FeatureTest,
                    DecisionSource::Rollout => RuleType::Rollout,
                    DecisionSource::Holdout => RuleType::Holdout,
                },
                enabled: d.enabled,
                cmab_uuid: None,
            }
        }
    };
    dispatch(client, loaded.events.impression(&impression));
}

/// Impression of a decide call (the caller checked the send rule).
pub(crate) fn send_flag_impression(
    client: &Client,
    loaded: &Loaded,
    user_id: &str,
    attributes: &Attributes,
    decision: &FlagDecision,
) {
    send_impression(client, loaded, user_id, attributes, ImpressionOf::Flag(decision));
}

/// Impression of `is_feature_enabled`: feature tests with a variation always; rollout
/// and no-decision results only with `sendFlagDecisions`; holdouts never (as the
/// reference SDK does for this legacy call).
pub(crate) fn send_legacy_flag_impression(
    client: &Client,
    loaded: &Loaded,
    user_id: &str,
    attributes: &Attributes,
    decision: &FlagDecision,
) {
    let has_variation = decision.variation(&loaded.config).is_some();
    let source = decision.source();
    let sends = (source == DecisionSource::FeatureTest && has_variation)
        || ((source == DecisionSource::Rollout || !has_variation) && loaded.config.send_flag_decisions);
    if sends {
        send_flag_impression(client, loaded, user_id, attributes, decision);
    }
}

pub(crate) fn send_conversion(
    client: &Client,
    loaded: &Loaded,
    event_key: &str,
    user_id: &str,
    attributes: &Attributes,
    tags: Option<&Map<String, Value>>,
) {
    if client.inner.dispatcher.is_none() {
        return;
    }
    if let Some(event) = loaded.events.conversion(event_key, user_id, attributes, tags) {
        dispatch(client, event);
    }
}

/// Each event goes out as its own batch; batching arrives with the event processor.
fn dispatch(client: &Client, event: UserEvent) {
    let Some(dispatcher) = &client.inner.dispatcher else { return };
    let log_event = LogEvent::from(event);
    if let Err(error) = dispatcher.dispatch(&log_event) {
        tracing::warn!(%error, "event dispatch failed; the event is dropped");
    }
}
