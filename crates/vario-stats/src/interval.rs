//! Closed intervals for confidence intervals and confidence sequences.

use serde::{Deserialize, Serialize};

/// A closed interval `[lower, upper]` on the scale of an effect.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

impl Interval {
    /// `center ± half_width`.
    pub fn symmetric(center: f64, half_width: f64) -> Self {
        Self { lower: center - half_width, upper: center + half_width }
    }

    /// Whether `x` lies in the interval.
    pub fn contains(&self, x: f64) -> bool {
        self.lower <= x && x <= self.upper
    }

    /// Whether the whole interval lies strictly above 0.
    pub fn above_zero(&self) -> bool {
        self.lower > 0.0 && !self.is_empty()
    }

    /// Whether the whole interval lies strictly below 0.
    pub fn below_zero(&self) -> bool {
        self.upper < 0.0 && !self.is_empty()
    }

    /// Whether the interval is empty (`lower > upper`). A running
    /// intersection of confidence sequences can become empty (spec §6).
    pub fn is_empty(&self) -> bool {
        self.lower > self.upper
    }

    /// The intersection: largest lower bound, smallest upper bound (spec §6).
    pub fn intersect(&self, other: &Self) -> Self {
        Self { lower: self.lower.max(other.lower), upper: self.upper.min(other.upper) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersect_keeps_the_tightest_bounds() {
        let a = Interval::symmetric(0.0, 1.0);
        let b = Interval { lower: 0.5, upper: 2.0 };
        let c = a.intersect(&b);
        assert_eq!(c, Interval { lower: 0.5, upper: 1.0 });
        assert!(c.above_zero() && !c.below_zero() && c.contains(0.75));
        let empty = c.intersect(&Interval { lower: 3.0, upper: 4.0 });
        assert!(empty.is_empty() && !empty.above_zero());
    }
}
