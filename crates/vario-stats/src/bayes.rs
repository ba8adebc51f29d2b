//! Optional Bayesian readout with a Gaussian prior on the effect,
//! GrowthBook style (spec §8).

use serde::{Deserialize, Serialize};
use statrs::distribution::{Continuous, ContinuousCDF, Normal};

use crate::error::{finite, positive};
use crate::status::finite_or_degenerate;
use crate::{Alpha, Degenerate, Effect, Interval, StatsError};

/// A proper Gaussian prior `N(μ₀, σ₀²)` on the effect's own scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GaussianPrior {
    mean: f64,
    sd: f64,
}

impl GaussianPrior {
    /// Validates a finite mean and a positive, finite sd.
    pub fn new(mean: f64, sd: f64) -> Result<Self, StatsError> {
        Ok(Self { mean: finite("prior mean", mean)?, sd: positive("prior sd", sd)? })
    }
}

/// The posterior readout (spec §8).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BayesianReadout {
    /// Posterior mean of the effect.
    pub mean: f64,
    /// Posterior sd.
    pub sd: f64,
    /// `P(effect > 0)`, or `P(effect < 0)` for inverse metrics.
    pub chance_to_win: f64,
    /// Equal-tailed `1 − α` credible interval.
    pub ci: Interval,
    /// Expected loss of shipping the control (`E[max(θ, 0)]`; swapped for
    /// inverse metrics), as gbstats' `risk[0]`.
    pub risk_control: f64,
    /// Expected loss of shipping the treatment (`E[max(−θ, 0)]`; swapped
    /// for inverse metrics), as gbstats' `risk[1]`.
    pub risk_treatment: f64,
}

/// Posterior `N(post_mean, 1/post_prec)` with `post_prec = 1/se² + 1/σ₀²`
/// and `post_mean = (θ̂/se² + μ₀/σ₀²)/post_prec`; a flat prior (`None`)
/// gives `N(θ̂, se²)` (spec §8). Chance to win is `Φ(mean/sd)`; risk uses
/// truncated-normal means.
pub fn bayesian_readout(
    effect: &Effect,
    prior: Option<GaussianPrior>,
    alpha: Alpha,
    inverse: bool,
) -> Result<BayesianReadout, Degenerate> {
    let (mean, precision) = match prior {
        None => (effect.estimate(), 1.0 / effect.variance()),
        Some(p) => {
            let prior_precision = 1.0 / (p.sd * p.sd);
            let precision = 1.0 / effect.variance() + prior_precision;
            let mean = (effect.estimate() / effect.variance() + p.mean * prior_precision) / precision;
            (mean, precision)
        }
    };
    let mean = finite_or_degenerate(mean)?;
    let sd = finite_or_degenerate((1.0 / precision).sqrt())?;
    if sd <= 0.0 {
        return Err(Degenerate::ZeroVariance);
    }
    let std = Normal::standard();
    let z = mean / sd;
    let p_positive = std.cdf(z);
    let q = std.inverse_cdf(1.0 - alpha.get() / 2.0) * sd;
    // E[θ⁺] = μΦ(μ/σ) + σφ(μ/σ); E[θ⁻] = σφ(μ/σ) − μΦ(−μ/σ).
    let density = sd * std.pdf(z);
    let gain = (mean * p_positive + density).max(0.0);
    let loss = (density - mean * std.cdf(-z)).max(0.0);
    let (chance_to_win, risk_control, risk_treatment) =
        if inverse { (1.0 - p_positive, loss, gain) } else { (p_positive, gain, loss) };
    Ok(BayesianReadout { mean, sd, chance_to_win, ci: Interval::symmetric(mean, q), risk_control, risk_treatment })
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

    #[test]
    fn b02_flat_and_proper_prior() {
        let flat = bayesian_readout(&b02(), None, Alpha::DEFAULT, false).unwrap();
        // statrs' normal CDF is accurate to about 1e-11.
        assert!((flat.chance_to_win - 0.9672763417294536).abs() < 1e-10);
        assert!((flat.ci.lower - -0.019179397713587232).abs() < 1e-12);
        let prior = GaussianPrior::new(0.0, 0.3).unwrap();
        let post = bayesian_readout(&b02(), Some(prior), Alpha::DEFAULT, false).unwrap();
        assert!((post.mean - 0.2317198764160659).abs() < 1e-12);
        assert!((post.chance_to_win - 0.9472798425887837).abs() < 1e-10);
    }

    #[test]
    fn inverse_swaps_chance_and_risk() {
        let a = bayesian_readout(&b02(), None, Alpha::DEFAULT, false).unwrap();
        let b = bayesian_readout(&b02(), None, Alpha::DEFAULT, true).unwrap();
        assert!((a.chance_to_win + b.chance_to_win - 1.0).abs() < 1e-15);
        assert_eq!((a.risk_control, a.risk_treatment), (b.risk_treatment, b.risk_control));
        // E[θ⁺] − E[θ⁻] = E[θ].
        assert!((a.risk_control - a.risk_treatment - a.mean).abs() < 1e-12);
    }

    #[test]
    fn rejects_bad_priors() {
        assert!(GaussianPrior::new(0.0, 0.0).is_err());
        assert!(GaussianPrior::new(f64::NAN, 1.0).is_err());
    }
}
