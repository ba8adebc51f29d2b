//! What the builders take: a decision to report, and how a track names its event.

use std::fmt;

use vario_core::{Attributes, DecidedBy, DecisionSource, FlagDecision};
use vario_datafile::{EventIndex, ProjectConfig, VariationRef};

/// The kind of rule a decision came from, as sent in `metadata.rule_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleType {
    /// `activate` of an A/B experiment.
    Experiment,
    /// A flag's experiment rule, or a flag-level forced decision.
    FeatureTest,
    /// A delivery rule, or no decision at all.
    Rollout,
    /// A holdout.
    Holdout,
}

impl RuleType {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Experiment => "experiment",
            Self::FeatureTest => "feature-test",
            Self::Rollout => "rollout",
            Self::Holdout => "holdout",
        }
    }
}

impl fmt::Display for RuleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decision to report as an impression.
#[derive(Debug, Clone, Copy)]
pub struct Impression<'a> {
    /// The user id.
    pub user_id: &'a str,
    /// The user's attributes, in caller order.
    pub attributes: &'a Attributes,
    /// The experiment's or rule's layer id; `""` for holdouts and when there is no rule.
    pub layer_id: &'a str,
    /// The experiment, rule or holdout id; `""` when there is none.
    pub experiment_id: &'a str,
    /// The chosen variation as `(id, key)`.
    pub variation: Option<(&'a str, &'a str)>,
    /// The flag key; `""` for `activate`.
    pub flag_key: &'a str,
    /// The experiment, rule or holdout key; `""` when there is no rule.
    pub rule_key: &'a str,
    /// Where the decision came from.
    pub rule_type: RuleType,
    /// Whether the flag is on (`true` for `activate`).
    pub enabled: bool,
    /// The CMAB decision's uuid, if any.
    pub cmab_uuid: Option<&'a str>,
}

impl<'a> Impression<'a> {
    /// The impression of `activate`: the experiment's variation, typed "experiment",
    /// always enabled (events.md §3, decisions.md §1).
    pub fn of_activation(
        config: &'a ProjectConfig,
        variation: VariationRef,
        user_id: &'a str,
        attributes: &'a Attributes,
    ) -> Self {
        let exp = &config.experiments[variation.experiment];
        let mut v = Some(config.variation(variation));
        if exp.repeats_variations {
            // The reference SDKs name the variation by looking its id up in the experiment.
            v = v.and_then(|v| exp.variation_by_id(&v.id)).map(|i| &exp.variations[i]);
        }
        Self {
            user_id,
            attributes,
            layer_id: &exp.layer_id,
            experiment_id: &exp.id,
            variation: v.map(|v| (v.id.as_str(), v.key.as_str())),
            flag_key: "",
            rule_key: &exp.key,
            rule_type: RuleType::Experiment,
            enabled: true,
            cmab_uuid: None,
        }
    }

    /// The impression of a flag decision (`decide`, `is_feature_enabled`).
    pub fn of_flag_decision(
        config: &'a ProjectConfig,
        d: &FlagDecision,
        user_id: &'a str,
        attributes: &'a Attributes,
    ) -> Self {
        let mut variation = d.variation(config);
        let (layer_id, experiment_id) = match d.by {
            DecidedBy::FeatureTest(v) | DecidedBy::Rollout(v) => {
                // The rule visited: a forced variation may come from another rule.
                let rule = d.rule().unwrap_or(v.experiment);
                if rule != v.experiment || config.flags[d.flag].variation_ids_repeat {
                    variation = variation.and_then(|v| config.flag_variation_by_id(d.flag, &v.id));
                }
                let exp = &config.experiments[rule];
                (exp.layer_id.as_str(), exp.id.as_str())
            }
            DecidedBy::Holdout { .. } => ("", d.holdout(config).map_or("", |h| h.id.as_str())),
            DecidedBy::FlagForced(_) => {
                if config.flags[d.flag].variation_ids_repeat {
                    variation = variation.and_then(|v| config.flag_variation_by_id(d.flag, &v.id));
                }
                ("", "")
            }
            DecidedBy::Nothing => ("", ""),
        };
        Self {
            user_id,
            attributes,
            layer_id,
            experiment_id,
            // The reference SDKs name a flag decision's variation by looking its id up
            // among the flag's variations (the first with the id); only hand-written
            // datafiles make that another variation, or none.
            variation: variation.map(|v| (v.id.as_str(), v.key.as_str())),
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
}

/// Names the conversion event of a track: its key, or its index in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventRef<'a> {
    /// An event key as passed to `track`.
    Key(&'a str),
    /// A position in [`vario_datafile::ProjectConfig::events`].
    Index(EventIndex),
}

impl<'a> From<&'a str> for EventRef<'a> {
    fn from(key: &'a str) -> Self {
        Self::Key(key)
    }
}

impl<'a> From<&'a String> for EventRef<'a> {
    fn from(key: &'a String) -> Self {
        Self::Key(key)
    }
}

impl From<EventIndex> for EventRef<'_> {
    fn from(index: EventIndex) -> Self {
        Self::Index(index)
    }
}
