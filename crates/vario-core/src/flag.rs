//! A flag's decision (decisions.md §2–§4): forced decisions, holdouts, feature tests in
//! order, then the rollout's delivery rules.

use vario_datafile::{ExperimentIndex, FlagIndex, Holdout, ProjectConfig, Variation, VariationRef};

use crate::audience::{AttributeCache, rule_audience_result};
use crate::bucket::{bucket_value, find_range};
use crate::experiment::{bucket_experiment, checks};
use crate::reason::{Reason, Trace};
use crate::user::{ProfileState, User};

/// What kind of rule decided a flag; the `rule_type` of impression events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionSource {
    /// A feature test (an experiment listed in the flag's `experimentIds`), or a
    /// flag-level forced decision.
    FeatureTest,
    /// A delivery rule, or no decision at all.
    Rollout,
    /// A holdout.
    Holdout,
}

impl DecisionSource {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FeatureTest => "feature-test",
            Self::Rollout => "rollout",
            Self::Holdout => "holdout",
        }
    }
}

/// The rule that produced a flag decision.
// `repr(C, u8)`, as for `Reason`: aligned fields copy without store-forwarding stalls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, u8)]
pub enum DecidedBy {
    /// Nothing matched: variables take their defaults.
    Nothing,
    /// A flag-level forced decision (no rule).
    FlagForced(VariationRef),
    /// A feature test.
    FeatureTest(VariationRef),
    /// A delivery rule.
    Rollout(VariationRef),
    /// A holdout: index into `holdouts` or `local_holdouts`, and the variation's position.
    Holdout {
        /// Index of the holdout.
        holdout: usize,
        /// Whether it is a local holdout.
        local: bool,
        /// Position in the holdout's variations.
        variation: usize,
    },
}

/// A flag decision: which rule and variation, whether the flag is on, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagDecision {
    /// The flag.
    pub flag: FlagIndex,
    /// The rule and variation.
    pub by: DecidedBy,
    /// Whether a variation was chosen and it has `featureEnabled: true`.
    pub enabled: bool,
    /// The deciding step.
    pub reason: Reason,
}

impl FlagDecision {
    /// The decision as the reference SDK's `decide` and `get_feature_variable` read it:
    /// they take a non-boolean `featureEnabled` by Python truthiness, `is_feature_enabled`
    /// only the literal `true` (as decided). Only hand-written datafiles tell them apart.
    #[inline]
    #[must_use]
    pub fn with_truthy_enabled(mut self, config: &ProjectConfig) -> Self {
        if config.truthy_feature_enabled && !self.enabled {
            self.enabled = self.variation(config).is_some_and(|v| v.feature_enabled_truthy);
        }
        self
    }

    /// The decision source (`rule_type`).
    pub fn source(&self) -> DecisionSource {
        match self.by {
            DecidedBy::FlagForced(_) | DecidedBy::FeatureTest(_) => DecisionSource::FeatureTest,
            DecidedBy::Nothing | DecidedBy::Rollout(_) => DecisionSource::Rollout,
            DecidedBy::Holdout { .. } => DecisionSource::Holdout,
        }
    }

    /// The chosen variation, when it belongs to an experiment or rule.
    pub fn variation_ref(&self) -> Option<VariationRef> {
        match self.by {
            DecidedBy::FlagForced(v) | DecidedBy::FeatureTest(v) | DecidedBy::Rollout(v) => Some(v),
            DecidedBy::Nothing | DecidedBy::Holdout { .. } => None,
        }
    }

    /// The experiment or rule that decided (not for flag-level forced decisions). For a
    /// rule-level forced decision it is the rule visited, even when the forced variation
    /// belongs to another rule of the flag (the reference SDK reports the visited rule).
    pub fn rule(&self) -> Option<ExperimentIndex> {
        match (self.by, self.reason) {
            (DecidedBy::FeatureTest(_) | DecidedBy::Rollout(_), Reason::RuleForcedDecision { rule, .. }) => Some(rule),
            (
                DecidedBy::FeatureTest(_) | DecidedBy::Rollout(_),
                Reason::ForcedVariation { experiment, .. }
                | Reason::Whitelisted { experiment, .. }
                | Reason::StoredVariation { experiment, .. },
            ) => Some(experiment),
            (DecidedBy::FeatureTest(v) | DecidedBy::Rollout(v), _) => Some(v.experiment),
            _ => None,
        }
    }

    /// The holdout that decided.
    pub fn holdout<'c>(&self, config: &'c ProjectConfig) -> Option<&'c Holdout> {
        match self.by {
            DecidedBy::Holdout { holdout, local: false, .. } => config.holdouts.get(holdout),
            DecidedBy::Holdout { holdout, local: true, .. } => config.local_holdouts.get(holdout),
            _ => None,
        }
    }

    /// The chosen variation.
    #[inline]
    pub fn variation<'c>(&self, config: &'c ProjectConfig) -> Option<&'c Variation> {
        match self.by {
            DecidedBy::Holdout { variation, .. } => self.holdout(config)?.variations.get(variation),
            _ => self.variation_ref().map(|v| config.variation(v)),
        }
    }

    /// The rule key reported to callers: the experiment, rule or holdout key; `None` for
    /// flag-level forced decisions and no decision.
    pub fn rule_key<'c>(&self, config: &'c ProjectConfig) -> Option<&'c str> {
        match self.by {
            DecidedBy::Holdout { .. } => self.holdout(config).map(|h| h.key.as_str()),
            _ => self.rule().map(|e| config.experiments[e].key.as_str()),
        }
    }

    /// The typed value of the flag's variable at `variable` for this decision.
    pub fn variable_value<'c>(&self, config: &'c ProjectConfig, variable: usize) -> &'c serde_json::Value {
        config.variable_value(self.flag, self.variation_ref(), self.enabled, variable)
    }
}

/// Decides `flag` for `user`. `profile` is the sticky-bucketing state (None: no service
/// or ignored); feature tests read and record it, delivery rules never do.
pub fn decide_flag(
    config: &ProjectConfig,
    flag: FlagIndex,
    user: &User<'_>,
    mut profile: Option<&mut ProfileState>,
    trace: &mut impl Trace,
) -> FlagDecision {
    let f = &config.flags[flag];
    let decision = |by: DecidedBy, reason: Reason| {
        let enabled = match by {
            DecidedBy::Nothing => false,
            _ => FlagDecision { flag, by, enabled: false, reason }.variation(config).is_some_and(|v| v.feature_enabled),
        };
        FlagDecision { flag, by, enabled, reason }
    };
    let forced = !user.forced_decisions.is_empty();
    let mut attributes = AttributeCache::new(user.attributes);
    if forced && let Some(v) = forced_variation(config, flag, None, user, trace) {
        return decision(DecidedBy::FlagForced(v), Reason::FlagForcedDecision { flag, variation: v });
    }
    if let Some((by, reason)) = global_holdout(config, user, &mut attributes, trace) {
        return decision(by, reason);
    }
    for &experiment in &f.experiments {
        if forced && let Some(v) = forced_variation(config, flag, Some(experiment), user, trace) {
            let reason = Reason::RuleForcedDecision { flag, rule: experiment, variation: v };
            return decision(DecidedBy::FeatureTest(v), reason);
        }
        if let Some((by, reason)) = local_holdout(config, experiment, user, &mut attributes, trace) {
            return decision(by, reason);
        }
        if let (Some(v), reason) = checks(config, experiment, user, &mut attributes, profile.as_deref_mut(), trace) {
            return decision(DecidedBy::FeatureTest(v), reason);
        }
    }
    let (by, reason) = rollout(config, flag, user, &mut attributes, forced, trace);
    decision(by, reason)
}

/// Delivery rules in order; a rule whose audience matches but whose traffic misses jumps
/// straight to the last rule ("Everyone Else").
#[inline]
fn rollout(
    config: &ProjectConfig,
    flag: FlagIndex,
    user: &User<'_>,
    attributes: &mut AttributeCache<'_>,
    forced: bool,
    trace: &mut impl Trace,
) -> (DecidedBy, Reason) {
    let rules = config.flags[flag].rollout.map_or(&[][..], |r| &config.rollouts[r].rules[..]);
    if rules.is_empty() {
        let reason = Reason::NoRollout { flag };
        trace.push(reason);
        return (DecidedBy::Nothing, reason);
    }
    let last = rules.len() - 1;
    let mut i = 0;
    while i < rules.len() {
        let rule = rules[i];
        if forced && let Some(v) = forced_variation(config, flag, Some(rule), user, trace) {
            return (DecidedBy::Rollout(v), Reason::RuleForcedDecision { flag, rule, variation: v });
        }
        if let Some(hit) = local_holdout(config, rule, user, attributes, trace) {
            return hit;
        }
        let exp = &config.experiments[rule];
        let audience = rule_audience_result(config, exp.audience.as_ref(), attributes, user.segments);
        if audience != Some(true) {
            trace.push(Reason::AudienceMismatch { experiment: rule, result: audience });
            i += 1;
            continue;
        }
        let (variation, reason) = bucket_experiment(config, rule, user, trace);
        trace.push(reason);
        if let Some(v) = variation {
            return (DecidedBy::Rollout(v), reason);
        }
        if i == last {
            break;
        }
        trace.push(Reason::SkipToEveryoneElse { rule });
        i = last;
    }
    let reason = Reason::NoDecision { flag };
    trace.push(reason);
    (DecidedBy::Nothing, reason)
}

/// A forced decision for `(flag, rule)`, resolved among all the flag's variations.
fn forced_variation(
    config: &ProjectConfig,
    flag: FlagIndex,
    rule: Option<ExperimentIndex>,
    user: &User<'_>,
    trace: &mut impl Trace,
) -> Option<VariationRef> {
    let f = &config.flags[flag];
    let rule_key = rule.map(|e| config.experiments[e].key.as_str());
    let key = user.forced_decisions.get(&f.key, rule_key)?;
    let found = f.variations.iter().copied().find(|&v| config.variation(v).key == key);
    if found.is_none() {
        trace.push(Reason::InvalidForcedDecision { flag, rule });
    }
    found
}

fn global_holdout(
    config: &ProjectConfig,
    user: &User<'_>,
    attributes: &mut AttributeCache<'_>,
    trace: &mut impl Trace,
) -> Option<(DecidedBy, Reason)> {
    config
        .holdouts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.is_running)
        .find_map(|(i, h)| holdout_hit(config, h, i, false, user, attributes, trace))
}

#[inline]
fn local_holdout(
    config: &ProjectConfig,
    rule: ExperimentIndex,
    user: &User<'_>,
    attributes: &mut AttributeCache<'_>,
    trace: &mut impl Trace,
) -> Option<(DecidedBy, Reason)> {
    // Inlined down to this test: most datafiles have no local holdouts.
    if config.local_holdouts.is_empty() {
        return None;
    }
    local_holdout_hit(config, rule, user, attributes, trace)
}

fn local_holdout_hit(
    config: &ProjectConfig,
    rule: ExperimentIndex,
    user: &User<'_>,
    attributes: &mut AttributeCache<'_>,
    trace: &mut impl Trace,
) -> Option<(DecidedBy, Reason)> {
    let rule_id = &config.experiments[rule].id;
    config
        .local_holdouts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.is_running && h.included_rules.contains(rule_id))
        .find_map(|(i, h)| holdout_hit(config, h, i, true, user, attributes, trace))
}

fn holdout_hit(
    config: &ProjectConfig,
    h: &Holdout,
    index: usize,
    local: bool,
    user: &User<'_>,
    attributes: &mut AttributeCache<'_>,
    trace: &mut impl Trace,
) -> Option<(DecidedBy, Reason)> {
    if rule_audience_result(config, h.audience.as_ref(), attributes, user.segments) != Some(true) {
        return None;
    }
    let bucket = bucket_value(user.bucketing_id, &h.id);
    let variation = find_range(&h.traffic_allocation, bucket)?.variation?;
    let reason = Reason::InHoldout { holdout: index, local, bucket };
    trace.push(reason);
    Some((DecidedBy::Holdout { holdout: index, local, variation }, reason))
}
