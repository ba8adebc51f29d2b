//! Sufficient statistics: plain sums per variation and metric that merge
//! across shards, days and dimension values (spec §2).

use std::ops::{Add, AddAssign};

use serde::{Deserialize, Serialize};

use crate::error::{count, finite};
use crate::moments::{sample_covariance, sample_variance};
use crate::{Degenerate, Moments, StatsError};

/// A sum-based accumulator for one variation and one metric.
///
/// Merging with `+` gives the same statistic as computing on the union of
/// the units (spec §2).
pub trait SufficientStatistic: Copy + Add<Output = Self> + AddAssign {
    /// Number of units (visitors).
    fn n(&self) -> u64;

    /// The per-variation mean and per-unit variance (spec §3).
    ///
    /// Fails with [`Degenerate::InsufficientSample`] when there are no units
    /// (or, for ratios, a zero denominator sum) and with
    /// [`Degenerate::NonFinite`] when a sum overflows `f64`.
    fn moments(&self) -> Result<Moments, Degenerate>;
}

fn check_sum_squares(name: &'static str, value: f64) -> Result<f64, StatsError> {
    finite(name, value)?;
    if value < 0.0 {
        return Err(StatsError::NegativeSumOfSquares { name, value });
    }
    Ok(value)
}

// ==== Binomial ====

/// Unique conversions: `n` visitors, `sum` converting visitors (spec §2).
/// `sum_squares = sum`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BinomialStats {
    n: u64,
    sum: u64,
}

impl BinomialStats {
    /// Validates `sum ≤ n`.
    pub fn new(n: u64, sum: u64) -> Result<Self, StatsError> {
        if sum > n {
            return Err(StatsError::ExceedsCount { name: "conversions", value: sum, n });
        }
        Ok(Self { n, sum })
    }

    /// Like [`BinomialStats::new`] for signed counts, as SQL engines return them.
    pub fn from_i64(n: i64, sum: i64) -> Result<Self, StatsError> {
        Self::new(count("visitors", n)?, count("conversions", sum)?)
    }

    /// Adds one visitor.
    pub fn push(&mut self, converted: bool) {
        self.n = self.n.saturating_add(1);
        self.sum = self.sum.saturating_add(u64::from(converted));
    }

    /// Converting visitors.
    pub fn sum(&self) -> u64 {
        self.sum
    }
}

impl Add for BinomialStats {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self { n: self.n.saturating_add(rhs.n), sum: self.sum.saturating_add(rhs.sum) }
    }
}

impl AddAssign for BinomialStats {
    fn add_assign(&mut self, rhs: Self) {
        *self = *self + rhs;
    }
}

impl SufficientStatistic for BinomialStats {
    fn n(&self) -> u64 {
        self.n
    }

    /// `p = sum/n` and the plug-in variance `s² = p(1 − p)` (spec §3), as
    /// gbstats and the mSPRT paper's Bernoulli case use.
    fn moments(&self) -> Result<Moments, Degenerate> {
        if self.n == 0 {
            return Err(Degenerate::InsufficientSample);
        }
        let p = self.sum as f64 / self.n as f64;
        Moments::computed(self.n, p, p * (1.0 - p))
    }
}

// ==== Mean (floating-point values) ====

/// A mean metric over floating-point per-visitor totals (the `value` tag):
/// `n`, `sum = Σx`, `sum_squares = Σx²` (spec §2). For integer cents use
/// [`IntMeanStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MeanStats {
    n: u64,
    sum: f64,
    sum_squares: f64,
}

impl MeanStats {
    /// Validates that the sums are finite and `sum_squares ≥ 0`.
    pub fn new(n: u64, sum: f64, sum_squares: f64) -> Result<Self, StatsError> {
        Ok(Self { n, sum: finite("sum", sum)?, sum_squares: check_sum_squares("sum_squares", sum_squares)? })
    }

    /// Adds one visitor's total `x`.
    pub fn push(&mut self, x: f64) -> Result<(), StatsError> {
        finite("value", x)?;
        self.n = self.n.saturating_add(1);
        self.sum += x;
        self.sum_squares += x * x;
        Ok(())
    }

    /// `Σx`.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// `Σx²`.
    pub fn sum_squares(&self) -> f64 {
        self.sum_squares
    }
}

impl Add for MeanStats {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self {
            n: self.n.saturating_add(rhs.n),
            sum: self.sum + rhs.sum,
            sum_squares: self.sum_squares + rhs.sum_squares,
        }
    }
}

impl AddAssign for MeanStats {
    fn add_assign(&mut self, rhs: Self) {
        *self = *self + rhs;
    }
}

impl SufficientStatistic for MeanStats {
    fn n(&self) -> u64 {
        self.n
    }

    /// `m = sum/n`, `s² = (sum_squares − sum²/n)/(n − 1)` (spec §3).
    fn moments(&self) -> Result<Moments, Degenerate> {
        if self.n == 0 {
            return Err(Degenerate::InsufficientSample);
        }
        let variance = sample_variance(self.n, self.sum, self.sum_squares);
        Moments::computed(self.n, self.sum / self.n as f64, variance)
    }
}

// ==== Mean (integer values) ====

/// A mean metric over integer per-visitor totals (revenue in cents, event
/// counts), kept exact in `i128`/`u128` (spec §2: Σx² for revenue overflows
/// f64 exactness long before it overflows i128).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IntMeanStats {
    n: u64,
    sum: i128,
    sum_squares: u128,
}

impl IntMeanStats {
    /// Builds the statistic from its sums. Consistency (Σx² ≥ (Σx)²/n) is
    /// not checked; inconsistent sums give a variance clamped at 0.
    pub fn new(n: u64, sum: i128, sum_squares: u128) -> Self {
        Self { n, sum, sum_squares }
    }

    /// Like [`IntMeanStats::new`] for signed values, as SQL engines return
    /// them.
    pub fn from_i64(n: i64, sum: i128, sum_squares: i128) -> Result<Self, StatsError> {
        let sum_squares = u128::try_from(sum_squares)
            .map_err(|_| StatsError::NegativeCount { name: "sum_squares", value: sum_squares })?;
        Ok(Self::new(count("visitors", n)?, sum, sum_squares))
    }

    /// Adds one visitor's total `x` (e.g. cents). Saturates instead of
    /// wrapping on overflow.
    pub fn push(&mut self, x: i64) {
        let x = i128::from(x);
        self.n = self.n.saturating_add(1);
        self.sum = self.sum.saturating_add(x);
        self.sum_squares = self.sum_squares.saturating_add(x.unsigned_abs().pow(2));
    }

    /// Merges two statistics, failing instead of saturating on overflow.
    pub fn checked_add(self, rhs: Self) -> Result<Self, StatsError> {
        Ok(Self {
            n: self.n.checked_add(rhs.n).ok_or(StatsError::Overflow("n"))?,
            sum: self.sum.checked_add(rhs.sum).ok_or(StatsError::Overflow("sum"))?,
            sum_squares: self.sum_squares.checked_add(rhs.sum_squares).ok_or(StatsError::Overflow("sum_squares"))?,
        })
    }

    /// `Σx`.
    pub fn sum(&self) -> i128 {
        self.sum
    }

    /// `Σx²`.
    pub fn sum_squares(&self) -> u128 {
        self.sum_squares
    }

    /// The same sums as `f64`, e.g. to use as a CUPED or ratio component.
    pub fn to_f64(&self) -> MeanStats {
        MeanStats { n: self.n, sum: self.sum as f64, sum_squares: self.sum_squares as f64 }
    }

    /// `n·Σx² − (Σx)²` computed exactly, if it fits in `u128`.
    fn exact_centered_numerator(&self) -> Option<u128> {
        let n_ss = u128::from(self.n).checked_mul(self.sum_squares)?;
        let s2 = self.sum.unsigned_abs().checked_pow(2)?;
        Some(n_ss.saturating_sub(s2))
    }
}

impl Add for IntMeanStats {
    type Output = Self;
    /// Saturates on overflow; use [`IntMeanStats::checked_add`] to detect it.
    fn add(self, rhs: Self) -> Self {
        Self {
            n: self.n.saturating_add(rhs.n),
            sum: self.sum.saturating_add(rhs.sum),
            sum_squares: self.sum_squares.saturating_add(rhs.sum_squares),
        }
    }
}

impl AddAssign for IntMeanStats {
    fn add_assign(&mut self, rhs: Self) {
        *self = *self + rhs;
    }
}

impl SufficientStatistic for IntMeanStats {
    fn n(&self) -> u64 {
        self.n
    }

    /// As [`MeanStats`], with `s² = (n·Σx² − (Σx)²)/(n(n − 1))` evaluated in
    /// exact integer arithmetic before the one conversion to `f64` (spec §2,
    /// §3).
    fn moments(&self) -> Result<Moments, Degenerate> {
        if self.n == 0 {
            return Err(Degenerate::InsufficientSample);
        }
        let nf = self.n as f64;
        let mean = self.sum as f64 / nf;
        let variance = if self.n <= 1 {
            0.0
        } else {
            match self.exact_centered_numerator() {
                Some(num) => num as f64 / nf / (nf - 1.0),
                None => self.to_f64().moments()?.variance(),
            }
        };
        Moments::computed(self.n, mean, variance)
    }
}

// ==== Ratio ====

/// A ratio metric `r = Σm/Σd` over `n` units, e.g. revenue per order
/// (spec §2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RatioStats {
    n: u64,
    m_sum: f64,
    m_sum_squares: f64,
    d_sum: f64,
    d_sum_squares: f64,
    md_sum_product: f64,
}

impl RatioStats {
    /// Validates that the sums are finite and the sums of squares are ≥ 0.
    pub fn new(
        n: u64,
        m_sum: f64,
        m_sum_squares: f64,
        d_sum: f64,
        d_sum_squares: f64,
        md_sum_product: f64,
    ) -> Result<Self, StatsError> {
        Ok(Self {
            n,
            m_sum: finite("m_sum", m_sum)?,
            m_sum_squares: check_sum_squares("m_sum_squares", m_sum_squares)?,
            d_sum: finite("d_sum", d_sum)?,
            d_sum_squares: check_sum_squares("d_sum_squares", d_sum_squares)?,
            md_sum_product: finite("md_sum_product", md_sum_product)?,
        })
    }

    /// Adds one unit with numerator `m` and denominator `d`.
    pub fn push(&mut self, m: f64, d: f64) -> Result<(), StatsError> {
        finite("numerator", m)?;
        finite("denominator", d)?;
        self.n = self.n.saturating_add(1);
        self.m_sum += m;
        self.m_sum_squares += m * m;
        self.d_sum += d;
        self.d_sum_squares += d * d;
        self.md_sum_product += m * d;
        Ok(())
    }

    /// `Σm`.
    pub fn m_sum(&self) -> f64 {
        self.m_sum
    }

    /// `Σd`.
    pub fn d_sum(&self) -> f64 {
        self.d_sum
    }
}

impl Add for RatioStats {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self {
            n: self.n.saturating_add(rhs.n),
            m_sum: self.m_sum + rhs.m_sum,
            m_sum_squares: self.m_sum_squares + rhs.m_sum_squares,
            d_sum: self.d_sum + rhs.d_sum,
            d_sum_squares: self.d_sum_squares + rhs.d_sum_squares,
            md_sum_product: self.md_sum_product + rhs.md_sum_product,
        }
    }
}

impl AddAssign for RatioStats {
    fn add_assign(&mut self, rhs: Self) {
        *self = *self + rhs;
    }
}

impl SufficientStatistic for RatioStats {
    fn n(&self) -> u64 {
        self.n
    }

    /// `r = m_sum/d_sum` and the delta-method per-unit variance
    /// `s_r² = s_m²/D² − 2·cov·M/D³ + M²·s_d²/D⁴` (spec §3), so that
    /// `Var(r) = s_r²/n`. A zero denominator sum (no orders) is
    /// [`Degenerate::InsufficientSample`].
    fn moments(&self) -> Result<Moments, Degenerate> {
        if self.n == 0 || self.d_sum == 0.0 {
            return Err(Degenerate::InsufficientSample);
        }
        let nf = self.n as f64;
        let (m, d) = (self.m_sum / nf, self.d_sum / nf);
        let var_m = sample_variance(self.n, self.m_sum, self.m_sum_squares);
        let var_d = sample_variance(self.n, self.d_sum, self.d_sum_squares);
        let cov = sample_covariance(self.n, self.m_sum, self.d_sum, self.md_sum_product);
        let variance = var_m / d.powi(2) - 2.0 * cov * m / d.powi(3) + m.powi(2) * var_d / d.powi(4);
        Moments::computed(self.n, self.m_sum / self.d_sum, variance)
    }
}

// ==== CUPED ====

/// A mean metric `y` with a pre-period covariate `x` for CUPED (spec §2,
/// §12): the mean fields plus `pre_sum`, `pre_sum_squares` and
/// `post_pre_sum_product = Σ y·x`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CupedStats {
    post: MeanStats,
    pre: MeanStats,
    post_pre_sum_product: f64,
}

impl CupedStats {
    /// Combines the in-experiment statistic `post`, the pre-period
    /// statistic `pre` (same units, so the same `n`) and `Σ y·x`.
    pub fn new(post: MeanStats, pre: MeanStats, post_pre_sum_product: f64) -> Result<Self, StatsError> {
        if post.n != pre.n {
            return Err(StatsError::UnitCountMismatch { post: post.n, pre: pre.n });
        }
        Ok(Self { post, pre, post_pre_sum_product: finite("post_pre_sum_product", post_pre_sum_product)? })
    }

    /// Adds one unit with in-experiment value `y` and pre-period value `x`
    /// (0 if the unit has no pre-period data).
    pub fn push(&mut self, y: f64, x: f64) -> Result<(), StatsError> {
        finite("pre-period value", x)?;
        self.post.push(y)?;
        self.pre.push(x)?;
        self.post_pre_sum_product += y * x;
        Ok(())
    }

    /// The in-experiment statistic.
    pub fn post(&self) -> &MeanStats {
        &self.post
    }

    /// The pre-period statistic.
    pub fn pre(&self) -> &MeanStats {
        &self.pre
    }

    /// `Σ y·x`.
    pub fn post_pre_sum_product(&self) -> f64 {
        self.post_pre_sum_product
    }

    /// Sample covariance of `y` and `x` (`n − 1` denominator).
    pub(crate) fn covariance(&self) -> f64 {
        sample_covariance(self.post.n, self.post.sum, self.pre.sum, self.post_pre_sum_product)
    }
}

impl Add for CupedStats {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self {
            post: self.post + rhs.post,
            pre: self.pre + rhs.pre,
            post_pre_sum_product: self.post_pre_sum_product + rhs.post_pre_sum_product,
        }
    }
}

impl AddAssign for CupedStats {
    fn add_assign(&mut self, rhs: Self) {
        *self = *self + rhs;
    }
}

impl SufficientStatistic for CupedStats {
    fn n(&self) -> u64 {
        self.post.n
    }

    /// The unadjusted moments of `y`; see [`cuped_effect`](crate::cuped_effect) for the adjusted
    /// ones.
    fn moments(&self) -> Result<Moments, Degenerate> {
        self.post.moments()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_b02_moments() {
        // Spec §3, B02: p = 0.1, 0.13; s² = 0.09, 0.1131.
        let c = BinomialStats::new(1000, 100).unwrap().moments().unwrap();
        let t = BinomialStats::new(1000, 130).unwrap().moments().unwrap();
        assert!((c.mean() - 0.1).abs() < 1e-15 && (c.variance() - 0.09).abs() < 1e-15);
        assert!((t.mean() - 0.13).abs() < 1e-15 && (t.variance() - 0.1131).abs() < 1e-15);
    }

    #[test]
    fn binomial_rejects_bad_counts() {
        assert!(matches!(BinomialStats::new(10, 11), Err(StatsError::ExceedsCount { value: 11, n: 10, .. })));
        assert!(matches!(BinomialStats::from_i64(-1, 0), Err(StatsError::NegativeCount { value: -1, .. })));
        assert_eq!(BinomialStats::default().moments(), Err(Degenerate::InsufficientSample));
    }

    #[test]
    fn mean_rejects_non_finite_sums() {
        assert!(MeanStats::new(3, f64::NAN, 1.0).is_err());
        assert!(MeanStats::new(3, 1.0, -1.0).is_err());
        assert!(MeanStats::default().push(f64::INFINITY).is_err());
        assert!(IntMeanStats::from_i64(3, 1, -1).is_err());
    }

    #[test]
    fn integer_sums_are_exact_where_f64_is_not() {
        // Two visitors at 2^53 + 1 and 2^53 + 3 cents: f64 cannot even hold
        // the values, the integer path gets the variance 2 exactly.
        let mut s = IntMeanStats::default();
        s.push((1 << 53) + 1);
        s.push((1 << 53) + 3);
        assert_eq!(s.moments().unwrap().variance(), 2.0);
    }

    #[test]
    fn integer_merge_detects_overflow() {
        let big = IntMeanStats::new(1, i128::MAX, 1);
        assert!(big.checked_add(big).is_err());
        assert_eq!((big + big).sum(), i128::MAX);
        let s = IntMeanStats::new(2, 3, 5);
        assert_eq!(s.checked_add(s), Ok(IntMeanStats::new(4, 6, 10)));
    }

    #[test]
    fn integer_variance_falls_back_to_f64_when_numerator_overflows() {
        let s = IntMeanStats::new(u64::MAX, 0, u128::MAX / 2);
        assert!(s.moments().unwrap().variance().is_finite());
    }

    #[test]
    fn ratio_with_zero_denominator_is_degenerate() {
        let r = RatioStats::new(5, 10.0, 30.0, 0.0, 0.0, 0.0).unwrap();
        assert_eq!(r.moments(), Err(Degenerate::InsufficientSample));
    }

    #[test]
    fn ratio_matches_direct_delta_method() {
        let mut r = RatioStats::default();
        for (m, d) in [(10.0, 1.0), (0.0, 1.0), (35.0, 2.0), (5.0, 1.0)] {
            r.push(m, d).unwrap();
        }
        let mm = r.moments().unwrap();
        assert!((mm.mean() - 10.0).abs() < 1e-12);
        // M = 12.5, D = 1.25, s_m² = 725/3, s_d² = 0.25, cov = 7.5
        let expected = 725.0 / 3.0 / 1.5625 - 2.0 * 7.5 * 12.5 / 1.953125 + 156.25 * 0.25 / 2.44140625;
        assert!((mm.variance() - expected).abs() < 1e-9);
    }

    #[test]
    fn cuped_requires_matching_unit_counts() {
        let post = MeanStats::new(3, 1.0, 1.0).unwrap();
        let pre = MeanStats::new(4, 1.0, 1.0).unwrap();
        let err = CupedStats::new(post, pre, 0.0).unwrap_err();
        assert_eq!(err.to_string(), "cuped post-period n (3) differs from pre-period n (4)");
    }
}
