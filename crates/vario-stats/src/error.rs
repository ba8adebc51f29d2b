//! Errors for invalid inputs and settings.
//!
//! Degenerate but valid data (a zero baseline, no variance, too few units)
//! is not an error: it is reported as a [`Degenerate`](crate::Degenerate)
//! reason or a [`Status`](crate::Status).

/// An input or setting that the statistics cannot be computed from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    /// A count was negative.
    #[error("{name} must not be negative, got {value}")]
    NegativeCount {
        /// Which count.
        name: &'static str,
        /// The value received.
        value: i128,
    },
    /// More successes than trials, e.g. more converting visitors than visitors.
    #[error("{name} ({value}) exceeds the number of units ({n})")]
    ExceedsCount {
        /// Which count.
        name: &'static str,
        /// The value received.
        value: u64,
        /// The number of units.
        n: u64,
    },
    /// A sum or value was NaN or infinite.
    #[error("{name} must be finite, got {value}")]
    NotFinite {
        /// Which quantity.
        name: &'static str,
        /// The value received.
        value: f64,
    },
    /// A sum of squares was negative.
    #[error("{name} must not be negative, got {value}")]
    NegativeSumOfSquares {
        /// Which quantity.
        name: &'static str,
        /// The value received.
        value: f64,
    },
    /// α must lie strictly between 0 and 1.
    #[error("alpha must be in (0, 1), got {0}")]
    InvalidAlpha(f64),
    /// A p-value must lie in [0, 1].
    #[error("p-value at position {index} must be in [0, 1], got {value}")]
    InvalidPValue {
        /// Position in the input slice.
        index: usize,
        /// The value received.
        value: f64,
    },
    /// A percentile must lie in [0, 1].
    #[error("percentile must be in [0, 1], got {0}")]
    InvalidPercentile(f64),
    /// A tuning parameter (N*, τ, prior sd, cap) must be positive and finite.
    #[error("{name} must be positive and finite, got {value}")]
    NotPositive {
        /// Which parameter.
        name: &'static str,
        /// The value received.
        value: f64,
    },
    /// A traffic weight was negative or not finite.
    #[error("weight at position {index} must be finite and not negative, got {value}")]
    InvalidWeight {
        /// Position in the input slice.
        index: usize,
        /// The value received.
        value: f64,
    },
    /// Two inputs that must have the same length do not.
    #[error("{what}: lengths differ ({left} vs {right})")]
    LengthMismatch {
        /// What was being compared.
        what: &'static str,
        /// Length of the first input.
        left: usize,
        /// Length of the second input.
        right: usize,
    },
    /// A CUPED statistic's in-experiment and pre-period parts cover different
    /// numbers of units.
    #[error("cuped post-period n ({post}) differs from pre-period n ({pre})")]
    UnitCountMismatch {
        /// Units in the in-experiment statistic.
        post: u64,
        /// Units in the pre-period statistic.
        pre: u64,
    },
    /// An input that must not be empty was empty, or all its weights were 0.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// An integer sum overflowed while merging.
    #[error("{0} overflowed while merging sufficient statistics")]
    Overflow(&'static str),
}

/// Checks that `value` is finite; names it in the error otherwise.
pub(crate) fn finite(name: &'static str, value: f64) -> Result<f64, StatsError> {
    if value.is_finite() { Ok(value) } else { Err(StatsError::NotFinite { name, value }) }
}

/// Checks that `value` is positive and finite.
pub(crate) fn positive(name: &'static str, value: f64) -> Result<f64, StatsError> {
    if value.is_finite() && value > 0.0 { Ok(value) } else { Err(StatsError::NotPositive { name, value }) }
}

/// Converts a signed count (as returned by SQL engines) to `u64`.
pub(crate) fn count(name: &'static str, value: i64) -> Result<u64, StatsError> {
    u64::try_from(value).map_err(|_| StatsError::NegativeCount { name, value: i128::from(value) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_and_name_the_value() {
        let e = StatsError::InvalidAlpha(1.5);
        assert_eq!(e.to_string(), "alpha must be in (0, 1), got 1.5");
        let e = count("visitors", -3).unwrap_err();
        assert_eq!(e.to_string(), "visitors must not be negative, got -3");
        let e = finite("sum", f64::NAN).unwrap_err();
        assert_eq!(e.to_string(), "sum must be finite, got NaN");
        assert!(positive("tau", 0.0).is_err());
        assert_eq!(positive("tau", 0.1), Ok(0.1));
    }
}
