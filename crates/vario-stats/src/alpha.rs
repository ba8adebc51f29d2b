//! The significance level α (spec conventions: two-sided tests, CI level 1 − α).

use serde::{Deserialize, Serialize};

use crate::StatsError;

/// A validated significance level, strictly between 0 and 1.
///
/// The default is 0.05. Optimizely's default is 0.10 (90% significance);
/// the spec makes α a per-project setting.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Alpha(f64);

impl Alpha {
    /// α = 0.05, the spec's default.
    pub const DEFAULT: Self = Self(0.05);

    /// Validates `alpha ∈ (0, 1)`.
    pub fn new(alpha: f64) -> Result<Self, StatsError> {
        if alpha > 0.0 && alpha < 1.0 { Ok(Self(alpha)) } else { Err(StatsError::InvalidAlpha(alpha)) }
    }

    /// The value of α.
    pub fn get(self) -> f64 {
        self.0
    }

    /// The confidence level of intervals, 1 − α.
    pub fn confidence(self) -> f64 {
        1.0 - self.0
    }
}

impl Default for Alpha {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<f64> for Alpha {
    type Error = StatsError;
    fn try_from(alpha: f64) -> Result<Self, StatsError> {
        Self::new(alpha)
    }
}

impl From<Alpha> for f64 {
    fn from(alpha: Alpha) -> Self {
        alpha.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_values_outside_the_open_unit_interval() {
        for bad in [0.0, 1.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
            assert!(Alpha::new(bad).is_err(), "{bad}");
        }
        assert_eq!(Alpha::new(0.1).map(Alpha::get), Ok(0.1));
        assert_eq!(Alpha::default().get(), 0.05);
        assert!((Alpha::default().confidence() - 0.95).abs() < 1e-15);
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<Alpha>("0.2").is_ok());
        assert!(serde_json::from_str::<Alpha>("2.0").is_err());
    }
}
