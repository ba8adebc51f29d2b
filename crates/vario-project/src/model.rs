//! The project model: what people edit (YAML files, the admin API) and what the
//! datafiles are built from. References between objects are by key, so files read well
//! in review; every object also carries its stable id (empty until the store assigns
//! one), which export writes out so that applying the export keeps the ids.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::scalar;

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_true(b: &bool) -> bool {
    *b
}

fn yes() -> bool {
    true
}

/// A project: one account's flags, experiments, audiences and events, delivered to the
/// SDKs of each environment as one datafile per environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// Unique key, e.g. `shop`.
    pub key: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `projectId` of the datafiles and events.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// `accountId` of the datafiles and events.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account_id: String,
    /// Datafile-wide settings.
    #[serde(default, skip_serializing_if = "Settings::is_default")]
    pub settings: Settings,
    /// Where the project's SDKs run, each with its own datafile.
    #[serde(default)]
    pub environments: Vec<Environment>,
    /// Declared user attributes (sent with events).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// Named condition trees over user attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<Audience>,
    /// Conversion events that `track` may send.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
    /// Mutually exclusive groups of experiments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
    /// A/B tests that are no flag's rule (decided with `activate`/`get_variation`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub experiments: Vec<Experiment>,
    /// Feature flags with their variables, variations and rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<Flag>,
}

/// Datafile-wide settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `anonymizeIP`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub anonymize_ip: bool,
    /// `botFiltering`; absent leaves it out of the datafile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_filtering: Option<bool>,
    /// `sendFlagDecisions`: impressions for rollout decisions too (on by default, as in
    /// new Optimizely projects).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub send_flag_decisions: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self { anonymize_ip: false, bot_filtering: None, send_flag_decisions: true }
    }
}

impl Settings {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// An environment: its SDK key names its datafile (`/datafiles/{sdk_key}.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Stable id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Key, e.g. `production`.
    pub key: String,
    /// SDK key; `<project>-<environment>` when left empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sdk_key: String,
    /// Archived objects stay in the store (ids are never reused) but leave the datafiles.
    #[serde(default, skip_serializing_if = "is_false")]
    pub archived: bool,
}

/// A declared attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attribute {
    /// Stable id (sent in events).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Key used by the SDKs.
    pub key: String,
    /// See [`Environment::archived`].
    #[serde(default, skip_serializing_if = "is_false")]
    pub archived: bool,
}

/// An audience: Optimizely's typed condition tree (`["and", {...}, ["or", ...]]`,
/// leaves `{"name", "match", "value", "type"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    /// Stable id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Key that experiments and rules use.
    pub key: String,
    /// Display name (the datafile's `name`); the key when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The condition tree.
    pub conditions: Value,
    /// See [`Environment::archived`].
    #[serde(default, skip_serializing_if = "is_false")]
    pub archived: bool,
}

/// A conversion event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Stable id (sent in events).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The key passed to `track`.
    pub key: String,
    /// What it measures.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// See [`Environment::archived`].
    #[serde(default, skip_serializing_if = "is_false")]
    pub archived: bool,
}

/// How a group shares its traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Mutually exclusive: each user is in at most one of the group's experiments.
    #[default]
    Random,
    /// The experiments are bucketed as if ungrouped.
    Overlapping,
}

impl Policy {
    /// The datafile spelling.
    pub fn as_datafile(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::Overlapping => "overlapping",
        }
    }
}

/// One bucket range: users whose bucket is below `end` (and not below the previous
/// range's end) get `to`. Buckets run from 0 to 9999, so `end: 5000` is 50 %.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// A variation key (experiments, rules) or experiment key (groups); none is a
    /// deliberate hole: users there get nothing.
    #[serde(default)]
    pub to: Option<String>,
    /// Exclusive end, 0 to 10000, not below the previous range's end.
    pub end: i64,
}

/// An exclusion group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Stable id (the group's bucketing entity).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Key that experiments and rules name in their `group`.
    pub key: String,
    /// `random` (exclusive, the default) or `overlapping`.
    #[serde(default, skip_serializing_if = "is_default_policy")]
    pub policy: Policy,
    /// Ranges of experiment keys.
    #[serde(default)]
    pub traffic: Vec<Range>,
    /// See [`Environment::archived`].
    #[serde(default, skip_serializing_if = "is_false")]
    pub archived: bool,
}

fn is_default_policy(p: &Policy) -> bool {
    *p == Policy::Random
}

/// The status of an experiment or rule in one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Users are bucketed.
    Running,
    /// Nobody enters (delivery rules are left out of the datafile).
    Paused,
    /// Not started yet.
    NotStarted,
    /// Finished with a winner rolled out elsewhere.
    Launched,
    /// Finished.
    Archived,
}

impl Status {
    /// The datafile spelling.
    pub fn as_datafile(self) -> &'static str {
        match self {
            Self::Running => "Running",
            Self::Paused => "Paused",
            Self::NotStarted => "Not started",
            Self::Launched => "Launched",
            Self::Archived => "Archived",
        }
    }

    /// The status of a datafile spelling.
    pub fn from_datafile(s: &str) -> Option<Self> {
        [Self::Running, Self::Paused, Self::NotStarted, Self::Launched, Self::Archived]
            .into_iter()
            .find(|status| status.as_datafile() == s)
    }
}

/// Status per environment key; an environment not listed is [`Status::Paused`].
pub type StatusMap = BTreeMap<String, Status>;

/// A variation of an A/B test that is no flag's rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentVariation {
    /// Stable id (sent in events).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Key returned by `activate`.
    pub key: String,
}

/// An A/B test that is no flag's rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Stable id (the bucketing entity, sent in events).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Stable campaign id (`layerId`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub layer_id: String,
    /// Key, unique among the project's experiments and rules.
    pub key: String,
    /// What it tests.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Who may enter: an audience key, or `["and"|"or"|"not", ...]` over audience keys;
    /// absent is everyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audiences: Option<Value>,
    /// Variations.
    pub variations: Vec<ExperimentVariation>,
    /// Bucket ranges of variation keys.
    #[serde(default)]
    pub traffic: Vec<Range>,
    /// User id → variation key, decided before bucketing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub whitelist: BTreeMap<String, String>,
    /// Keys of the events this experiment is measured by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<String>,
    /// Key of the exclusion group it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Status per environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub status: StatusMap,
    /// See [`Environment::archived`].
    #[serde(default, skip_serializing_if = "is_false")]
    pub archived: bool,
}

/// The type of a flag variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariableType {
    /// `"true"` or `"false"`.
    Boolean,
    /// A 64-bit integer.
    Integer,
    /// A floating-point number.
    Double,
    /// Any text.
    String,
    /// A JSON document.
    Json,
}

/// A flag variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// Stable id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Key used by the SDKs.
    pub key: String,
    /// Type of its values.
    #[serde(rename = "type")]
    pub kind: VariableType,
    /// Value when the flag is off or the variation sets none (written as text; numbers
    /// and booleans are accepted and kept as their text).
    #[serde(deserialize_with = "scalar::text")]
    pub default: String,
}

/// A variation of a flag, shared by its rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagVariation {
    /// Stable id (sent in events).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Key returned by `decide`.
    pub key: String,
    /// Whether the flag is on for users who get it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub enabled: bool,
    /// Variable key → value, overriding the defaults when enabled.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "scalar::text_map")]
    pub variables: BTreeMap<String, String>,
}

/// Which kind of rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A feature test: evaluated before every delivery, sticky, measured.
    AbTest,
    /// A targeted delivery (rollout rule).
    Delivery,
}

/// A rule of a flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Stable campaign id (`layerId`); deliveries use the flag's rollout id when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub layer_id: String,
    /// Key, unique among the project's experiments and rules.
    pub key: String,
    /// `ab_test` or `delivery`. Every SDK evaluates A/B tests before deliveries, so
    /// A/B tests come first in the list.
    #[serde(rename = "type")]
    pub kind: RuleKind,
    /// Who may enter (see [`Experiment::audiences`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audiences: Option<Value>,
    /// Bucket ranges of the flag's variation keys.
    #[serde(default)]
    pub traffic: Vec<Range>,
    /// User id → variation key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub whitelist: BTreeMap<String, String>,
    /// Keys of the events an A/B test is measured by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<String>,
    /// Exclusion group of an A/B test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Status per environment. A delivery is in an environment's datafile only while
    /// `running` there (SDKs evaluate rollout rules whatever their status).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub status: StatusMap,
}

/// The last rule of every flag: who is not caught by another rule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EveryoneElse {
    /// Stable id of the rule.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Rule key; `default-rollout-<flag id>` when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// Stable campaign id; the flag's rollout id when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub layer_id: String,
    /// The variation everyone else gets; none gives them no decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variation: Option<String>,
    /// Share of everyone else that gets it: buckets below `end` (default 10000, all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<i64>,
    /// Several variations instead: bucket ranges of variation keys (replaces
    /// `variation` and `end`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<Range>,
}

impl EveryoneElse {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// A feature flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flag {
    /// Stable id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Stable id of the flag's rollout.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rollout_id: String,
    /// Key passed to `decide`.
    pub key: String,
    /// What it controls.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Variable definitions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<Variable>,
    /// Variations the rules hand out.
    #[serde(default)]
    pub variations: Vec<FlagVariation>,
    /// Rules in evaluation order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// The last rule.
    #[serde(default, skip_serializing_if = "EveryoneElse::is_default")]
    pub everyone_else: EveryoneElse,
    /// See [`Environment::archived`].
    #[serde(default, skip_serializing_if = "is_false")]
    pub archived: bool,
}

impl Project {
    /// An empty project with this key.
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            name: String::new(),
            id: String::new(),
            account_id: String::new(),
            settings: Settings::default(),
            environments: Vec::new(),
            attributes: Vec::new(),
            audiences: Vec::new(),
            events: Vec::new(),
            groups: Vec::new(),
            experiments: Vec::new(),
            flags: Vec::new(),
        }
    }

    /// The environments that get a datafile.
    pub fn live_environments(&self) -> impl Iterator<Item = &Environment> {
        self.environments.iter().filter(|e| !e.archived)
    }
}

/// The status of `status` in `environment` ([`Status::Paused`] when not listed).
pub fn status_in(status: &StatusMap, environment: &str) -> Status {
    status.get(environment).copied().unwrap_or(Status::Paused)
}
