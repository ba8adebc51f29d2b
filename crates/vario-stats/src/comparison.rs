//! One treatment against the baseline on both scales, with the §14 rules
//! for degenerate data applied in one place.

use serde::{Deserialize, Serialize};

use crate::{
    Alpha, Degenerate, Effect, FixedHorizon, MixingRule, Moments, Scale, SequentialLook, Status, SufficientStatistic,
    msprt, welch_test,
};

/// The per-project settings the tests need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalysisSettings {
    /// Significance level; intervals are at `1 − α`.
    pub alpha: Alpha,
    /// How the mSPRT chooses `τ²` (spec §6).
    pub mixing: MixingRule,
}

/// Everything computed on one scale. The options are `None` exactly when
/// `status` is not [`Status::Ok`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScaleReport {
    /// Why values are missing, if they are.
    pub status: Status,
    /// Point estimate, variance and df.
    pub effect: Option<Effect>,
    /// The Welch test (spec §5).
    pub fixed_horizon: Option<FixedHorizon>,
    /// The mSPRT at this look (spec §6); feed it to an
    /// [`AlwaysValid`](crate::AlwaysValid) state.
    pub sequential: Option<SequentialLook>,
}

impl ScaleReport {
    /// Runs both tests on an effect, or reports why there is none.
    pub fn new(effect: Result<Effect, Degenerate>, settings: &AnalysisSettings) -> Self {
        let tested =
            effect.and_then(|e| Ok((e, welch_test(&e, settings.alpha)?, msprt(&e, settings.alpha, settings.mixing)?)));
        match tested {
            Ok((e, fixed, seq)) => {
                Self { status: Status::Ok, effect: Some(e), fixed_horizon: Some(fixed), sequential: Some(seq) }
            }
            Err(d) => Self { status: d.into(), effect: None, fixed_horizon: None, sequential: None },
        }
    }
}

/// A treatment compared with the baseline on the absolute and the relative
/// scale (spec §4–§6, §14).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// `Δ = m_t − m_c`.
    pub absolute: ScaleReport,
    /// `L = Δ/|m_c|`.
    pub relative: ScaleReport,
}

impl Comparison {
    /// Compares two arms' moments.
    pub fn new(control: &Moments, treatment: &Moments, settings: &AnalysisSettings) -> Self {
        Self::from_effects(Effect::absolute(control, treatment), Effect::relative(control, treatment), settings)
    }

    /// Compares two sufficient statistics of the same kind.
    pub fn from_stats<S: SufficientStatistic>(control: &S, treatment: &S, settings: &AnalysisSettings) -> Self {
        match (control.moments(), treatment.moments()) {
            (Ok(c), Ok(t)) => Self::new(&c, &t, settings),
            (Err(d), _) | (_, Err(d)) => Self::from_effects(Err(d), Err(d), settings),
        }
    }

    /// Builds the report from effects computed elsewhere (e.g. CUPED).
    pub fn from_effects(
        absolute: Result<Effect, Degenerate>,
        relative: Result<Effect, Degenerate>,
        settings: &AnalysisSettings,
    ) -> Self {
        Self { absolute: ScaleReport::new(absolute, settings), relative: ScaleReport::new(relative, settings) }
    }

    /// The scale whose significance users see: the relative lift when it
    /// could be tested (spec §4), otherwise the absolute effect (spec §14:
    /// a zero baseline, B10, or a collapsed relative variance, B09).
    /// `None` when neither can be tested.
    pub fn significance_scale(&self) -> Option<Scale> {
        if self.relative.status == Status::Ok {
            Some(Scale::Relative)
        } else if self.absolute.status == Status::Ok {
            Some(Scale::Absolute)
        } else {
            None
        }
    }

    /// The report on [`Comparison::significance_scale`].
    pub fn headline(&self) -> Option<&ScaleReport> {
        self.significance_scale().map(|scale| match scale {
            Scale::Absolute => &self.absolute,
            Scale::Relative => &self.relative,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BinomialStats;

    fn cmp(c: (u64, u64), t: (u64, u64)) -> Comparison {
        Comparison::from_stats(
            &BinomialStats::new(c.0, c.1).unwrap(),
            &BinomialStats::new(t.0, t.1).unwrap(),
            &AnalysisSettings::default(),
        )
    }

    #[test]
    fn b10_zero_baseline_falls_back_to_absolute() {
        let r = cmp((500, 0), (500, 15));
        assert_eq!(r.relative.status, Status::BaselineZero);
        assert!(r.relative.effect.is_none());
        assert_eq!(r.significance_scale(), Some(Scale::Absolute));
        assert!(r.headline().unwrap().sequential.is_some());
    }

    #[test]
    fn b13_no_variance_has_no_test() {
        let r = cmp((500, 0), (500, 0));
        assert_eq!(r.absolute.status, Status::ZeroVariance);
        assert_eq!(r.relative.status, Status::ZeroVariance);
        assert_eq!(r.significance_scale(), None);
    }

    #[test]
    fn empty_arm_is_insufficient() {
        let r = cmp((0, 0), (500, 3));
        assert_eq!(r.absolute.status, Status::InsufficientSample);
        assert_eq!(r.headline(), None);
    }

    #[test]
    fn b02_reports_relative() {
        let r = cmp((1000, 100), (1000, 130));
        assert_eq!(r.significance_scale(), Some(Scale::Relative));
        let fixed = r.relative.fixed_horizon.unwrap();
        assert!((fixed.p_value - 0.06559733260262468).abs() < 1e-9);
    }
}
