//! One experiment's decision, in the reference SDK's order of checks (bucketing.md §10):
//! status, forced variation, whitelist, user profile, audiences, group, bucketing.

use vario_datafile::{ExperimentIndex, ProjectConfig, VariationRef};

use crate::audience::{AttributeCache, rule_audience_result};
use crate::bucket::{bucket_value, find_range};
use crate::reason::{Reason, Trace};
use crate::user::{ProfileState, User};

/// The variation of `experiment` for `user`, or `None`; with the deciding reason.
/// `profile` is the user's sticky-bucketing state (`None` when there is no profile
/// service or it is ignored for this call).
pub fn experiment_variation(
    config: &ProjectConfig,
    experiment: ExperimentIndex,
    user: &User<'_>,
    profile: Option<&mut ProfileState>,
    trace: &mut impl Trace,
) -> (Option<VariationRef>, Reason) {
    let mut attributes = AttributeCache::new(user.attributes);
    checks(config, experiment, user, &mut attributes, profile, trace)
}

/// [`experiment_variation`] with the decision's attribute cache; records the reason.
// Inlined into the decision: a result this size returned through memory from a call is
// read back before its stores retire (store-forwarding stalls, measured in `decide`).
#[inline(always)]
pub(crate) fn checks(
    config: &ProjectConfig,
    experiment: ExperimentIndex,
    user: &User<'_>,
    attributes: &mut AttributeCache<'_>,
    profile: Option<&mut ProfileState>,
    trace: &mut impl Trace,
) -> (Option<VariationRef>, Reason) {
    let (variation, reason) = steps(config, experiment, user, attributes, profile, trace);
    trace.push(reason);
    (variation, reason)
}

#[inline(always)]
fn steps(
    config: &ProjectConfig,
    experiment: ExperimentIndex,
    user: &User<'_>,
    attributes: &mut AttributeCache<'_>,
    profile: Option<&mut ProfileState>,
    trace: &mut impl Trace,
) -> (Option<VariationRef>, Reason) {
    let exp = &config.experiments[experiment];
    if !exp.is_running {
        return (None, Reason::ExperimentNotRunning { experiment });
    }
    if let Some(variation) = user.forced_variations.and_then(|m| forced_variation(config, experiment, m)) {
        return (Some(variation), Reason::ForcedVariation { experiment, variation });
    }
    if !exp.forced_variations.is_empty() {
        match exp.forced_variations.get(user.id) {
            Some(Some(v)) => return (Some(*v), Reason::Whitelisted { experiment, variation: *v }),
            Some(None) => trace.push(Reason::InvalidWhitelistEntry { experiment }),
            None => {}
        }
    }
    if let Some(stored) = profile.as_ref().and_then(|p| p.bucket_map.get(&exp.id)) {
        match stored_variation(config, experiment, stored) {
            Some(v) => return (Some(v), Reason::StoredVariation { experiment, variation: v }),
            None => trace.push(Reason::InvalidStoredVariation { experiment }),
        }
    }
    let audience = rule_audience_result(config, exp.audience.as_ref(), attributes, user.segments);
    if audience != Some(true) {
        return (None, Reason::AudienceMismatch { experiment, result: audience });
    }
    let (variation, reason) = bucket_experiment(config, experiment, user, trace);
    if let (Some(v), Some(profile)) = (variation, profile) {
        profile.bucket_map.insert(exp.id.clone(), config.variation(v).id.clone());
        profile.changed = true;
    }
    (variation, reason)
}

/// A user profile's stored variation id for an experiment, read back as the reference
/// SDKs do: through the experiment's key (its owner is itself unless keys or ids repeat).
fn stored_variation(config: &ProjectConfig, experiment: ExperimentIndex, id: &str) -> Option<VariationRef> {
    let owner = config.experiments[experiment].key_owner?;
    let variation = config.experiments[owner].variation_by_id(id)?;
    Some(VariationRef { experiment: owner, variation })
}

/// The runtime forced variation for an experiment. As in the reference SDKs it is found
/// through the experiment's key: the experiment that key names (the last one with it)
/// holds the forced variation id, read back through that experiment's id → variation map.
#[cold]
fn forced_variation(
    config: &ProjectConfig,
    experiment: ExperimentIndex,
    forced: &crate::user::ForcedVariations,
) -> Option<VariationRef> {
    let owner = config.experiments[experiment].key_owner?;
    let exp = &config.experiments[owner];
    let variation = exp.variation_by_id(forced.get(&exp.id)?)?;
    Some(VariationRef { experiment: owner, variation })
}

/// Bucketing proper: the group step for experiments in an exclusive group, then the
/// experiment's own ranges. Shared with delivery rules, which skip every other check.
// Inlined for the reason given at `checks`.
#[inline(always)]
pub fn bucket_experiment(
    config: &ProjectConfig,
    experiment: ExperimentIndex,
    user: &User<'_>,
    trace: &mut impl Trace,
) -> (Option<VariationRef>, Reason) {
    let exp = &config.experiments[experiment];
    let bucketing_id = user.bucketing_id;
    if user.bucketing_id_ignored {
        trace.push(Reason::BucketingIdNotString);
    }
    if exp.cmab.is_some() {
        return (None, Reason::CmabUnsupported { experiment });
    }
    if let Some(group) = config.exclusive_group(experiment) {
        let bucket = bucket_value(bucketing_id, &group.id);
        let chosen = find_range(&group.traffic_allocation, bucket).map(|r| r.entity_id.as_str());
        if chosen != Some(exp.id.as_str()) {
            return (None, Reason::NotInGroupExperiment { experiment, bucket });
        }
    }
    let bucket = bucket_value(bucketing_id, &exp.id);
    // The reference bucketer refuses experiments without a usable key.
    let range = find_range(&exp.traffic_allocation, bucket).filter(|_| !exp.key_is_blank);
    match range.and_then(|r| r.variation) {
        Some(v) => {
            let variation = VariationRef { experiment, variation: v };
            (Some(variation), Reason::Bucketed { variation, bucket })
        }
        None => (None, Reason::NotBucketed { experiment, bucket }),
    }
}
