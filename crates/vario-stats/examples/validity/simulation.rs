//! Simulated experiments for the validity report: A/A experiments peeked
//! at regularly (false positives) and experiments with a true lift (sample
//! needed to detect it).
//!
//! Each simulated visitor is drawn one at a time and added to per-variation
//! sufficient statistics; at every look the statistics are analysed with the
//! crate's public API the way the results engine does it: a [`Comparison`]
//! of treatment against control, the headline scale's mSPRT look fed to a
//! persisted [`AlwaysValid`] state, and [`decide`] for the call shown to
//! users.
//!
//! Run `r` of a simulation uses ChaCha8 stream `r` of the seed, so results
//! depend only on the seed and the settings, not on the number of threads.

use std::num::NonZeroUsize;
use std::thread;

use rand::rngs::ChaCha8Rng;
use rand::{Rng, RngExt, SeedableRng};
use statrs::distribution::{Beta, ContinuousCDF, Normal};
use vario_stats::{
    Alpha, AlwaysValid, AnalysisSettings, BinomialStats, Comparison, Decision, IntMeanStats, MixingRule,
    SufficientStatistic, binary_min_sample_met, decide, msprt, numeric_min_sample_met,
};

/// What to simulate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// Number of simulated experiments.
    pub(crate) runs: u32,
    /// Visitors (both variations together) between two looks; 0 is read as
    /// 1 so that a run always ends.
    pub(crate) look_every: u64,
    /// Visitors at which an experiment stops if nothing stopped it earlier.
    pub(crate) max_visitors: u64,
    /// Seed of the random streams.
    pub(crate) seed: u64,
    /// Conversion rate of the control.
    pub(crate) baseline: f64,
    /// True relative lift of the treatment's conversion rate (0 for A/A).
    pub(crate) lift: f64,
    /// Amounts spent by converting visitors (A/A revenue metric).
    pub(crate) revenue: Revenue,
    /// The project settings analysed with (α and the default mixing rule).
    pub(crate) settings: AnalysisSettings,
    /// A second mixing rule evaluated on the same data, to show how the
    /// tuning parameter trades early against late detection.
    pub(crate) alternative_mixing: MixingRule,
}

/// Per-visitor revenue of the A/A revenue metric: a buyer (the conversion
/// of the conversion metric) spends a log-normal amount, everyone else 0.
/// Buyers' amounts are right-skewed (mean `median·exp(log_sd²/2)`), which is
/// what makes revenue harder than conversions for tests built on a normal
/// approximation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Revenue {
    /// Median amount of a buyer, in cents.
    pub(crate) median_cents: f64,
    /// Standard deviation of the amount's logarithm.
    pub(crate) log_sd: f64,
}

/// How often each test declared a difference, over all runs of an A/A plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FalsePositives {
    /// Runs simulated.
    pub(crate) runs: u32,
    /// Sequential test: `p* ≤ α` at some look (default mixing rule).
    pub(crate) sequential: u32,
    /// Sequential test: a winner or loser shown at some look, i.e. also the
    /// minimum-sample rules of spec §9 (default mixing rule).
    pub(crate) sequential_decided: u32,
    /// Sequential test with the alternative mixing rule: `p* ≤ α` at some
    /// look.
    pub(crate) sequential_alternative: u32,
    /// Sequential test (default mixing rule) on the absolute difference
    /// `Δ = m_t − m_c` instead of the relative lift: `p* ≤ α` at some look.
    /// Same null hypothesis, different normal approximation.
    pub(crate) sequential_absolute: u32,
    /// Fixed-horizon Welch test: `p ≤ α` at some look.
    pub(crate) naive_peeking: u32,
    /// Fixed-horizon Welch test: `p ≤ α` at the planned end only.
    pub(crate) fixed_once: u32,
}

/// A/A results for the two metrics of the same simulated experiments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AaResults {
    /// Unique conversions (binomial).
    pub(crate) conversion: FalsePositives,
    /// Revenue per visitor in cents (skewed; see [`Revenue`]).
    pub(crate) revenue: FalsePositives,
}

/// When one run with a true lift was first detected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Detection {
    /// Visitors at the first look where the sequential test (default mixing
    /// rule) showed the treatment as the winner; `None` if not within the cap.
    pub(crate) sequential: Option<u64>,
    /// The same with the alternative mixing rule.
    pub(crate) alternative: Option<u64>,
    /// Whether any look showed the treatment as the loser (a wrong-sign call).
    pub(crate) wrong_sign: bool,
    /// Whether the fixed-horizon Welch test, evaluated once at the look
    /// `fixed_at`, found the treatment significantly better.
    pub(crate) fixed_significant: bool,
}

/// The significance rule of the sequential test and of the naive one.
fn significant(p: f64, alpha: Alpha) -> bool {
    p <= alpha.get()
}

/// The always-valid state of one metric of one run, and what was seen so
/// far.
struct Tracker {
    state: AlwaysValid,
    alternative: AlwaysValid,
    absolute: AlwaysValid,
    seen: FalsePositives,
    last_decision: Decision,
}

impl Tracker {
    fn new() -> Self {
        Self {
            state: AlwaysValid::new(),
            alternative: AlwaysValid::new(),
            absolute: AlwaysValid::new(),
            seen: FalsePositives { runs: 1, ..FalsePositives::default() },
            last_decision: Decision::Inconclusive,
        }
    }

    /// Analyses one look as the results engine does and records what a user
    /// would have seen. `last` marks the planned end of the experiment.
    fn look<S: SufficientStatistic>(
        &mut self,
        control: &S,
        treatment: &S,
        min_sample_met: bool,
        plan: &Plan,
        last: bool,
    ) {
        let alpha = plan.settings.alpha;
        let comparison = Comparison::from_stats(control, treatment, &plan.settings);
        if let Some(look) = comparison.absolute.sequential {
            self.absolute.observe(&look);
        }
        // Looks where no scale can be tested (e.g. no conversion yet in
        // either arm) leave the state unchanged, as they would in the engine.
        if let Some(headline) = comparison.headline() {
            if let Some(look) = headline.sequential {
                self.state.observe(&look);
            }
            if let Some(effect) = headline.effect
                && let Ok(look) = msprt(&effect, alpha, plan.alternative_mixing)
            {
                self.alternative.observe(&look);
            }
            if let Some(fixed) = headline.fixed_horizon {
                let hit = u32::from(significant(fixed.p_value, alpha));
                self.seen.naive_peeking |= hit;
                if last {
                    self.seen.fixed_once |= hit;
                }
            }
        }
        self.seen.sequential |= u32::from(self.state.rejects(alpha));
        self.seen.sequential_alternative |= u32::from(self.alternative.rejects(alpha));
        self.seen.sequential_absolute |= u32::from(self.absolute.rejects(alpha));
        self.last_decision = match self.state.ci() {
            Some(ci) => decide(self.state.p_value(), &ci, alpha, false, min_sample_met),
            None => Decision::Inconclusive,
        };
        self.seen.sequential_decided |= u32::from(self.last_decision != Decision::Inconclusive);
    }
}

/// A uniform draw in (0, 1], safe for `ln`.
fn open_unit(rng: &mut ChaCha8Rng) -> f64 {
    1.0 - rng.random::<f64>()
}

/// A standard normal draw (Box–Muller; the second value is discarded to keep
/// the stream simple).
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let radius = (-2.0 * open_unit(rng).ln()).sqrt();
    radius * (std::f64::consts::TAU * rng.random::<f64>()).cos()
}

/// `u64` threshold for an event of probability `p`: `next_u64() < t` has
/// probability `t/2⁶⁴`, within 2⁻⁶⁴ of `p`.
fn threshold(p: f64) -> u64 {
    // The float-to-int cast saturates, so p = 1 gives u64::MAX.
    (p.clamp(0.0, 1.0) * 18_446_744_073_709_551_616.0) as u64
}

/// The random stream of run `run`.
fn stream(seed: u64, run: u32) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::from(run));
    rng
}

/// One A/A experiment: visitors split 50/50 at random, both variations with
/// the same conversion rate and revenue distribution, analysed at every look
/// up to `max_visitors`.
fn aa_run(plan: &Plan, run: u32) -> AaResults {
    let mut rng = stream(plan.seed, run);
    let step = plan.look_every.max(1);
    let convert = threshold(plan.baseline);
    let log_median = plan.revenue.median_cents.ln();
    let mut conversions = [BinomialStats::default(); 2];
    let mut revenue = [IntMeanStats::default(); 2];
    let (mut conversion_tracker, mut revenue_tracker) = (Tracker::new(), Tracker::new());
    let mut visitors = 0;
    while visitors < plan.max_visitors {
        for _ in 0..step {
            let arm = usize::from(rng.next_u32() & 1 == 1);
            let converted = rng.next_u64() < convert;
            conversions[arm].push(converted);
            let cents = if converted {
                // Rounded to whole cents, as revenue is stored; amounts stay
                // far below i64::MAX (the cast saturates regardless).
                (log_median + plan.revenue.log_sd * standard_normal(&mut rng)).exp().round() as i64
            } else {
                0
            };
            revenue[arm].push(cents);
        }
        visitors += step;
        let last = visitors >= plan.max_visitors;
        let [c, t] = &conversions;
        conversion_tracker.look(c, t, binary_min_sample_met(c, t), plan, last);
        let [c, t] = &revenue;
        revenue_tracker.look(c, t, numeric_min_sample_met(t.n()), plan, last);
    }
    AaResults { conversion: conversion_tracker.seen, revenue: revenue_tracker.seen }
}

/// One experiment with a true lift on the conversion rate, run until the
/// sequential test (both mixing rules) has called a winner and the look at
/// `fixed_at` visitors has been analysed, or until `max_visitors`.
fn power_run(plan: &Plan, fixed_at: u64, run: u32) -> Detection {
    let mut rng = stream(plan.seed, run);
    let step = plan.look_every.max(1);
    let rates = [threshold(plan.baseline), threshold(plan.baseline * (1.0 + plan.lift))];
    let mut arms = [BinomialStats::default(); 2];
    let mut tracker = Tracker::new();
    let mut detection = Detection::default();
    let mut visitors = 0;
    while visitors < plan.max_visitors {
        for _ in 0..step {
            let arm = usize::from(rng.next_u32() & 1 == 1);
            arms[arm].push(rng.next_u64() < rates[arm]);
        }
        visitors += step;
        let [c, t] = &arms;
        let at_fixed = visitors == fixed_at;
        tracker.look(c, t, binary_min_sample_met(c, t), plan, at_fixed);
        if at_fixed {
            // The Welch test at the planned size, counted only in the right
            // direction (a significant drop is no detection of a lift).
            let better = t.moments().is_ok_and(|mt| c.moments().is_ok_and(|mc| mt.mean() > mc.mean()));
            detection.fixed_significant = tracker.seen.fixed_once == 1 && better;
        }
        if tracker.last_decision == Decision::Winner && detection.sequential.is_none() {
            detection.sequential = Some(visitors);
        }
        if tracker.last_decision == Decision::Loser {
            detection.wrong_sign = true;
        }
        if tracker.seen.sequential_alternative == 1
            && detection.alternative.is_none()
            && tracker.alternative.ci().is_some_and(|ci| ci.above_zero())
        {
            detection.alternative = Some(visitors);
        }
        if detection.sequential.is_some() && detection.alternative.is_some() && visitors >= fixed_at {
            break;
        }
    }
    detection
}

/// Runs `f` for every run index on up to `threads` threads, in run order;
/// `None` if a worker panicked.
fn parallel<T: Send>(runs: u32, threads: NonZeroUsize, f: impl Fn(u32) -> T + Sync) -> Option<Vec<T>> {
    let threads = u32::try_from(threads.get()).unwrap_or(1).clamp(1, runs.max(1));
    let chunk = runs.div_ceil(threads);
    thread::scope(|scope| {
        let f = &f;
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                let start = i * chunk;
                let end = runs.min(start + chunk);
                scope.spawn(move || (start..end).map(f).collect::<Vec<T>>())
            })
            .collect();
        // Results are only reported when every run completed: partial
        // counts would silently change the denominators.
        let mut all = Vec::with_capacity(runs as usize);
        for worker in workers {
            all.extend(worker.join().ok()?);
        }
        Some(all)
    })
}

/// Simulates `plan.runs` A/A experiments; `None` if a worker failed.
pub(crate) fn simulate_aa(plan: &Plan, threads: NonZeroUsize) -> Option<AaResults> {
    let add = |a: FalsePositives, b: FalsePositives| FalsePositives {
        runs: a.runs + b.runs,
        sequential: a.sequential + b.sequential,
        sequential_decided: a.sequential_decided + b.sequential_decided,
        sequential_alternative: a.sequential_alternative + b.sequential_alternative,
        sequential_absolute: a.sequential_absolute + b.sequential_absolute,
        naive_peeking: a.naive_peeking + b.naive_peeking,
        fixed_once: a.fixed_once + b.fixed_once,
    };
    let runs = parallel(plan.runs, threads, |run| aa_run(plan, run))?;
    Some(runs.into_iter().fold(AaResults::default(), |acc, r| AaResults {
        conversion: add(acc.conversion, r.conversion),
        revenue: add(acc.revenue, r.revenue),
    }))
}

/// Simulates `plan.runs` experiments with a true lift; `fixed_at` is the
/// look (a multiple of `plan.look_every`) where the fixed-horizon test is
/// evaluated once. `None` if a worker failed.
pub(crate) fn simulate_power(plan: &Plan, fixed_at: u64, threads: NonZeroUsize) -> Option<Vec<Detection>> {
    parallel(plan.runs, threads, |run| power_run(plan, fixed_at, run))
}

/// Total visitors (both arms, 50/50) a two-sided fixed-horizon test at level
/// `alpha` needs for power `power` against conversion rates `p_c` and `p_t`:
/// `2·(z_{1−α/2} + z_{power})²·(p_c(1−p_c) + p_t(1−p_t))/(p_t − p_c)²`,
/// the usual formula with unpooled variances, rounded up per arm.
pub(crate) fn fixed_horizon_visitors(alpha: Alpha, power: f64, p_c: f64, p_t: f64) -> Option<u64> {
    let normal = Normal::standard();
    let z = normal.inverse_cdf(1.0 - alpha.get() / 2.0) + normal.inverse_cdf(power);
    let per_arm = z * z * (p_c * (1.0 - p_c) + p_t * (1.0 - p_t)) / (p_t - p_c).powi(2);
    (per_arm.is_finite() && per_arm > 0.0).then(|| 2 * per_arm.ceil() as u64)
}

/// Clopper–Pearson (exact) interval at level `1 − a` for `k` successes in
/// `n` trials.
pub(crate) fn clopper_pearson(k: u32, n: u32, a: f64) -> Option<(f64, f64)> {
    if n == 0 || k > n {
        return None;
    }
    let (k, n) = (f64::from(k), f64::from(n));
    let lower = if k == 0.0 { 0.0 } else { Beta::new(k, n - k + 1.0).ok()?.inverse_cdf(a / 2.0) };
    let upper = if k == n { 1.0 } else { Beta::new(k + 1.0, n - k).ok()?.inverse_cdf(1.0 - a / 2.0) };
    Some((lower, upper))
}

/// The `q`-quantile (0 ≤ q ≤ 1, nearest rank) of detection sizes, where
/// `None` (never detected) ranks above every size; `None` if that rank
/// falls on an undetected run.
pub(crate) fn quantile(sizes: &[Option<u64>], q: f64) -> Option<u64> {
    let mut sorted: Vec<u64> = sizes.iter().map(|s| s.unwrap_or(u64::MAX)).collect();
    sorted.sort_unstable();
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank - 1).copied().filter(|&s| s != u64::MAX)
}
