//! The compiled project config: every entity of the datafile, ids and keys resolved to
//! indices once, conditions compiled, variable values cast. Read-only after loading.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::condition::ConditionTree;
use crate::error::Warning;
use crate::tree::Tree;
use crate::variable::VariableType;

/// Index of an experiment in [`ProjectConfig::experiments`] (top-level experiments,
/// rollout rules, grouped experiments and nothing else).
pub type ExperimentIndex = usize;
/// Index of a flag in [`ProjectConfig::flags`] (datafile order).
pub type FlagIndex = usize;
/// Index of an audience in [`ProjectConfig::audiences`].
pub type AudienceIndex = usize;
/// Index of an event in [`ProjectConfig::events`].
pub type EventIndex = usize;

/// A rule's audience combination: leaves are audiences. `None` on the rule means everyone.
pub type AudienceTree = Tree<AudienceIndex>;

/// A variation, named by its experiment and its position in that experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VariationRef {
    /// The experiment (or rollout rule) the variation belongs to.
    pub experiment: ExperimentIndex,
    /// Position in [`Experiment::variations`].
    pub variation: usize,
}

/// Where an experiment was declared; decides which decision steps apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `experiments[]`.
    TopLevel,
    /// `groups[g].experiments[]`.
    Group(usize),
    /// `rollouts[r].experiments[]`: a delivery rule.
    Rollout(usize),
}

/// Region of the event endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// The default endpoint.
    Us,
    /// The EU endpoint (`region` is `"EU"`, any case).
    Eu,
}

/// A declared attribute: its key maps to the id sent in events.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// Entity id, sent as `entity_id` of visitor attributes.
    pub id: String,
    /// The key callers use.
    pub key: String,
}

/// A conversion event that `track` may send.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Entity id, sent as the conversion's `entity_id`.
    pub id: String,
    /// The key passed to `track`.
    pub key: String,
    /// Experiments this event is a metric of (informational for the SDK).
    pub experiment_ids: Vec<String>,
}

/// An audience (typed audiences replace legacy ones with the same id).
#[derive(Debug, Clone, PartialEq)]
pub struct Audience {
    /// Audience id, referenced by rules.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Compiled conditions.
    pub conditions: ConditionTree,
}

/// One traffic range: buckets below `end_of_range` (and above the previous range) go to
/// `entity_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficRange {
    /// Variation id (experiments) or experiment id (groups); `""` is a hole.
    pub entity_id: String,
    /// Exclusive upper bound in bucket units (0..=10000).
    pub end_of_range: i64,
    /// For experiments: the variation the range resolves to, if `entity_id` names one.
    pub variation: Option<usize>,
}

/// A variation of an experiment or rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Variation {
    /// Variation id (bucketing result, profile value, event field).
    pub id: String,
    /// Variation key returned to callers.
    pub key: String,
    /// Whether the flag is on for users in this variation.
    pub feature_enabled: bool,
    /// Whether `featureEnabled` is true to Python (`bool(value)`): the reference SDK's
    /// `decide` reads it so, `is_feature_enabled` only takes `true`. They differ only when
    /// a hand-written datafile writes something else than a boolean (`"true"`, `1`).
    pub feature_enabled_truthy: bool,
    /// Whether `id` is all ASCII digits (non-numeric ids are sent as `null` in events).
    pub id_is_numeric: bool,
}

/// Contextual-bandit settings of an experiment (decided by a remote service).
#[derive(Debug, Clone, PartialEq)]
pub struct Cmab {
    /// Attributes the service uses.
    pub attribute_ids: Vec<String>,
    /// Share of traffic (0..=10000) that enters the experiment.
    pub traffic_allocation: i64,
}

/// An experiment, a grouped experiment or a rollout rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    /// Entity id used for bucketing and in events.
    pub id: String,
    /// Experiment or rule key.
    pub key: String,
    /// Campaign (layer) id for events; may be empty.
    pub layer_id: String,
    /// Status string as written; only `"Running"` runs.
    pub status: String,
    /// `status == "Running"`.
    pub is_running: bool,
    /// Variations in datafile order (plus the injected variation of a feature rollout).
    pub variations: Vec<Variation>,
    /// Traffic ranges in datafile order.
    pub traffic_allocation: Vec<TrafficRange>,
    /// Who may enter; `None` means everyone.
    pub audience: Option<AudienceTree>,
    /// Whitelist: user id → variation; `None` when the key names no variation. The
    /// variation is found through the experiment's key, as the reference SDKs do: it may
    /// belong to another experiment with the same key (see `key_owner`).
    pub forced_variations: FxHashMap<String, Option<VariationRef>>,
    /// Where it was declared.
    pub origin: Origin,
    /// Newer datafiles' `type` (`"ab"`, `"fr"`, `"td"`, ...).
    pub rule_type: Option<String>,
    /// Contextual-bandit settings.
    pub cmab: Option<Box<Cmab>>,
    /// Whether some flag lists this experiment in `experimentIds`.
    pub is_feature_test: bool,
    /// Whether the key is empty or only whitespace: the reference bucketer refuses such
    /// experiments.
    pub key_is_blank: bool,
    /// The group whose step bucketing takes first: the group it sits in, or for a rollout
    /// rule whose id a grouped experiment repeats, that experiment's group (the reference
    /// SDK buckets the rule as the experiment its id names).
    pub bucket_group: Option<usize>,
    /// The experiment [`ProjectConfig::experiment_by_key`] gives for this experiment's key
    /// (itself unless keys repeat; `None` when no experiment with the key is reachable):
    /// runtime forced variations are kept and read through it, as the reference SDKs key
    /// them by experiment key.
    pub key_owner: Option<ExperimentIndex>,
    /// Whether two variations share an id or a key (hand-written datafiles).
    pub repeats_variations: bool,
}

impl Experiment {
    /// The variation with this key; the last one when keys repeat, as the reference SDKs'
    /// key → variation maps keep the later entry.
    pub fn variation_by_key(&self, key: &str) -> Option<usize> {
        if self.repeats_variations {
            return self.variations.iter().rposition(|v| v.key == key);
        }
        self.variations.iter().position(|v| v.key == key)
    }

    /// The variation with this id, as the reference SDKs' id → variation map answers it.
    pub fn variation_by_id(&self, id: &str) -> Option<usize> {
        if self.repeats_variations {
            return variation_by_id_among_repeats(&self.variations, id);
        }
        self.variations.iter().position(|v| v.id == id)
    }
}

/// The reference SDK builds an experiment's id → variation map from its key → variation
/// map (a later variation with a key replaces the earlier one, keeping its place), then
/// keys that by id the same way. These are the map's variations, in its order.
pub(crate) fn variations_by_id_map(variations: &[Variation]) -> Vec<usize> {
    let mut by_key: Vec<usize> = Vec::with_capacity(variations.len());
    for (i, v) in variations.iter().enumerate() {
        match by_key.iter_mut().find(|w| variations[**w].key == v.key) {
            Some(slot) => *slot = i,
            None => by_key.push(i),
        }
    }
    let mut by_id: Vec<usize> = Vec::with_capacity(by_key.len());
    for i in by_key {
        match by_id.iter_mut().find(|w| variations[**w].id == variations[i].id) {
            Some(slot) => *slot = i,
            None => by_id.push(i),
        }
    }
    by_id
}

/// The variation the reference SDK's id → variation map holds for `id`.
pub(crate) fn variation_by_id_among_repeats(variations: &[Variation], id: &str) -> Option<usize> {
    variations_by_id_map(variations).into_iter().find(|&i| variations[i].id == id)
}

/// Whether two variations share an id or a key.
pub(crate) fn variations_repeat(variations: &[Variation]) -> bool {
    variations.iter().enumerate().any(|(i, v)| variations[..i].iter().any(|w| w.id == v.id || w.key == v.key))
}

/// A mutually exclusive (policy `random`) or overlapping group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Group id: the bucketing entity of the group step.
    pub id: String,
    /// `"random"` or `"overlapping"`.
    pub policy: String,
    /// Ranges whose entity ids are experiment ids.
    pub traffic_allocation: Vec<TrafficRange>,
    /// The group's experiments.
    pub experiments: Vec<ExperimentIndex>,
}

impl Group {
    /// Whether the group step applies (policy `random`).
    pub fn is_exclusive(&self) -> bool {
        self.policy == "random"
    }
}

/// The delivery rules of one or more flags.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Rollout id.
    pub id: String,
    /// Rules in evaluation order; the last is "Everyone Else".
    pub rules: Vec<ExperimentIndex>,
}

/// A flag variable definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    /// Variable id, matched by variation usages.
    pub id: String,
    /// Variable key callers use.
    pub key: String,
    /// Declared type.
    pub kind: VariableType,
    /// The default value as the datafile writes it (a string, unless the datafile is odd).
    pub default_value: Value,
}

/// A feature flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    /// Flag id.
    pub id: String,
    /// Flag key.
    pub key: String,
    /// Feature tests, in evaluation order.
    pub experiments: Vec<ExperimentIndex>,
    /// The flag's rollout.
    pub rollout: Option<usize>,
    /// Variable definitions.
    pub variables: Vec<Variable>,
    /// Every variation reachable through the flag's rules, deduplicated by id (first wins);
    /// forced decisions resolve variation keys here.
    pub variations: Vec<VariationRef>,
    /// Whether a rule's variation shares its id with an earlier one in `variations`, or a
    /// rule repeats variation ids or keys (hand-written datafiles). The reference SDKs name
    /// a flag decision's variation in events by looking its id up in `variations`, which
    /// then may find another variation than the one decided.
    pub variation_ids_repeat: bool,
    /// Typed values: `values[i]` for `i < variables.len()` are the defaults; `value_table`
    /// gives, per entry of `variations`, the index into `values` of each variable.
    pub values: Vec<Value>,
    /// Per flag variation, per variable: index into `values` (used when the variation is enabled).
    pub value_table: Vec<Box<[u32]>>,
}

impl Flag {
    /// The variable with this key.
    pub fn variable_by_key(&self, key: &str) -> Option<usize> {
        // The later variable with a key wins, as in the reference SDK's key map.
        self.variables.iter().rposition(|v| v.key == key)
    }
}

/// A global or local holdout.
#[derive(Debug, Clone, PartialEq)]
pub struct Holdout {
    /// Holdout id (bucketing entity, event ids).
    pub id: String,
    /// Holdout key (rule key in decisions).
    pub key: String,
    /// `Running` holdouts apply.
    pub is_running: bool,
    /// Variations (normally one, disabled).
    pub variations: Vec<Variation>,
    /// Traffic ranges.
    pub traffic_allocation: Vec<TrafficRange>,
    /// Who may be held out; `None` means everyone.
    pub audience: Option<AudienceTree>,
    /// Local holdouts: the rule ids they apply to.
    pub included_rules: Vec<String>,
    /// Global holdouts: still evaluate targeted deliveries for held-out users.
    pub exclude_targeted_deliveries: bool,
}

/// The whole datafile, validated and indexed.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectConfig {
    /// `"2"`, `"3"` or `"4"`.
    pub version: String,
    /// Account id, sent in events.
    pub account_id: String,
    /// Project id, sent in events.
    pub project_id: String,
    /// Revision, sent in events.
    pub revision: String,
    /// SDK key, informational.
    pub sdk_key: Option<String>,
    /// Environment key, informational.
    pub environment_key: Option<String>,
    /// `anonymizeIP` as written (copied verbatim into events; `false` when absent).
    pub anonymize_ip: Value,
    /// `botFiltering` when it is a boolean.
    pub bot_filtering: Option<bool>,
    /// Whether rollout and no-decision flag decisions send impressions.
    pub send_flag_decisions: bool,
    /// Event endpoint region.
    pub region: Region,
    /// Declared attributes.
    pub attributes: Vec<Attribute>,
    /// Audiences (after the typed-audience override).
    pub audiences: Vec<Audience>,
    /// Every attribute name read by a condition, by [`crate::Condition::slot`].
    pub condition_attributes: Vec<Box<str>>,
    /// All experiments: top-level, rollout rules, grouped.
    pub experiments: Vec<Experiment>,
    /// Groups.
    pub groups: Vec<Group>,
    /// Flags in datafile order.
    pub flags: Vec<Flag>,
    /// Rollouts.
    pub rollouts: Vec<Rollout>,
    /// Conversion events.
    pub events: Vec<Event>,
    /// Running and non-running global holdouts, datafile order.
    pub holdouts: Vec<Holdout>,
    /// Local (rule-scoped) holdouts.
    pub local_holdouts: Vec<Holdout>,
    /// Fields loaded although they do not have the format's type, one entry per field, in
    /// datafile order; the answers for them are the reference SDKs' (see `Warning`).
    pub warnings: Vec<Warning>,
    /// Whether some variation's `featureEnabled` is true to Python but not `true` (see
    /// `Variation::feature_enabled_truthy`): only then does `decide` look at it.
    pub truthy_feature_enabled: bool,
    pub(crate) experiment_by_key: FxHashMap<String, ExperimentIndex>,
    pub(crate) experiment_by_id: FxHashMap<String, ExperimentIndex>,
    pub(crate) flag_by_key: FxHashMap<String, FlagIndex>,
    pub(crate) event_by_key: FxHashMap<String, EventIndex>,
    pub(crate) attribute_by_key: FxHashMap<String, usize>,
    /// The text loaded, kept for the OptimizelyConfig view and `datafile()`.
    pub(crate) datafile: Arc<str>,
}

impl ProjectConfig {
    /// The datafile text this config was loaded from (the SDKs' `get_datafile()`).
    pub fn datafile(&self) -> &str {
        &self.datafile
    }

    /// The experiment (top-level, grouped or rollout rule) with this key.
    pub fn experiment_by_key(&self, key: &str) -> Option<ExperimentIndex> {
        self.experiment_by_key.get(key).copied()
    }

    /// The experiment (top-level, grouped or rollout rule) with this id.
    pub fn experiment_by_id(&self, id: &str) -> Option<ExperimentIndex> {
        self.experiment_by_id.get(id).copied()
    }

    /// The flag with this key.
    pub fn flag_by_key(&self, key: &str) -> Option<FlagIndex> {
        self.flag_by_key.get(key).copied()
    }

    /// The conversion event with this key.
    pub fn event_by_key(&self, key: &str) -> Option<EventIndex> {
        self.event_by_key.get(key).copied()
    }

    /// The declared attribute with this key.
    pub fn attribute_by_key(&self, key: &str) -> Option<&Attribute> {
        self.attribute_by_key.get(key).map(|&i| &self.attributes[i])
    }

    /// The variation a [`VariationRef`] names.
    pub fn variation(&self, v: VariationRef) -> &Variation {
        &self.experiments[v.experiment].variations[v.variation]
    }

    /// The first variation with this id among a flag's rules (`Flag::variations`), as the
    /// reference SDKs find the variation an impression names.
    pub fn flag_variation_by_id(&self, flag: FlagIndex, id: &str) -> Option<&Variation> {
        self.flags[flag].variations.iter().map(|&v| self.variation(v)).find(|v| v.id == id)
    }

    /// The group an experiment's group step uses, if it is bucketed in a `random` group.
    #[inline]
    pub fn exclusive_group(&self, experiment: ExperimentIndex) -> Option<&Group> {
        let g = self.experiments[experiment].bucket_group?;
        Some(&self.groups[g]).filter(|g| g.is_exclusive())
    }

    /// The typed value of a flag's variable `variable` for a decision that chose
    /// `variation` (`None`: no variation) with the given `enabled` (decisions.md §5):
    /// the variation's usage when enabled, else the default. Usages are matched by
    /// variation id, as the reference SDK keys them.
    pub fn variable_value(
        &self,
        flag: FlagIndex,
        variation: Option<VariationRef>,
        enabled: bool,
        variable: usize,
    ) -> &Value {
        let flag = &self.flags[flag];
        let slot = variation
            .filter(|_| enabled)
            .and_then(|v| {
                let id = &self.variation(v).id;
                flag.variations.iter().position(|&fv| fv == v || self.variation(fv).id == *id)
            })
            .and_then(|i| flag.value_table.get(i))
            .and_then(|row| row.get(variable))
            .map_or(variable, |&i| i as usize);
        flag.values.get(slot).unwrap_or(&Value::Null)
    }

    /// The event endpoint for this config's region.
    pub fn event_endpoint(&self) -> &'static str {
        match self.region {
            Region::Us => "https://logx.optimizely.com/v1/events",
            Region::Eu => "https://eu.logx.optimizely.com/v1/events",
        }
    }
}
