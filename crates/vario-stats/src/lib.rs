//! Pure statistics for Vario's results engine: no I/O, no clocks, no async.
//!
//! The pipeline for one experiment × variation × metric, with the section of
//! the statistics spec (`stats.md`) each step implements:
//!
//! 1. Accumulate plain, mergeable sums per variation (§2):
//!    [`BinomialStats`], [`MeanStats`], [`IntMeanStats`] (exact integer
//!    cents), [`RatioStats`], [`CupedStats`]. All implement
//!    [`SufficientStatistic`] and merge with `+`.
//! 2. Turn them into per-arm [`Moments`] (mean and per-unit variance, §3).
//! 3. Compare treatment with control as an [`Effect`] on the absolute or
//!    relative [`Scale`] (§4), or with CUPED ([`cuped_effect`], §12).
//! 4. Test it: the fixed-horizon Welch test [`welch_test`] (§5) and the
//!    always-valid mSPRT [`msprt`] (§6, §7), whose looks feed an
//!    [`AlwaysValid`] state holding the running minimum p-value and the
//!    running interval intersection.
//! 5. Across variations × metrics: [`benjamini_hochberg`] (§10); then
//!    [`decide`] with the minimum-sample rules (§9).
//!
//! Also: [`srm_test`] (§11), winsorization ([`pooled_cap`], [`winsorize`],
//! §13), the optional Bayesian readout [`bayesian_readout`] (§8), and
//! [`Comparison`], which runs both tests on both scales and applies the
//! §14 rules. Degenerate data yields a [`Degenerate`] reason or a
//! [`Status`], never NaN; invalid inputs yield a [`StatsError`].
//!
//! ```
//! use vario_stats::{
//!     Alpha, AlwaysValid, BinomialStats, Effect, MixingRule, SufficientStatistic, msprt,
//!     welch_test,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Spec example B02: 100/1000 conversions in control, 130/1000 in treatment.
//! let control = BinomialStats::new(1000, 100)?.moments()?;
//! let treatment = BinomialStats::new(1000, 130)?.moments()?;
//! let lift = Effect::relative(&control, &treatment)?;
//! assert!((lift.estimate() - 0.3).abs() < 1e-12);
//!
//! let fixed = welch_test(&lift, Alpha::DEFAULT)?;
//! assert!((fixed.p_value - 0.06559733260262468).abs() < 1e-9);
//!
//! let look = msprt(&lift, Alpha::DEFAULT, MixingRule::default())?;
//! let mut state = AlwaysValid::new();
//! state.observe(&look);
//! assert!((state.p_value() - 0.5622208729310174).abs() < 1e-12);
//! assert!(!state.rejects(Alpha::DEFAULT));
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod alpha;
mod bayes;
mod comparison;
mod cuped;
mod decision;
mod distribution;
mod effect;
mod error;
mod fdr;
mod interval;
mod moments;
mod sequential;
mod srm;
mod statistic;
mod status;
mod welch;
mod winsorize;

pub use alpha::Alpha;
pub use bayes::{BayesianReadout, GaussianPrior, bayesian_readout};
pub use comparison::{AnalysisSettings, Comparison, ScaleReport};
pub use cuped::{cuped_effect, cuped_theta};
pub use decision::{
    Decision, MIN_CONVERSIONS, MIN_VISITORS, binary_min_sample_met, decide, numeric_min_sample_met, significance,
    significance_label,
};
pub use effect::{Effect, Scale};
pub use error::StatsError;
pub use fdr::{MonitoringPolicy, Tier, benjamini_hochberg, benjamini_hochberg_tiered, fcr_alpha};
pub use interval::Interval;
pub use moments::Moments;
pub use sequential::{AlwaysValid, DEFAULT_TUNING_N, MixingRule, SequentialLook, msprt, rho2};
pub use srm::{DEFAULT_SRM_THRESHOLD, Srm, srm_test};
pub use statistic::{BinomialStats, CupedStats, IntMeanStats, MeanStats, RatioStats, SufficientStatistic};
pub use status::{Degenerate, Status};
pub use welch::{FixedHorizon, welch_test};
pub use winsorize::{CapRule, absolute_cap, percentile, pooled_cap, winsorize};
