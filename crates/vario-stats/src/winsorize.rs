//! Outlier capping of per-visitor totals (spec §13).
//!
//! Cap per-visitor totals, never individual events, before they go into the
//! sufficient statistics, and use one cap for every arm. A percentile cap
//! needs the per-visitor values (or a quantile sketch): capped sums cannot be
//! merged from plain sums alone.

use serde::{Deserialize, Serialize};

use crate::StatsError;
use crate::error::{finite, positive};

/// How the cap `c` is chosen (spec §13).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum CapRule {
    /// `c` = the `quantile`-th quantile (e.g. 0.99) of the pooled
    /// per-visitor values of all arms, linear interpolation (type 7).
    Percentile {
        /// The quantile in `[0, 1]`.
        quantile: f64,
        /// Compute `c` over non-zero values only.
        ignore_zeros: bool,
    },
    /// A fixed `c` per metric.
    Absolute {
        /// The cap.
        cap: f64,
    },
}

/// The type-7 quantile (numpy's default, SQL's `percentile_cont`) of
/// `values` at `quantile ∈ [0, 1]` (spec §13): with the values sorted and
/// `h = (n − 1)·quantile`, `x₍⌊h⌋₎ + (h − ⌊h⌋)(x₍⌊h⌋+1₎ − x₍⌊h⌋₎)`.
/// `None` for no values.
pub fn percentile(values: &[f64], quantile: f64) -> Result<Option<f64>, StatsError> {
    if !(0.0..=1.0).contains(&quantile) {
        return Err(StatsError::InvalidPercentile(quantile));
    }
    for &v in values {
        finite("value", v)?;
    }
    if values.is_empty() {
        return Ok(None);
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let h = (sorted.len() - 1) as f64 * quantile;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let frac = h - lo as f64;
    Ok(Some(sorted[lo] + frac * (sorted[hi] - sorted[lo])))
}

/// The cap for a metric from the pooled per-visitor values of all arms
/// (spec §13). `None` means nothing to cap by (no values, or only zeros
/// with `ignore_zeros`).
pub fn pooled_cap(arms: &[&[f64]], rule: CapRule) -> Result<Option<f64>, StatsError> {
    match rule {
        CapRule::Absolute { cap } => Ok(Some(finite("cap", cap)?)),
        CapRule::Percentile { quantile, ignore_zeros } => {
            let pooled: Vec<f64> =
                arms.iter().flat_map(|arm| arm.iter().copied()).filter(|&x| !(ignore_zeros && x == 0.0)).collect();
            percentile(&pooled, quantile)
        }
    }
}

/// Replaces every value above `cap` by `cap`: `x' = min(x, c)` (spec §13).
pub fn winsorize(values: &mut [f64], cap: f64) {
    for x in values {
        *x = x.min(cap);
    }
}

/// Validates an absolute cap for positive-valued metrics.
pub fn absolute_cap(cap: f64) -> Result<CapRule, StatsError> {
    Ok(CapRule::Absolute { cap: positive("cap", cap)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type7_interpolates_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(percentile(&v, 0.5).unwrap(), Some(3.0));
        // h = 4·0.9 = 3.6: 4 + 0.6·6 = 7.6
        assert!((percentile(&v, 0.9).unwrap().unwrap() - 7.6).abs() < 1e-12);
        assert_eq!(percentile(&v, 1.0).unwrap(), Some(10.0));
        assert_eq!(percentile(&v, 0.0).unwrap(), Some(1.0));
        assert_eq!(percentile(&[], 0.5).unwrap(), None);
        assert!(percentile(&v, 1.5).is_err());
        assert!(percentile(&[f64::NAN], 0.5).is_err());
    }

    #[test]
    fn pooled_cap_ignores_zeros_on_request() {
        let a: &[f64] = &[0.0, 0.0, 0.0, 5.0];
        let b: &[f64] = &[0.0, 10.0];
        let rule = |ignore_zeros| CapRule::Percentile { quantile: 0.5, ignore_zeros };
        assert_eq!(pooled_cap(&[a, b], rule(true)).unwrap(), Some(7.5));
        assert_eq!(pooled_cap(&[a, b], rule(false)).unwrap(), Some(0.0));
        assert_eq!(pooled_cap(&[&[0.0]], rule(true)).unwrap(), None);
        assert_eq!(pooled_cap(&[a], absolute_cap(3.0).unwrap()).unwrap(), Some(3.0));
        assert!(absolute_cap(-1.0).is_err());
    }

    #[test]
    fn winsorize_caps_from_above_only() {
        let mut v = [-5.0, 1.0, 50.0];
        winsorize(&mut v, 10.0);
        assert_eq!(v, [-5.0, 1.0, 10.0]);
    }
}
