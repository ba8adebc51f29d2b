//! Benjamini–Hochberg false discovery rate control across variations ×
//! metrics, with Optimizely's tiered families (spec §10).

use serde::{Deserialize, Serialize};

use crate::{Alpha, StatsError};

/// Benjamini–Hochberg adjusted p-values, in input order (spec §10):
/// with `p₍₁₎ ≤ … ≤ p₍m₎`, `q₍i₎ = min_{j ≥ i} min(1, m·p₍j₎/j)`.
///
/// This is statsmodels' `fdr_bh` and GrowthBook's
/// `adjustPValuesBenjaminiHochberg`. Apply it to the always-valid `p*`.
/// Every input must lie in `[0, 1]`.
pub fn benjamini_hochberg(p_values: &[f64]) -> Result<Vec<f64>, StatsError> {
    check_p_values(p_values.iter().copied())?;
    Ok(adjust(p_values))
}

fn check_p_values(p_values: impl Iterator<Item = f64>) -> Result<(), StatsError> {
    for (index, value) in p_values.enumerate() {
        if !(0.0..=1.0).contains(&value) {
            return Err(StatsError::InvalidPValue { index, value });
        }
    }
    Ok(())
}

/// BH on p-values already checked to lie in [0, 1].
fn adjust(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![0.0; m];
    let mut running = 1.0_f64;
    for (rank, &index) in order.iter().enumerate().rev() {
        // p·(m/j) rather than m·p/j: the factor is ≥ 1, so q ≥ p survives rounding.
        let q = (p_values[index] * (m as f64 / (rank + 1) as f64)).min(1.0);
        running = running.min(q);
        adjusted[index] = running;
    }
    adjusted
}

/// The confidence level to report intervals at after BH selected
/// `rejections` of `m` hypotheses: `1 − α·R/m` (Benjamini–Yekutieli false
/// coverage rate, spec §10). `None` when nothing was rejected (report the
/// unadjusted interval and say so).
pub fn fcr_alpha(alpha: Alpha, rejections: usize, m: usize) -> Option<Alpha> {
    if rejections == 0 || m == 0 {
        return None;
    }
    Alpha::new(alpha.get() * rejections.min(m) as f64 / m as f64).ok()
}

/// Optimizely's metric tiers; each forms its own BH family (spec §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The primary metric: its variations form one family, so adding
    /// metrics never slows it down.
    Primary,
    /// Secondary metrics × variations.
    Secondary,
    /// Monitoring metrics; see [`MonitoringPolicy`].
    Monitoring,
}

/// Whether monitoring metrics form a third family or stay unadjusted
/// (a setting, spec §10).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitoringPolicy {
    /// Monitoring metrics form their own BH family.
    #[default]
    OwnFamily,
    /// Monitoring p-values are reported unadjusted.
    Unadjusted,
}

/// BH within each tier separately, returning adjusted p-values in input
/// order (spec §10, Optimizely's tiered families).
pub fn benjamini_hochberg_tiered(
    p_values: &[(Tier, f64)],
    monitoring: MonitoringPolicy,
) -> Result<Vec<f64>, StatsError> {
    check_p_values(p_values.iter().map(|&(_, p)| p))?;
    let mut adjusted: Vec<f64> = p_values.iter().map(|&(_, p)| p).collect();
    for tier in [Tier::Primary, Tier::Secondary, Tier::Monitoring] {
        if tier == Tier::Monitoring && monitoring == MonitoringPolicy::Unadjusted {
            continue;
        }
        let members: Vec<usize> = (0..p_values.len()).filter(|&i| p_values[i].0 == tier).collect();
        let family: Vec<f64> = members.iter().map(|&i| p_values[i].1).collect();
        for (&i, q) in members.iter().zip(adjust(&family)) {
            adjusted[i] = q;
        }
    }
    Ok(adjusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_fdr_example() {
        // Spec §10, vector `fdr`.
        let q = benjamini_hochberg(&[1.0, 0.049889817513019796, 0.04562522724674123]).unwrap();
        assert_eq!(q[0], 1.0);
        assert!((q[1] - 0.0748347262695297).abs() < 1e-15);
        assert!((q[2] - 0.0748347262695297).abs() < 1e-15);
    }

    #[test]
    fn rejects_invalid_p_values() {
        assert!(matches!(benjamini_hochberg(&[0.1, f64::NAN]), Err(StatsError::InvalidPValue { index: 1, .. })));
        assert!(benjamini_hochberg(&[1.5]).is_err());
        assert_eq!(benjamini_hochberg(&[]).unwrap(), Vec::<f64>::new());
    }

    #[test]
    fn tiers_are_separate_families() {
        let input = [
            (Tier::Primary, 0.01),
            (Tier::Secondary, 0.01),
            (Tier::Secondary, 0.04),
            (Tier::Monitoring, 0.03),
            (Tier::Monitoring, 0.02),
        ];
        let q = benjamini_hochberg_tiered(&input, MonitoringPolicy::OwnFamily).unwrap();
        assert_eq!(q, vec![0.01, 0.02, 0.04, 0.03, 0.03]);
        let q = benjamini_hochberg_tiered(&input, MonitoringPolicy::Unadjusted).unwrap();
        assert_eq!(&q[3..], &[0.03, 0.02]);
        let bad = [(Tier::Primary, 0.5), (Tier::Monitoring, -0.1)];
        let err = benjamini_hochberg_tiered(&bad, MonitoringPolicy::Unadjusted);
        assert!(matches!(err, Err(StatsError::InvalidPValue { index: 1, .. })));
    }

    #[test]
    fn fcr_level() {
        let a = fcr_alpha(Alpha::new(0.1).unwrap(), 2, 8).unwrap();
        assert!((a.get() - 0.025).abs() < 1e-15);
        assert_eq!(fcr_alpha(Alpha::DEFAULT, 0, 8), None);
    }
}
