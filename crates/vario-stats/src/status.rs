//! Explicit outcomes for degenerate data instead of NaN or Inf (spec §14).

use serde::{Deserialize, Serialize};

/// Why a quantity cannot be computed from otherwise valid data (spec §14).
///
/// Computations return `Result<T, Degenerate>`; reports carry the matching
/// [`Status`]. It implements `std::error::Error` so that `?` works in callers that
/// treat it as a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Degenerate {
    /// The control mean is 0, so a relative lift is undefined (B10). The
    /// absolute test can still run.
    #[error("the baseline mean is 0, so the relative lift is undefined")]
    BaselineZero,
    /// The variance of the estimate is 0 (B09 relative, B13).
    #[error("the estimate has no variance")]
    ZeroVariance,
    /// An arm has at most one unit, so no variance can be estimated.
    #[error("an arm has too few units to estimate a variance")]
    InsufficientSample,
    /// A quantity overflowed `f64` (sums near `f64::MAX`, a baseline mean
    /// near 0). Not in the spec's list; added so that no NaN or Inf escapes.
    #[error("a quantity overflowed the floating-point range")]
    NonFinite,
}

/// What a report shows next to its numbers (spec §14):
/// `ok | baseline_zero | zero_variance | insufficient_sample` (plus
/// `non_finite`, see [`Degenerate::NonFinite`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Everything was computed.
    #[default]
    Ok,
    /// See [`Degenerate::BaselineZero`].
    BaselineZero,
    /// See [`Degenerate::ZeroVariance`].
    ZeroVariance,
    /// See [`Degenerate::InsufficientSample`].
    InsufficientSample,
    /// See [`Degenerate::NonFinite`].
    NonFinite,
}

impl From<Degenerate> for Status {
    fn from(d: Degenerate) -> Self {
        match d {
            Degenerate::BaselineZero => Self::BaselineZero,
            Degenerate::ZeroVariance => Self::ZeroVariance,
            Degenerate::InsufficientSample => Self::InsufficientSample,
            Degenerate::NonFinite => Self::NonFinite,
        }
    }
}

impl<T> From<&Result<T, Degenerate>> for Status {
    fn from(r: &Result<T, Degenerate>) -> Self {
        match r {
            Ok(_) => Self::Ok,
            Err(d) => (*d).into(),
        }
    }
}

/// Returns `value` if it is finite, [`Degenerate::NonFinite`] otherwise.
pub(crate) fn finite_or_degenerate(value: f64) -> Result<f64, Degenerate> {
    if value.is_finite() { Ok(value) } else { Err(Degenerate::NonFinite) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_snake_case() {
        let s = serde_json::to_string(&Status::InsufficientSample).unwrap();
        assert_eq!(s, "\"insufficient_sample\"");
        let r: Result<(), Degenerate> = Err(Degenerate::BaselineZero);
        assert_eq!(Status::from(&r), Status::BaselineZero);
        assert_eq!(Status::from(&Ok::<(), Degenerate>(())), Status::Ok);
    }

    #[test]
    fn non_finite_is_degenerate() {
        assert_eq!(finite_or_degenerate(f64::NAN), Err(Degenerate::NonFinite));
        assert_eq!(finite_or_degenerate(1.0), Ok(1.0));
    }
}
