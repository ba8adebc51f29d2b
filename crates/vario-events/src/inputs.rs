//! What the builders take: a decision to report, and how a track names its event.

use std::fmt;

use vario_core::Attributes;
use vario_datafile::EventIndex;

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
