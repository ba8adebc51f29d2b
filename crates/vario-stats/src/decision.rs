//! Decision rules, significance display and minimum samples (spec §9).

use serde::{Deserialize, Serialize};

use crate::{Alpha, BinomialStats, Interval, SufficientStatistic};

/// Optimizely's minimum visitors per arm before a winner or loser (spec §9).
pub const MIN_VISITORS: u64 = 100;

/// Optimizely's minimum conversions per arm for binary metrics (spec §9).
pub const MIN_CONVERSIONS: u64 = 25;

/// The call shown for one variation × metric (spec §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Significant and better than the baseline.
    Winner,
    /// Significant and worse than the baseline.
    Loser,
    /// Anything else, including "below the minimum sample".
    Inconclusive,
}

/// Statistical significance `1 − p*`, with `p*` the FDR-adjusted
/// always-valid p-value (spec §9), clamped to `[0, 1]`.
pub fn significance(p_value: f64) -> f64 {
    if p_value.is_nan() {
        return 0.0;
    }
    (1.0 - p_value).clamp(0.0, 1.0)
}

/// Significance as displayed: whole percent rounded down, never "100%";
/// above 99% it shows ">99%" as Optimizely does (spec §9).
pub fn significance_label(p_value: f64) -> String {
    let s = significance(p_value);
    if s > 0.99 { ">99%".to_owned() } else { format!("{}%", (s * 100.0 + 1e-9).floor()) }
}

/// Binary metric: at least [`MIN_VISITORS`] visitors and
/// [`MIN_CONVERSIONS`] conversions in both the variation and the baseline
/// (spec §9, Optimizely's rule).
pub fn binary_min_sample_met(control: &BinomialStats, treatment: &BinomialStats) -> bool {
    [control, treatment].iter().all(|s| s.n() >= MIN_VISITORS && s.sum() >= MIN_CONVERSIONS)
}

/// Numeric metric: at least [`MIN_VISITORS`] visitors in the variation
/// (spec §9, Optimizely's rule).
pub fn numeric_min_sample_met(treatment_visitors: u64) -> bool {
    treatment_visitors >= MIN_VISITORS
}

/// Winner when significance `≥ 1 − α` (i.e. `p* ≤ α`) and the running
/// interval lies entirely above 0; loser when it lies entirely below 0;
/// inverse metrics (lower is better) swap the labels; inconclusive
/// otherwise or when the minimum sample is not met (spec §9).
pub fn decide(p_value: f64, running_ci: &Interval, alpha: Alpha, inverse: bool, min_sample_met: bool) -> Decision {
    if !min_sample_met || p_value.is_nan() || p_value > alpha.get() {
        return Decision::Inconclusive;
    }
    let (up, down) = if inverse { (Decision::Loser, Decision::Winner) } else { (Decision::Winner, Decision::Loser) };
    if running_ci.above_zero() {
        up
    } else if running_ci.below_zero() {
        down
    } else {
        Decision::Inconclusive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_never_show_100() {
        assert_eq!(significance_label(0.0), ">99%");
        assert_eq!(significance_label(0.011345), "98%");
        assert_eq!(significance_label(0.05), "95%");
        assert_eq!(significance_label(1.0), "0%");
        assert_eq!(significance(f64::NAN), 0.0);
    }

    #[test]
    fn min_sample_rules() {
        let ok = BinomialStats::new(100, 25).unwrap();
        let few = BinomialStats::new(1000, 24).unwrap();
        assert!(binary_min_sample_met(&ok, &ok));
        assert!(!binary_min_sample_met(&ok, &few));
        assert!(!binary_min_sample_met(&BinomialStats::new(99, 50).unwrap(), &ok));
        assert!(numeric_min_sample_met(100) && !numeric_min_sample_met(99));
    }

    #[test]
    fn decisions() {
        let up = Interval { lower: 0.01, upper: 0.4 };
        let down = Interval { lower: -0.4, upper: -0.01 };
        let across = Interval { lower: -0.1, upper: 0.4 };
        let a = Alpha::DEFAULT;
        assert_eq!(decide(0.01, &up, a, false, true), Decision::Winner);
        assert_eq!(decide(0.01, &up, a, true, true), Decision::Loser);
        assert_eq!(decide(0.01, &down, a, false, true), Decision::Loser);
        assert_eq!(decide(0.01, &down, a, true, true), Decision::Winner);
        assert_eq!(decide(0.01, &across, a, false, true), Decision::Inconclusive);
        assert_eq!(decide(0.2, &up, a, false, true), Decision::Inconclusive);
        assert_eq!(decide(0.01, &up, a, false, false), Decision::Inconclusive);
    }
}
