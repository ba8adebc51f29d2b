//! Per-variation estimators: sample size, mean and per-unit variance (spec §3).

use serde::{Deserialize, Serialize};

use crate::error::finite;
use crate::{Degenerate, StatsError};

/// What one arm contributes to an effect: `n`, the mean `m` and the per-unit
/// variance `s²`, so that `Var(m) = s²/n` (spec §3).
///
/// Build it from a sufficient statistic
/// ([`SufficientStatistic::moments`](crate::SufficientStatistic::moments)) or
/// directly with [`Moments::new`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    n: u64,
    mean: f64,
    variance: f64,
}

impl Moments {
    /// Validates that `mean` and `variance` are finite and `variance ≥ 0`.
    pub fn new(n: u64, mean: f64, variance: f64) -> Result<Self, StatsError> {
        finite("mean", mean)?;
        finite("variance", variance)?;
        if variance < 0.0 {
            return Err(StatsError::NegativeSumOfSquares { name: "variance", value: variance });
        }
        Ok(Self { n, mean, variance })
    }

    /// Builds moments from computed values, reporting overflow as
    /// [`Degenerate::NonFinite`] and clamping rounding noise below 0 to 0.
    pub(crate) fn computed(n: u64, mean: f64, variance: f64) -> Result<Self, Degenerate> {
        if n == 0 {
            return Err(Degenerate::InsufficientSample);
        }
        if !mean.is_finite() || !variance.is_finite() {
            return Err(Degenerate::NonFinite);
        }
        Ok(Self { n, mean, variance: variance.max(0.0) })
    }

    /// Number of units (visitors).
    pub fn n(&self) -> u64 {
        self.n
    }

    /// The mean `m` (conversion rate, revenue per visitor, ratio `r`, …).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The per-unit variance `s²`.
    pub fn variance(&self) -> f64 {
        self.variance
    }

    /// `n` as `f64`.
    pub(crate) fn nf(&self) -> f64 {
        self.n as f64
    }

    /// The variance of the mean, `s²/n` (spec §4).
    pub fn variance_of_mean(&self) -> f64 {
        self.variance / self.nf()
    }
}

/// Sample covariance with an `n − 1` denominator from plain sums (spec §3):
/// `(Σab − Σa·Σb/n)/(n − 1)`; 0 when `n ≤ 1`.
pub(crate) fn sample_covariance(n: u64, sum_a: f64, sum_b: f64, sum_ab: f64) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    let nf = n as f64;
    (sum_ab - sum_a * (sum_b / nf)) / (nf - 1.0)
}

/// Sample variance `(Σx² − (Σx)²/n)/(n − 1)` (spec §3), clamped at 0 against
/// rounding; 0 when `n ≤ 1`.
pub(crate) fn sample_variance(n: u64, sum: f64, sum_squares: f64) -> f64 {
    sample_covariance(n, sum, sum, sum_squares).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_inputs() {
        assert!(Moments::new(10, f64::NAN, 1.0).is_err());
        assert!(Moments::new(10, 1.0, -1.0).is_err());
        let m = Moments::new(10, 1.0, 2.0).unwrap();
        assert_eq!((m.n(), m.mean(), m.variance()), (10, 1.0, 2.0));
        assert!((m.variance_of_mean() - 0.2).abs() < 1e-15);
    }

    #[test]
    fn sample_moments_match_the_textbook() {
        // x = 1, 2, 3, 4: mean 2.5, variance 5/3.
        assert!((sample_variance(4, 10.0, 30.0) - 5.0 / 3.0).abs() < 1e-15);
        assert_eq!(sample_variance(1, 3.0, 9.0), 0.0);
        // a = 1, 2, 3; b = 2, 4, 7: cov = 2.5.
        assert!((sample_covariance(3, 6.0, 13.0, 31.0) - 2.5).abs() < 1e-15);
    }

    #[test]
    fn computed_reports_degenerate_cases() {
        assert_eq!(Moments::computed(0, 0.0, 0.0), Err(Degenerate::InsufficientSample));
        assert_eq!(Moments::computed(2, f64::INFINITY, 0.0), Err(Degenerate::NonFinite));
        assert_eq!(Moments::computed(2, 1.0, -1e-18).unwrap().variance(), 0.0);
    }
}
