//! Fixed-horizon Welch t-test and confidence interval (spec §5).

use crate::distribution::{t_sf, t_upper_quantile};
use crate::status::finite_or_degenerate;
use crate::{Alpha, Degenerate, Effect, Interval, Moments};
use serde::{Deserialize, Serialize};

/// The result of a two-sided fixed-horizon test of `θ = 0` (spec §5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FixedHorizon {
    /// `t = θ̂/se`.
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// `p = 2·(1 − F_t(|t|; df))`.
    pub p_value: f64,
    /// `θ̂ ± F_t⁻¹(1 − α/2; df)·se`.
    pub ci: Interval,
}

/// Welch–Satterthwaite degrees of freedom on the absolute scale (spec §5):
/// `df = (s_t²/n_t + s_c²/n_c)² / (s_t⁴/(n_t²(n_t−1)) + s_c⁴/(n_c²(n_c−1)))`.
///
/// Evaluated on terms scaled by the larger variance so that huge variances
/// do not overflow. Needs `n > 1` in both arms and a positive variance in at
/// least one.
pub(crate) fn welch_df(control: &Moments, treatment: &Moments) -> Result<f64, Degenerate> {
    if control.n() <= 1 || treatment.n() <= 1 {
        return Err(Degenerate::InsufficientSample);
    }
    let (a, b) = (treatment.variance_of_mean(), control.variance_of_mean());
    let scale = a.max(b);
    if scale.is_nan() || scale <= 0.0 {
        return Err(Degenerate::ZeroVariance);
    }
    let (a, b) = (a / scale, b / scale);
    let df = (a + b).powi(2) / (a.powi(2) / (treatment.nf() - 1.0) + b.powi(2) / (control.nf() - 1.0));
    finite_or_degenerate(df)
}

/// Two-sided Welch test and `1 − α` confidence interval for an effect
/// (spec §5), with a real Student t distribution at every df. For a relative effect the df are those of the absolute scale,
/// as gbstats does.
pub fn welch_test(effect: &Effect, alpha: Alpha) -> Result<FixedHorizon, Degenerate> {
    let se = effect.se();
    let t = effect.estimate() / se;
    let tail = t_sf(t.abs(), effect.df()).ok_or(Degenerate::NonFinite)?;
    let p_value = (2.0 * tail).clamp(0.0, 1.0);
    let quantile = t_upper_quantile(alpha.get() / 2.0, effect.df()).ok_or(Degenerate::NonFinite)?;
    let half_width = quantile * se;
    Ok(FixedHorizon {
        t: finite_or_degenerate(t)?,
        df: effect.df(),
        p_value: finite_or_degenerate(p_value)?,
        ci: Interval::symmetric(effect.estimate(), finite_or_degenerate(half_width)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BinomialStats, SufficientStatistic};

    #[test]
    fn df_with_one_constant_arm_is_n_minus_one() {
        let c = BinomialStats::new(500, 0).unwrap().moments().unwrap();
        let t = BinomialStats::new(300, 15).unwrap().moments().unwrap();
        assert!((welch_df(&c, &t).unwrap() - 299.0).abs() < 1e-9);
    }

    #[test]
    fn df_survives_huge_variances() {
        let c = Moments::new(10, 0.0, 1e300).unwrap();
        let t = Moments::new(10, 0.0, 1e300).unwrap();
        assert!((welch_df(&c, &t).unwrap() - 18.0).abs() < 1e-9);
    }

    #[test]
    fn identical_arms_give_p_one() {
        let m = Moments::new(1000, 0.1, 0.09).unwrap();
        let e = Effect::absolute(&m, &m).unwrap();
        let r = welch_test(&e, Alpha::DEFAULT).unwrap();
        assert_eq!(r.p_value, 1.0);
        assert!(r.ci.contains(0.0));
    }
}
