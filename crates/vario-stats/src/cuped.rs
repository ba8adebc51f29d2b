//! CUPED: variance reduction with a pre-period covariate (spec §12;
//! Deng et al., WSDM 2013).

use crate::moments::sample_variance;
use crate::{CupedStats, Degenerate, Effect, Moments, Scale, SufficientStatistic};

/// `θ = Cov(y, x)/Var(x)` from the pooled accumulators of both arms, with
/// `n − 1` denominators; 0 (no adjustment) when `Var(x) = 0` or
/// `Var(y) = 0` (spec §12).
pub fn cuped_theta(control: &CupedStats, treatment: &CupedStats) -> f64 {
    let pooled = *control + *treatment;
    let n = pooled.n();
    let var_x = sample_variance(n, pooled.pre().sum(), pooled.pre().sum_squares());
    let var_y = sample_variance(n, pooled.post().sum(), pooled.post().sum_squares());
    if var_x <= 0.0 || var_y <= 0.0 {
        return 0.0;
    }
    let theta = pooled.covariance() / var_x;
    if theta.is_finite() { theta } else { 0.0 }
}

/// One arm's CUPED pieces: unadjusted moments of `y` and `x`, `cov(y, x)`,
/// and the adjusted moments for a given `θ`.
struct Arm {
    y: Moments,
    var_x: f64,
    cov: f64,
    adjusted: Moments,
}

impl Arm {
    /// `m_adj = ȳ − θ·x̄`, `s_adj² = s_y² + θ² s_x² − 2θ·cov_xy` (spec §12).
    fn new(stats: &CupedStats, theta: f64) -> Result<Self, Degenerate> {
        let y = stats.post().moments()?;
        let x = stats.pre().moments()?;
        let cov = stats.covariance();
        let adjusted = Moments::computed(
            y.n(),
            y.mean() - theta * x.mean(),
            y.variance() + theta * theta * x.variance() - 2.0 * theta * cov,
        )?;
        Ok(Self { y, var_x: x.variance(), cov, adjusted })
    }
}

/// The CUPED-adjusted effect on either scale (spec §12), with `θ` from
/// [`cuped_theta`].
///
/// - Absolute: `Δ = m_adj,t − m_adj,c`, `Var = s_adj,t²/n_t + s_adj,c²/n_c`.
/// - Relative: `L = Δ/|ȳ_c|` (unadjusted control mean) with the full delta
///   method of current GrowthBook:
///   `Var(L) = s_adj,t²/(n_t ȳ_c²) + [s_y,c² ȳ_t²/ȳ_c² − 2θ cov_c ȳ_t/ȳ_c + θ² s_x,c²]/(n_c ȳ_c²)`.
///
/// The df are Welch's on the adjusted variances, as gbstats does.
pub fn cuped_effect(control: &CupedStats, treatment: &CupedStats, scale: Scale) -> Result<Effect, Degenerate> {
    let theta = cuped_theta(control, treatment);
    let c = Arm::new(control, theta)?;
    let t = Arm::new(treatment, theta)?;
    if c.y.n() <= 1 || t.y.n() <= 1 {
        return Err(Degenerate::InsufficientSample);
    }
    if c.adjusted.variance() <= 0.0 && t.adjusted.variance() <= 0.0 {
        return Err(Degenerate::ZeroVariance);
    }
    let delta = t.adjusted.mean() - c.adjusted.mean();
    let (estimate, variance) = match scale {
        Scale::Absolute => (delta, t.adjusted.variance_of_mean() + c.adjusted.variance_of_mean()),
        Scale::Relative => {
            let yc = c.y.mean();
            if yc == 0.0 {
                return Err(Degenerate::BaselineZero);
            }
            let k = t.y.mean() / yc;
            let control_part = c.y.variance() * k * k - 2.0 * theta * c.cov * k + theta * theta * c.var_x;
            (delta / yc.abs(), t.adjusted.variance_of_mean() / (yc * yc) + control_part / (c.y.nf() * yc * yc))
        }
    };
    Effect::build(scale, estimate, variance, &c.adjusted, &t.adjusted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MeanStats;

    fn arm(rows: &[(f64, f64)]) -> CupedStats {
        let mut s = CupedStats::new(MeanStats::default(), MeanStats::default(), 0.0).unwrap();
        for &(y, x) in rows {
            s.push(y, x).unwrap();
        }
        s
    }

    #[test]
    fn theta_is_the_pooled_regression_slope() {
        // y = 2x exactly in both arms: θ = 2 and the adjusted variance is 0.
        let c = arm(&[(2.0, 1.0), (4.0, 2.0), (6.0, 3.0)]);
        let t = arm(&[(4.0, 2.0), (8.0, 4.0)]);
        assert!((cuped_theta(&c, &t) - 2.0).abs() < 1e-12);
        assert_eq!(cuped_effect(&c, &t, Scale::Absolute), Err(Degenerate::ZeroVariance));
    }

    #[test]
    fn zero_covariate_variance_means_no_adjustment() {
        let c = arm(&[(1.0, 0.0), (3.0, 0.0), (2.0, 0.0)]);
        let t = arm(&[(2.0, 0.0), (5.0, 0.0), (4.0, 0.0)]);
        assert_eq!(cuped_theta(&c, &t), 0.0);
        let plain = Effect::relative(&c.post().moments().unwrap(), &t.post().moments().unwrap()).unwrap();
        let cuped = cuped_effect(&c, &t, Scale::Relative).unwrap();
        assert!((plain.estimate() - cuped.estimate()).abs() < 1e-12);
        assert!((plain.variance() - cuped.variance()).abs() < 1e-12);
        assert!((plain.df() - cuped.df()).abs() < 1e-9);
    }

    #[test]
    fn zero_baseline_is_reported_for_relative_only() {
        let c = arm(&[(0.0, 1.0), (0.0, 2.0), (0.0, 0.0)]);
        let t = arm(&[(1.0, 1.0), (3.0, 2.0), (0.0, 0.0)]);
        assert_eq!(cuped_effect(&c, &t, Scale::Relative), Err(Degenerate::BaselineZero));
        assert!(cuped_effect(&c, &t, Scale::Absolute).is_ok());
    }
}
