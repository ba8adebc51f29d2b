//! Which OpenFeature reason a decision has.

use vario_sdk::Decision;

/// OpenFeature resolution reasons (the specification's names on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Random assignment: a feature test or a holdout bucketed the user.
    Split,
    /// A delivery rule, a forced decision or a whitelist entry chose the variation.
    TargetingMatch,
    /// No rule applied: the flag is off and variables have their defaults.
    Default,
}

impl Reason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Split => "SPLIT",
            Self::TargetingMatch => "TARGETING_MATCH",
            Self::Default => "DEFAULT",
        }
    }
}

/// The reason of a decision that was made (`None` when it failed).
pub fn reason(decision: &Decision) -> Option<Reason> {
    use vario_sdk::Reason as Step;
    let made = decision.flag_decision()?;
    let chosen_by_targeting = matches!(
        made.reason,
        Step::FlagForcedDecision { .. }
            | Step::RuleForcedDecision { .. }
            | Step::ForcedVariation { .. }
            | Step::Whitelisted { .. }
    );
    Some(match made.variation_ref() {
        _ if chosen_by_targeting => Reason::TargetingMatch,
        None if decision.variation_key().is_some() => Reason::Split, // a holdout
        None => Reason::Default,
        Some(_) if made.source() == vario_sdk::DecisionSource::FeatureTest => Reason::Split,
        Some(_) => Reason::TargetingMatch,
    })
}
