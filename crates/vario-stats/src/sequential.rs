//! mSPRT with a normal mixture: always-valid p-values and confidence
//! sequences, and their running versions over an experiment's looks
//! (spec §6, §7).
//!
//! With the default mixing rule `τ² = ρ²·N·v` the per-look values are
//! exactly GrowthBook's sequential p-value (Waudby-Smith et al. 2023,
//! eq. 155) and confidence sequence (eq. 9), so §7 needs no code path of
//! its own.

use serde::{Deserialize, Serialize};

use crate::error::positive;
use crate::status::finite_or_degenerate;
use crate::{Alpha, Degenerate, Effect, Interval, StatsError};

/// GrowthBook's default tuning parameter `N*` (spec §6).
pub const DEFAULT_TUNING_N: f64 = 5000.0;

/// How to choose the mixing variance `τ²` (spec §6, "Choosing τ²").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum MixingRule {
    /// Scale-free, GrowthBook-equivalent (the recommended default):
    /// `τ² = ρ²·N·v` with `ρ² = (−2 ln α + ln(1 − 2 ln α))/N*`. `N*` is the
    /// total sample size of both arms at which the interval is tightest.
    Proportional {
        /// `N*`, GrowthBook's `sequential_tuning_parameter`.
        tuning_n: f64,
    },
    /// A fixed prior sd `τ` on the effect's own scale, e.g. `τ = 0.1` for a
    /// 10% prior sd on the relative lift.
    Fixed {
        /// `τ` (not squared).
        tau: f64,
    },
}

impl Default for MixingRule {
    fn default() -> Self {
        Self::Proportional { tuning_n: DEFAULT_TUNING_N }
    }
}

impl MixingRule {
    /// The proportional rule with tuning parameter `N* > 0`.
    pub fn proportional(tuning_n: f64) -> Result<Self, StatsError> {
        Ok(Self::Proportional { tuning_n: positive("tuning_n", tuning_n)? })
    }

    /// A fixed prior sd `τ > 0`.
    pub fn fixed(tau: f64) -> Result<Self, StatsError> {
        Ok(Self::Fixed { tau: positive("tau", tau)? })
    }

    /// `τ²` for an estimate with variance `v` from `n_total` units (spec §6).
    pub fn tau2(&self, variance: f64, n_total: u64, alpha: Alpha) -> f64 {
        match *self {
            Self::Proportional { tuning_n } => rho2(alpha, tuning_n) * n_total as f64 * variance,
            Self::Fixed { tau } => tau * tau,
        }
    }
}

/// `ρ² = (−2 ln α + ln(1 − 2 ln α))/N*` (spec §6; Waudby-Smith et al. 2023,
/// eq. 161, as gbstats' `sequential_rho`).
pub fn rho2(alpha: Alpha, tuning_n: f64) -> f64 {
    let l = alpha.get().ln();
    (-2.0 * l + (1.0 - 2.0 * l).ln()) / tuning_n
}

/// The mSPRT values at one look (spec §6).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SequentialLook {
    /// The point estimate `θ̂`.
    pub estimate: f64,
    /// The mixing variance `τ²` used.
    pub tau2: f64,
    /// `ln Λ`, the log mixture likelihood ratio against `θ = 0`.
    pub log_lambda: f64,
    /// `p_k = min(1, 1/Λ_k)`.
    pub p_value: f64,
    /// `{θ₀ : Λ(θ₀) < 1/α} = θ̂ ± h`.
    pub ci: Interval,
}

/// The mSPRT at one look for `H₀: θ = 0` with the normal mixture
/// `θ ~ N(0, τ²)` (spec §6):
///
/// `Λ = sqrt(v/(v + τ²)) · exp(τ² θ̂² / (2v(v + τ²)))`, computed in logs,
/// `p = min(1, 1/Λ)`, and the interval `θ̂ ± h` with
/// `h = sqrt(v(v + τ²)/τ² · (2 ln(1/α) + ln((v + τ²)/v)))`.
///
/// Both are written in `r = τ²/v` so that no product overflows.
pub fn msprt(effect: &Effect, alpha: Alpha, rule: MixingRule) -> Result<SequentialLook, Degenerate> {
    let v = effect.variance();
    let theta = effect.estimate();
    let tau2 = finite_or_degenerate(rule.tau2(v, effect.n_total(), alpha))?;
    let r = tau2 / v;
    if !r.is_finite() || r <= 0.0 {
        return Err(Degenerate::NonFinite);
    }
    let log1p_r = r.ln_1p();
    let z2 = theta * theta / v;
    let log_lambda = finite_or_degenerate(-0.5 * log1p_r + z2 * r / (2.0 * (1.0 + r)))?;
    let p_value = (-log_lambda).exp().min(1.0);
    let h2 = v * (1.0 + 1.0 / r) * (-2.0 * alpha.get().ln() + log1p_r);
    let half_width = finite_or_degenerate(h2.sqrt())?;
    Ok(SequentialLook { estimate: theta, tau2, log_lambda, p_value, ci: Interval::symmetric(theta, half_width) })
}

/// The always-valid state of one (experiment, variation, metric): the
/// running minimum of the p-values and the running intersection of the
/// intervals over all looks so far (spec §6).
///
/// Persist it between looks; if data are restated, rebuild it with
/// [`AlwaysValid::from_looks`] from the stored look history.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlwaysValid {
    looks: u32,
    p_value: f64,
    ci: Option<Interval>,
}

impl Default for AlwaysValid {
    fn default() -> Self {
        Self::new()
    }
}

impl AlwaysValid {
    /// The state before any look: `p*₀ = 1`, no interval.
    pub fn new() -> Self {
        Self { looks: 0, p_value: 1.0, ci: None }
    }

    /// Replays a look history.
    pub fn from_looks<'a>(looks: impl IntoIterator<Item = &'a SequentialLook>) -> Self {
        let mut state = Self::new();
        for look in looks {
            state.observe(look);
        }
        state
    }

    /// Takes the next look: `p*_k = min(p*_{k−1}, p_k)` and the interval
    /// intersected with all earlier ones (largest lower bound, smallest
    /// upper bound).
    pub fn observe(&mut self, look: &SequentialLook) -> &Self {
        self.looks = self.looks.saturating_add(1);
        self.p_value = self.p_value.min(look.p_value);
        self.ci = Some(match self.ci {
            Some(ci) => ci.intersect(&look.ci),
            None => look.ci,
        });
        self
    }

    /// Number of looks taken.
    pub fn looks(&self) -> u32 {
        self.looks
    }

    /// The always-valid p-value `p*` (never increases).
    pub fn p_value(&self) -> f64 {
        self.p_value
    }

    /// The running interval; `None` before the first look. It can become
    /// empty (`lower > upper`) when the effect drifts; see
    /// [`Interval::is_empty`].
    pub fn ci(&self) -> Option<Interval> {
        self.ci
    }

    /// Whether `p* ≤ α`, i.e. the running interval excludes 0.
    pub fn rejects(&self, alpha: Alpha) -> bool {
        self.p_value <= alpha.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BinomialStats, SufficientStatistic};

    fn b02() -> Effect {
        let c = BinomialStats::new(1000, 100).unwrap().moments().unwrap();
        let t = BinomialStats::new(1000, 130).unwrap().moments().unwrap();
        Effect::relative(&c, &t).unwrap()
    }

    /// Spec §7, written as GrowthBook writes it (eq. 9 and 155), to check
    /// that the §6 code path with `τ² = ρ²Nv` is the same thing.
    fn growthbook_eq9_eq155(effect: &Effect, alpha: f64, tuning_n: f64) -> (f64, f64) {
        let n = effect.n_total() as f64;
        let rho2 = (-2.0 * alpha.ln() + (-2.0 * alpha.ln() + 1.0).ln()) / tuning_n;
        let s2 = effect.variance() * n;
        let h = s2.sqrt() * (2.0 * (n * rho2 + 1.0) * ((n * rho2 + 1.0).sqrt() / alpha).ln() / (n * n * rho2)).sqrt();
        let z2 = effect.estimate().powi(2) / effect.variance();
        let e = (rho2 * n * z2 / (2.0 * (n * rho2 + 1.0))).exp() / (n * rho2 + 1.0).sqrt();
        (h, (1.0 / e).min(1.0))
    }

    #[test]
    fn proportional_rule_equals_growthbook_confidence_sequence() {
        let e = b02();
        for (alpha, tuning_n) in [(0.05, 5000.0), (0.1, 20000.0), (0.01, 100.0)] {
            let look = msprt(&e, Alpha::new(alpha).unwrap(), MixingRule::Proportional { tuning_n }).unwrap();
            let (h, p) = growthbook_eq9_eq155(&e, alpha, tuning_n);
            assert!((look.ci.upper - look.estimate - h).abs() < 1e-12);
            assert!((look.p_value - p).abs() < 1e-12);
        }
    }

    #[test]
    fn b02_spec_values() {
        // Spec §6: ln Λ = 0.5758604939647929, p = 0.5622208729310174.
        let look = msprt(&b02(), Alpha::DEFAULT, MixingRule::default()).unwrap();
        assert!((look.tau2 - 0.0841867280152321).abs() < 1e-12);
        assert!((look.log_lambda - 0.5758604939647929).abs() < 1e-12);
        assert!((look.p_value - 0.5622208729310174).abs() < 1e-12);
    }

    #[test]
    fn rejects_invalid_rules() {
        assert!(MixingRule::proportional(0.0).is_err());
        assert!(MixingRule::fixed(f64::NAN).is_err());
        assert!(MixingRule::fixed(0.1).is_ok());
    }

    #[test]
    fn running_state_takes_min_and_intersection() {
        let mk = |p, lo, hi| SequentialLook {
            estimate: (lo + hi) / 2.0,
            tau2: 1.0,
            log_lambda: 0.0,
            p_value: p,
            ci: Interval { lower: lo, upper: hi },
        };
        let looks = [mk(0.5, -1.0, 2.0), mk(0.2, -0.5, 3.0), mk(0.4, -2.0, 1.5)];
        let s = AlwaysValid::from_looks(&looks);
        assert_eq!(s.looks(), 3);
        assert_eq!(s.p_value(), 0.2);
        assert_eq!(s.ci(), Some(Interval { lower: -0.5, upper: 1.5 }));
        assert!(!s.rejects(Alpha::DEFAULT));
        assert_eq!(AlwaysValid::default().ci(), None);
    }
}
