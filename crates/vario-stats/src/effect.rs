//! Absolute and relative effects with delta-method variances (spec §4).

use serde::{Deserialize, Serialize};

use crate::status::finite_or_degenerate;
use crate::welch::welch_df;
use crate::{Degenerate, Moments};

/// The scale an effect is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// `Δ = m_t − m_c`.
    Absolute,
    /// `L = (m_t − m_c)/|m_c|`, Optimizely's "improvement".
    Relative,
}

/// A treatment-vs-control effect estimate `θ̂` with `Var(θ̂)` (spec §4), the
/// Welch–Satterthwaite degrees of freedom on the absolute scale (spec §5)
/// and the total sample size `N = n_c + n_t` used by the sequential tests
/// (spec §6).
///
/// Construction guarantees finite values, `variance > 0`, `df ≥ 1`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    scale: Scale,
    estimate: f64,
    variance: f64,
    df: f64,
    n_total: u64,
}

impl Effect {
    /// Absolute effect `Δ = m_t − m_c` with `Var(Δ) = s_t²/n_t + s_c²/n_c`
    /// (spec §4).
    pub fn absolute(control: &Moments, treatment: &Moments) -> Result<Self, Degenerate> {
        check_arms(control, treatment)?;
        Self::build(
            Scale::Absolute,
            treatment.mean() - control.mean(),
            treatment.variance_of_mean() + control.variance_of_mean(),
            control,
            treatment,
        )
    }

    /// Relative lift `L = (m_t − m_c)/|m_c|` with the delta-method variance
    /// `Var(L) = s_t²/(m_c² n_t) + s_c² m_t²/(m_c⁴ n_c)` (spec §4). Dividing
    /// by `|m_c|` makes the sign of `L` follow the sign of `Δ`.
    ///
    /// [`Degenerate::BaselineZero`] when `m_c = 0` (B10);
    /// [`Degenerate::ZeroVariance`] when `Var(L) = 0` (B09: `m_t = 0` and
    /// `s_t² = 0`), in which case use the absolute test.
    pub fn relative(control: &Moments, treatment: &Moments) -> Result<Self, Degenerate> {
        check_arms(control, treatment)?;
        let mc = control.mean();
        if mc == 0.0 {
            return Err(Degenerate::BaselineZero);
        }
        let ratio = treatment.mean() / mc;
        let variance =
            treatment.variance_of_mean() / mc.powi(2) + control.variance_of_mean() * ratio.powi(2) / mc.powi(2);
        Self::build(Scale::Relative, (treatment.mean() - mc) / mc.abs(), variance, control, treatment)
    }

    /// Assembles an effect whose point estimate and variance come from
    /// elsewhere (e.g. CUPED), taking df and `N` from the two arms' moments.
    pub(crate) fn build(
        scale: Scale,
        estimate: f64,
        variance: f64,
        control: &Moments,
        treatment: &Moments,
    ) -> Result<Self, Degenerate> {
        let estimate = finite_or_degenerate(estimate)?;
        let variance = finite_or_degenerate(variance)?;
        if variance <= 0.0 {
            return Err(Degenerate::ZeroVariance);
        }
        Ok(Self {
            scale,
            estimate,
            variance,
            df: welch_df(control, treatment)?,
            n_total: control.n().saturating_add(treatment.n()),
        })
    }

    /// Which scale the effect is on.
    pub fn scale(&self) -> Scale {
        self.scale
    }

    /// The point estimate `θ̂`.
    pub fn estimate(&self) -> f64 {
        self.estimate
    }

    /// `Var(θ̂)`, always positive.
    pub fn variance(&self) -> f64 {
        self.variance
    }

    /// The standard error `sqrt(Var(θ̂))`.
    pub fn se(&self) -> f64 {
        self.variance.sqrt()
    }

    /// Welch–Satterthwaite degrees of freedom (absolute scale, spec §5).
    pub fn df(&self) -> f64 {
        self.df
    }

    /// `N = n_c + n_t`.
    pub fn n_total(&self) -> u64 {
        self.n_total
    }
}

/// Shared preconditions of both scales (spec §14): more than one unit per
/// arm, and not both arms without variance (B13).
fn check_arms(control: &Moments, treatment: &Moments) -> Result<(), Degenerate> {
    if control.n() <= 1 || treatment.n() <= 1 {
        return Err(Degenerate::InsufficientSample);
    }
    if control.variance() <= 0.0 && treatment.variance() <= 0.0 {
        return Err(Degenerate::ZeroVariance);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BinomialStats, SufficientStatistic};

    fn binomial(n: u64, k: u64) -> Moments {
        BinomialStats::new(n, k).unwrap().moments().unwrap()
    }

    #[test]
    fn b02_effects() {
        // Spec §4: L = 0.3, se 0.16284962388657825; Δ = 0.03, se 0.014251315728731857.
        let (c, t) = (binomial(1000, 100), binomial(1000, 130));
        let rel = Effect::relative(&c, &t).unwrap();
        assert!((rel.estimate() - 0.3).abs() < 1e-12);
        assert!((rel.se() - 0.16284962388657825).abs() < 1e-12);
        let abs = Effect::absolute(&c, &t).unwrap();
        assert!((abs.estimate() - 0.03).abs() < 1e-12);
        assert!((abs.se() - 0.014251315728731857).abs() < 1e-12);
        assert_eq!(abs.n_total(), 2000);
    }

    #[test]
    fn negative_baseline_keeps_the_sign_of_delta() {
        let c = Moments::new(100, -10.0, 4.0).unwrap();
        let t = Moments::new(100, -8.0, 4.0).unwrap();
        let rel = Effect::relative(&c, &t).unwrap();
        assert!((rel.estimate() - 0.2).abs() < 1e-12);
    }

    #[test]
    fn degenerate_cases() {
        // B10: zero baseline.
        let (c, t) = (binomial(500, 0), binomial(500, 15));
        assert_eq!(Effect::relative(&c, &t), Err(Degenerate::BaselineZero));
        assert!(Effect::absolute(&c, &t).is_ok());
        // B09: treatment has no conversions, relative variance collapses.
        let (c, t) = (binomial(500, 20), binomial(500, 0));
        assert_eq!(Effect::relative(&c, &t), Err(Degenerate::ZeroVariance));
        assert!(Effect::absolute(&c, &t).is_ok());
        // B13: no variance anywhere.
        let (c, t) = (binomial(500, 0), binomial(500, 0));
        assert_eq!(Effect::absolute(&c, &t), Err(Degenerate::ZeroVariance));
        assert_eq!(Effect::relative(&c, &t), Err(Degenerate::ZeroVariance));
        // n ≤ 1.
        let (c, t) = (binomial(1, 1), binomial(500, 3));
        assert_eq!(Effect::absolute(&c, &t), Err(Degenerate::InsufficientSample));
    }

    #[test]
    fn tiny_baseline_overflow_is_reported() {
        let c = Moments::new(10, 1e-300, 1.0).unwrap();
        let t = Moments::new(10, 1.0, 1.0).unwrap();
        assert_eq!(Effect::relative(&c, &t), Err(Degenerate::NonFinite));
    }
}
