//! Why a decision came out as it did: a closed set of machine-readable steps, rendered
//! into text only when someone asks (decide's `INCLUDE_REASONS`, `vario explain`).

use std::fmt::Write as _;

use vario_datafile::{ExperimentIndex, FlagIndex, ProjectConfig, VariationRef};

/// One step of a decision. Indices point into the [`ProjectConfig`] the decision was
/// made with; [`Reason::describe`] renders it.
// `repr(C, u8)`: fields at aligned offsets. With the default layout the small fields
// share the tag's word, and copies of a returned reason became overlapping unaligned
// loads that stall on store forwarding (measured: about a tenth of `decide`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[repr(C, u8)]
pub enum Reason {
    /// A flag-level forced decision on the user context chose the variation.
    FlagForcedDecision {
        /// The flag.
        flag: FlagIndex,
        /// The forced variation.
        variation: VariationRef,
    },
    /// A rule-level forced decision chose the variation.
    RuleForcedDecision {
        /// The flag.
        flag: FlagIndex,
        /// The rule named by the forced decision.
        rule: ExperimentIndex,
        /// The forced variation.
        variation: VariationRef,
    },
    /// A forced decision names a variation key that the flag does not have; ignored.
    InvalidForcedDecision {
        /// The flag.
        flag: FlagIndex,
        /// The rule, or `None` for a flag-level forced decision.
        rule: Option<ExperimentIndex>,
    },
    /// The user landed in a holdout.
    InHoldout {
        /// Index in `holdouts` (global) or `local_holdouts` (local).
        holdout: usize,
        /// Whether it is a local holdout.
        local: bool,
        /// The bucket value.
        bucket: u32,
    },
    /// The experiment's status is not `Running`.
    ExperimentNotRunning {
        /// The experiment.
        experiment: ExperimentIndex,
    },
    /// `set_forced_variation` chose the variation.
    ForcedVariation {
        /// The experiment or rule decided. The variation may belong to another experiment
        /// with the same key: forced variations are looked up by key, as the reference
        /// SDKs do.
        experiment: ExperimentIndex,
        /// The variation.
        variation: VariationRef,
    },
    /// The experiment's whitelist (`forcedVariations`) chose the variation.
    Whitelisted {
        /// The experiment or rule decided (the variation may belong to another experiment
        /// with the same key, as for `ForcedVariation`).
        experiment: ExperimentIndex,
        /// The variation.
        variation: VariationRef,
    },
    /// The whitelist names a variation key that the experiment does not have; ignored.
    InvalidWhitelistEntry {
        /// The experiment.
        experiment: ExperimentIndex,
    },
    /// The user profile's stored variation was returned.
    StoredVariation {
        /// The experiment or rule decided (see `Whitelisted`).
        experiment: ExperimentIndex,
        /// The variation.
        variation: VariationRef,
    },
    /// The user profile stores a variation id that the experiment does not have; ignored.
    InvalidStoredVariation {
        /// The experiment.
        experiment: ExperimentIndex,
    },
    /// `$opt_bucketing_id` is not a string; the user id was used.
    BucketingIdNotString,
    /// The user's attributes do not qualify for the rule's audiences.
    AudienceMismatch {
        /// The experiment or rule.
        experiment: ExperimentIndex,
        /// `false`, or `None` when the result was unknown (missing attributes, unknown
        /// audiences, mismatched types).
        result: Option<bool>,
    },
    /// The group step placed the user in another experiment of the group, or in none.
    NotInGroupExperiment {
        /// The experiment.
        experiment: ExperimentIndex,
        /// The group bucket value.
        bucket: u32,
    },
    /// Bucketing chose the variation.
    Bucketed {
        /// The variation.
        variation: VariationRef,
        /// The bucket value.
        bucket: u32,
    },
    /// The bucket fell outside every range of the experiment or rule (or into a hole).
    NotBucketed {
        /// The experiment or rule.
        experiment: ExperimentIndex,
        /// The bucket value.
        bucket: u32,
    },
    /// A contextual-bandit experiment needs the remote decision service, which Vario
    /// does not call; the experiment gives no decision.
    CmabUnsupported {
        /// The experiment.
        experiment: ExperimentIndex,
    },
    /// A targeted delivery rule's audience matched but its traffic did not: only
    /// "Everyone Else" is tried next.
    SkipToEveryoneElse {
        /// The rule that missed.
        rule: ExperimentIndex,
    },
    /// The flag has no rollout, or its rollout has no rules.
    NoRollout {
        /// The flag.
        flag: FlagIndex,
    },
    /// No feature test and no delivery rule gave a variation.
    NoDecision {
        /// The flag.
        flag: FlagIndex,
    },
}

impl Reason {
    /// A sentence for people, naming keys rather than indices.
    pub fn describe(&self, config: &ProjectConfig) -> String {
        let exp = |e: ExperimentIndex| config.experiments[e].key.as_str();
        let var = |v: VariationRef| config.variation(v).key.as_str();
        let flag = |f: FlagIndex| config.flags[f].key.as_str();
        let mut s = String::new();
        let _ = match *self {
            Self::FlagForcedDecision { flag: f, variation } => {
                write!(s, "Variation \"{}\" is forced for flag \"{}\".", var(variation), flag(f))
            }
            Self::RuleForcedDecision { flag: f, rule, variation } => write!(
                s,
                "Variation \"{}\" is forced for flag \"{}\", rule \"{}\".",
                var(variation),
                flag(f),
                exp(rule)
            ),
            Self::InvalidForcedDecision { flag: f, rule } => match rule {
                Some(r) => {
                    write!(s, "Invalid variation is forced for flag \"{}\", rule \"{}\"; ignored.", flag(f), exp(r))
                }
                None => write!(s, "Invalid variation is forced for flag \"{}\"; ignored.", flag(f)),
            },
            Self::InHoldout { holdout, local, bucket } => {
                let list = if local { &config.local_holdouts } else { &config.holdouts };
                write!(s, "User is in holdout \"{}\" (bucket {bucket}).", list[holdout].key)
            }
            Self::ExperimentNotRunning { experiment } => {
                write!(s, "Experiment \"{}\" is not running.", exp(experiment))
            }
            Self::ForcedVariation { experiment, variation } => write!(
                s,
                "Variation \"{}\" is forced by set_forced_variation in experiment \"{}\".",
                var(variation),
                exp(experiment)
            ),
            Self::Whitelisted { experiment, variation } => write!(
                s,
                "User is whitelisted into variation \"{}\" of experiment \"{}\".",
                var(variation),
                exp(experiment)
            ),
            Self::InvalidWhitelistEntry { experiment } => {
                write!(s, "Whitelist of experiment \"{}\" names an unknown variation; ignored.", exp(experiment))
            }
            Self::StoredVariation { experiment, variation } => write!(
                s,
                "Returning stored variation \"{}\" of experiment \"{}\" from the user profile.",
                var(variation),
                exp(experiment)
            ),
            Self::InvalidStoredVariation { experiment } => {
                write!(s, "User profile stores an unknown variation for experiment \"{}\"; ignored.", exp(experiment))
            }
            Self::BucketingIdNotString => s.write_str("Bucketing ID attribute is not a string. Defaulted to user_id."),
            Self::AudienceMismatch { experiment, result } => write!(
                s,
                "User does not meet the audience conditions of \"{}\" (result: {}).",
                exp(experiment),
                match result {
                    Some(b) =>
                        if b {
                            "true"
                        } else {
                            "false"
                        },
                    None => "unknown",
                }
            ),
            Self::NotInGroupExperiment { experiment, bucket } => write!(
                s,
                "User is not in experiment \"{}\" of its exclusion group (group bucket {bucket}).",
                exp(experiment)
            ),
            Self::Bucketed { variation, bucket } => write!(
                s,
                "User is bucketed into variation \"{}\" of \"{}\" (bucket {bucket}).",
                var(variation),
                exp(variation.experiment)
            ),
            Self::NotBucketed { experiment, bucket } => {
                write!(s, "User is not in the traffic of \"{}\" (bucket {bucket}).", exp(experiment))
            }
            Self::CmabUnsupported { experiment } => write!(
                s,
                "Experiment \"{}\" is a contextual bandit, which needs a remote decision service; no decision.",
                exp(experiment)
            ),
            Self::SkipToEveryoneElse { rule } => write!(
                s,
                "User matched the audience of rule \"{}\" but not its traffic; evaluating \"Everyone Else\".",
                exp(rule)
            ),
            Self::NoRollout { flag: f } => write!(s, "Flag \"{}\" has no delivery rules.", flag(f)),
            Self::NoDecision { flag: f } => {
                write!(s, "User is in no feature test and no delivery rule of flag \"{}\".", flag(f))
            }
        };
        s
    }
}

/// Where decision steps go. `()` discards them (the fast path); `Vec<Reason>` keeps them.
pub trait Trace {
    /// Records one step.
    fn push(&mut self, reason: Reason);
}

impl Trace for () {
    #[inline(always)]
    fn push(&mut self, _: Reason) {}
}

impl Trace for Vec<Reason> {
    fn push(&mut self, reason: Reason) {
        Self::push(self, reason);
    }
}
