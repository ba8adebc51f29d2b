//! Sample ratio mismatch: Pearson χ² goodness of fit of visitor counts
//! against the configured split (spec §11).

use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF};

use crate::StatsError;

/// Warn when the SRM p-value is below this (GrowthBook's default, also used
/// by Microsoft ExP and Eppo; spec §11).
pub const DEFAULT_SRM_THRESHOLD: f64 = 0.001;

/// The outcome of an SRM check (spec §11).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Srm {
    /// `χ² = Σ (n_i − E_i)²/E_i` over arms with positive weight.
    pub chi_square: f64,
    /// `k − 1` over all `k` arms, as gbstats does.
    pub df: usize,
    /// `χ²_sf(χ², df)`; 1 when there are no visitors.
    pub p_value: f64,
    /// Visitors in arms configured with weight 0, flagged separately.
    pub zero_weight_visitors: u64,
}

impl Srm {
    /// Whether `p < threshold` (e.g. [`DEFAULT_SRM_THRESHOLD`]).
    pub fn is_mismatch(&self, threshold: f64) -> bool {
        self.p_value < threshold
    }
}

/// Pearson χ² test of unique-visitor counts against configured weights
/// (normalised), skipping 0-weight arms in the sum (spec §11). Run it on
/// unique visitors before any metric filtering.
pub fn srm_test(visitors: &[u64], weights: &[f64]) -> Result<Srm, StatsError> {
    if visitors.len() != weights.len() {
        return Err(StatsError::LengthMismatch {
            what: "srm visitors and weights",
            left: visitors.len(),
            right: weights.len(),
        });
    }
    for (index, &value) in weights.iter().enumerate() {
        if !value.is_finite() || value < 0.0 {
            return Err(StatsError::InvalidWeight { index, value });
        }
    }
    let total_weight: f64 = weights.iter().sum();
    if total_weight <= 0.0 || !total_weight.is_finite() {
        return Err(StatsError::Empty("srm weights"));
    }
    let df = visitors.len() - 1;
    let zero_weight_visitors =
        visitors.iter().zip(weights).filter(|&(_, &w)| w == 0.0).map(|(&n, _)| n).fold(0u64, u64::saturating_add);
    let total: f64 = visitors.iter().map(|&n| n as f64).sum();
    let chi_square: f64 = visitors
        .iter()
        .zip(weights)
        .filter(|&(_, &w)| w > 0.0)
        .map(|(&n, &w)| {
            let expected = w / total_weight * total;
            let diff = n as f64 - expected;
            if expected > 0.0 { diff * diff / expected } else { 0.0 }
        })
        .sum();
    let p_value =
        if total == 0.0 || df == 0 { 1.0 } else { ChiSquared::new(df as f64).map(|d| d.sf(chi_square)).unwrap_or(1.0) };
    Ok(Srm { chi_square, df, p_value, zero_weight_visitors })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b08_and_b07() {
        let b08 = srm_test(&[10000, 9000], &[0.5, 0.5]).unwrap();
        assert!((b08.chi_square - 52.63157894736842).abs() < 1e-9);
        assert!((b08.p_value - 4.023672190684225e-13).abs() < 1e-20);
        assert!(b08.is_mismatch(DEFAULT_SRM_THRESHOLD));
        let b07 = srm_test(&[5000, 2500], &[2.0, 1.0]).unwrap();
        assert_eq!(b07.p_value, 1.0);
    }

    #[test]
    fn zero_weight_arms_are_flagged_and_skipped() {
        let r = srm_test(&[100, 100, 7], &[1.0, 1.0, 0.0]).unwrap();
        assert_eq!(r.df, 2);
        assert_eq!(r.zero_weight_visitors, 7);
        // As gbstats: E_i = w_i·Σn over all visitors, 7 of them in the 0-weight arm.
        assert!((r.chi_square - 2.0 * 3.5 * 3.5 / 103.5).abs() < 1e-12);
    }

    #[test]
    fn invalid_inputs() {
        assert!(srm_test(&[1, 2], &[1.0]).is_err());
        assert!(srm_test(&[1, 2], &[1.0, -1.0]).is_err());
        assert!(srm_test(&[1, 2], &[0.0, 0.0]).is_err());
        assert!(srm_test(&[], &[]).is_err());
        assert_eq!(srm_test(&[0, 0], &[1.0, 1.0]).unwrap().p_value, 1.0);
        assert_eq!(srm_test(&[5], &[1.0]).unwrap().p_value, 1.0);
    }
}
