//! Every worked example of `stats.md` §2–§15 that gives its inputs, as a
//! named test. Examples whose inputs the spec does not print (R07/R08, R14,
//! R15, S04) are covered by the generated reference cases instead; see the
//! crate README.

use vario_stats::{
    Alpha, AlwaysValid, BinomialStats, Comparison, Decision, Degenerate, Effect, GaussianPrior, IntMeanStats,
    MeanStats, MixingRule, Moments, Scale, Status, SufficientStatistic, bayesian_readout, benjamini_hochberg,
    binary_min_sample_met, decide, msprt, rho2, significance_label, srm_test, welch_test,
};

fn binomial(n: u64, sum: u64) -> Moments {
    BinomialStats::new(n, sum).unwrap().moments().unwrap()
}

fn b02() -> (Moments, Moments) {
    (binomial(1000, 100), binomial(1000, 130))
}

fn gb(tuning_n: f64) -> MixingRule {
    MixingRule::proportional(tuning_n).unwrap()
}

// ==== §2 sufficient statistics ====

#[test]
fn s2_attribution_revenue_sums_accumulate_exactly() {
    // Arm A of the `attribution` vector: per-visitor revenue 2500, 700, 0 cents.
    let mut a = IntMeanStats::default();
    a.push(2500);
    let mut rest = IntMeanStats::default();
    rest.push(700);
    rest.push(0);
    let merged = a + rest;
    assert_eq!(merged.n(), 3);
    assert_eq!(merged.sum(), 3200);
    assert_eq!(merged.sum_squares(), 6_740_000);
}

// ==== §3 per-variation estimators ====

#[test]
fn s3_b02_rates_and_plug_in_variances() {
    let (c, t) = b02();
    assert_close!(c.mean(), 0.1);
    assert_close!(t.mean(), 0.13);
    assert_close!(c.variance(), 0.09);
    assert_close!(t.variance(), 0.1131);
}

// ==== §4 effects ====

#[test]
fn s4_b02_relative_and_absolute_effects() {
    let (c, t) = b02();
    let rel = Effect::relative(&c, &t).unwrap();
    assert_close!(rel.estimate(), 0.3);
    assert_close!(rel.variance(), 0.02652);
    assert_close!(rel.se(), 0.16284962388657825);
    let abs = Effect::absolute(&c, &t).unwrap();
    assert_close!(abs.estimate(), 0.03);
    assert_close!(abs.se(), 0.014251315728731857);
}

// ==== §5 Welch ====

#[test]
fn s5_b02_welch_relative_matches_gbstats_freq_rel() {
    let (c, t) = b02();
    let r = welch_test(&Effect::relative(&c, &t).unwrap(), Alpha::DEFAULT).unwrap();
    assert_close!(r.df, 1972.48370948912);
    assert_close!(r.p_value, 0.06559733260262468);
    assert_close!(r.ci.lower, -0.019375372265978963);
    assert_close!(r.ci.upper, 0.6193753722659789);
}

#[test]
fn s5_b02_welch_absolute_matches_gbstats_freq_abs() {
    let (c, t) = b02();
    let r = welch_test(&Effect::absolute(&c, &t).unwrap(), Alpha::DEFAULT).unwrap();
    assert_close!(r.p_value, 0.03541149025749646);
    assert_close!(r.ci.lower, 0.0020507842909493826);
    assert_close!(r.ci.upper, 0.057949215709050615);
}

#[test]
fn s5_b02_sample_variance_welch_matches_scipy() {
    // The same data as a mean metric (n − 1 variances): scipy's Welch.
    let c = MeanStats::new(1000, 100.0, 100.0).unwrap().moments().unwrap();
    let t = MeanStats::new(1000, 130.0, 130.0).unwrap().moments().unwrap();
    let r = welch_test(&Effect::absolute(&c, &t).unwrap(), Alpha::DEFAULT).unwrap();
    assert_close!(r.p_value, 0.03550333505785883);
}

// ==== §6 mSPRT ====

#[test]
fn s6_b02_msprt_relative_growthbook_rule() {
    let (c, t) = b02();
    let e = Effect::relative(&c, &t).unwrap();
    assert_close!(rho2(Alpha::DEFAULT, 5000.0).sqrt(), 0.03984006677137368);
    let look = msprt(&e, Alpha::DEFAULT, gb(5000.0)).unwrap();
    assert_close!(look.tau2, 0.0841867280152321);
    assert_close!(look.log_lambda, 0.5758604939647929);
    assert_close!(look.p_value, 0.5622208729310174);
    assert_close!(look.ci.lower, -0.20870625018398675);
    assert_close!(look.ci.upper, 0.8087062501839868);
}

#[test]
fn s6_b02_msprt_fixed_tau_on_relative_lift() {
    let (c, t) = b02();
    let e = Effect::relative(&c, &t).unwrap();
    let look = msprt(&e, Alpha::DEFAULT, MixingRule::fixed(0.1).unwrap()).unwrap();
    assert_close!(look.log_lambda, 0.3046506005746147);
    assert_close!(look.p_value, 0.7373809698743145);
    assert_close!(look.ci.lower, -0.4818363751489086);
    assert_close!(look.ci.upper, 1.0818363751489086);
}

/// One row of the S02 table (spec §6).
struct S02Look {
    n: u64,
    control: u64,
    treatment: u64,
    fixed_p: f64,
    p_k: f64,
    p_star: f64,
    running_ci: [f64; 2],
}

/// S02, looks 7–10, as printed (6 decimals).
const S02: [S02Look; 4] = [
    S02Look {
        n: 3500,
        control: 353,
        treatment: 434,
        fixed_p: 0.005757,
        p_k: 0.105115,
        p_star: 0.105115,
        running_ci: [-0.023187, 0.467652],
    },
    S02Look {
        n: 4000,
        control: 395,
        treatment: 498,
        fixed_p: 0.001142,
        p_k: 0.027337,
        p_star: 0.027337,
        running_ci: [0.016565, 0.467652],
    },
    S02Look {
        n: 4500,
        control: 433,
        treatment: 540,
        fixed_p: 0.001158,
        p_k: 0.028080,
        p_star: 0.027337,
        running_ci: [0.016565, 0.467652],
    },
    S02Look {
        n: 5000,
        control: 475,
        treatment: 598,
        fixed_p: 0.000403,
        p_k: 0.011345,
        p_star: 0.011345,
        running_ci: [0.034953, 0.467652],
    },
];

#[test]
fn s6_s02_running_values_resume_from_a_persisted_state() {
    // The table prints looks 7–10 only; the state after look 6 is what a
    // store would hold: p* ≥ p₇ and the upper bound 0.467652 of an earlier
    // look. The table rounds to 6 decimals.
    let mut state: AlwaysValid = serde_json::from_value(serde_json::json!({
        "looks": 6, "p_value": 1.0, "ci": {"lower": -1.0, "upper": 0.467652}
    }))
    .unwrap();
    for row in &S02 {
        let c = binomial(row.n, row.control);
        let e = Effect::relative(&c, &binomial(row.n, row.treatment)).unwrap();
        assert_close!(welch_test(&e, Alpha::DEFAULT).unwrap().p_value, row.fixed_p, 5e-7);
        let look = msprt(&e, Alpha::DEFAULT, gb(5000.0)).unwrap();
        assert_close!(look.p_value, row.p_k, 5e-7);
        state.observe(&look);
        assert_close!(state.p_value(), row.p_star, 5e-7);
        let ci = state.ci().unwrap();
        assert_close!(ci.lower, row.running_ci[0], 5e-7);
        assert_close!(ci.upper, row.running_ci[1], 5e-7);
    }
    assert_eq!(state.looks(), 10);
}

#[test]
fn s6_s02_becomes_a_winner_at_look_8() {
    let mut state = AlwaysValid::new();
    let mut calls = Vec::new();
    for row in &S02 {
        let c = BinomialStats::new(row.n, row.control).unwrap();
        let t = BinomialStats::new(row.n, row.treatment).unwrap();
        let e = Effect::relative(&c.moments().unwrap(), &t.moments().unwrap()).unwrap();
        state.observe(&msprt(&e, Alpha::DEFAULT, gb(5000.0)).unwrap());
        calls.push(decide(state.p_value(), &state.ci().unwrap(), Alpha::DEFAULT, false, binary_min_sample_met(&c, &t)));
    }
    use Decision::{Inconclusive, Winner};
    assert_eq!(calls, [Inconclusive, Winner, Winner, Winner]);
}

// ==== §7 confidence sequences ====

#[test]
fn s7_b02_confidence_sequence_half_width() {
    let (c, t) = b02();
    let look = msprt(&Effect::relative(&c, &t).unwrap(), Alpha::DEFAULT, gb(5000.0)).unwrap();
    // The spec prints h to 5 digits.
    assert_close!(look.ci.upper - look.estimate, 0.50871, 5e-6);
}

#[test]
fn s7_b02_larger_tuning_n_widens_near_n_2000() {
    let (c, t) = b02();
    let e = Effect::relative(&c, &t).unwrap();
    let wide = msprt(&e, Alpha::DEFAULT, gb(20000.0)).unwrap();
    let narrow = msprt(&e, Alpha::DEFAULT, gb(5000.0)).unwrap();
    assert_close!(wide.p_value, 0.6321203074597774);
    assert!(wide.ci.upper > narrow.ci.upper);
}

// ==== §8 Bayesian ====

#[test]
fn s8_b02_bayesian_flat_and_proper_prior() {
    let (c, t) = b02();
    let e = Effect::relative(&c, &t).unwrap();
    let flat = bayesian_readout(&e, None, Alpha::DEFAULT, false).unwrap();
    assert_close!(flat.chance_to_win, 0.9672763417294536);
    assert_close!(flat.ci.lower, -0.019179397713587232);
    assert_close!(flat.ci.upper, 0.6191793977135871);
    let prior = GaussianPrior::new(0.0, 0.3).unwrap();
    let post = bayesian_readout(&e, Some(prior), Alpha::DEFAULT, false).unwrap();
    assert_close!(post.mean, 0.2317198764160659);
    assert_close!(post.chance_to_win, 0.9472798425887837);
}

// ==== §9 decisions ====

#[test]
fn s9_significance_display_never_shows_100() {
    assert_eq!(significance_label(1e-12), ">99%");
    assert_eq!(significance_label(0.05), "95%");
}

#[test]
fn s9_tiny_n_is_computed_but_below_the_minimum_sample() {
    // B11-like: 40 visitors per arm with a large difference.
    let (c, t) = (BinomialStats::new(40, 2).unwrap(), BinomialStats::new(40, 20).unwrap());
    let r = Comparison::from_stats(&c, &t, &Default::default());
    assert_eq!(r.relative.status, Status::Ok);
    let fixed = r.absolute.fixed_horizon.unwrap();
    assert!(fixed.p_value < 1e-4);
    assert!(!binary_min_sample_met(&c, &t));
    let call = |met| decide(fixed.p_value, &fixed.ci, Alpha::DEFAULT, false, met);
    assert_eq!(call(true), Decision::Winner);
    assert_eq!(call(false), Decision::Inconclusive);
}

// ==== §10 FDR ====

#[test]
fn s10_fdr_primary_tier() {
    let q = benjamini_hochberg(&[1.0, 0.049889817513019796, 0.04562522724674123]).unwrap();
    assert_close!(q[0], 1.0);
    assert_close!(q[1], 0.0748347262695297);
    assert_close!(q[2], 0.0748347262695297);
    let wins = |alpha: f64| q.iter().filter(|&&q| q <= alpha).count();
    assert_eq!((wins(0.10), wins(0.05)), (2, 0));
}

// ==== §11 SRM ====

#[test]
fn s11_b08_srm_detects_a_mismatch() {
    let r = srm_test(&[10000, 9000], &[0.5, 0.5]).unwrap();
    assert_close!(r.chi_square, 52.63157894736842);
    assert_close!(r.p_value, 4.023672190684225e-13);
    assert!(r.is_mismatch(vario_stats::DEFAULT_SRM_THRESHOLD));
}

#[test]
fn s11_b07_srm_respects_a_two_to_one_split() {
    let r = srm_test(&[5000, 2500], &[2.0, 1.0]).unwrap();
    assert_close!(r.p_value, 1.0);
}

// ==== §14 edge cases ====

#[test]
fn s14_b10_zero_baseline_runs_the_absolute_test() {
    let (c, t) = (binomial(500, 0), binomial(500, 15));
    assert_eq!(Effect::relative(&c, &t), Err(Degenerate::BaselineZero));
    let abs = Effect::absolute(&c, &t).unwrap();
    assert_close!(abs.estimate(), 0.03);
    let look = msprt(&abs, Alpha::DEFAULT, gb(5000.0)).unwrap();
    assert_close!(look.p_value, 0.014007571449204535);
    let r = Comparison::new(&c, &t, &Default::default());
    assert_eq!(r.relative.status, Status::BaselineZero);
    assert_eq!(r.significance_scale(), Some(Scale::Absolute));
}

#[test]
fn s14_b10_welch_p_of_the_spec_uses_sample_variances() {
    // The spec's Welch p 9.752827772523939e-05 is scipy's Welch with n − 1
    // variances (a mean metric); the binomial plug-in variance of §3 gives
    // 9.599269195192939e-05 (scipy.stats.t on the same t and df).
    let c = MeanStats::new(500, 0.0, 0.0).unwrap().moments().unwrap();
    let t = MeanStats::new(500, 15.0, 15.0).unwrap().moments().unwrap();
    let sample = welch_test(&Effect::absolute(&c, &t).unwrap(), Alpha::DEFAULT).unwrap();
    assert_close!(sample.p_value, 9.752827772523939e-05);
    let e = Effect::absolute(&binomial(500, 0), &binomial(500, 15)).unwrap();
    let plug_in = welch_test(&e, Alpha::DEFAULT).unwrap();
    assert_close!(plug_in.p_value, 9.599269195192939e-05);
}

#[test]
fn s14_b09_one_arm_without_variance() {
    let (c, t) = (binomial(500, 20), binomial(500, 0));
    let abs = Effect::absolute(&c, &t).unwrap();
    let look = msprt(&abs, Alpha::DEFAULT, gb(5000.0)).unwrap();
    assert_close!(look.p_value, 0.002698149802017897);
    // L = −1 but Var(L) collapses to 0: significance comes from Δ.
    assert_eq!(Effect::relative(&c, &t), Err(Degenerate::ZeroVariance));
    let r = Comparison::new(&c, &t, &Default::default());
    assert_eq!(r.relative.status, Status::ZeroVariance);
    assert_eq!(r.significance_scale(), Some(Scale::Absolute));
}

#[test]
fn s14_b13_both_arms_without_variance_have_no_test() {
    let r = Comparison::new(&binomial(800, 0), &binomial(800, 0), &Default::default());
    assert_eq!(r.absolute.status, Status::ZeroVariance);
    assert_eq!(r.relative.status, Status::ZeroVariance);
    assert_eq!(r.headline(), None);
    let r = Comparison::new(&binomial(800, 800), &binomial(800, 800), &Default::default());
    assert_eq!(r.relative.status, Status::ZeroVariance);
}

#[test]
fn s14_b01_identical_binomial_arms() {
    let r = Comparison::new(&binomial(1000, 100), &binomial(1000, 100), &Default::default());
    let rel = r.relative;
    assert_eq!(rel.effect.unwrap().estimate(), 0.0);
    assert_eq!(rel.fixed_horizon.unwrap().p_value, 1.0);
    assert_eq!(rel.sequential.unwrap().p_value, 1.0);
}

#[test]
fn s14_r10_identical_mean_arms() {
    let s = IntMeanStats::new(2000, 1_234_500, 9_876_543_210);
    let r = Comparison::from_stats(&s, &s, &Default::default());
    assert_eq!(r.relative.effect.unwrap().estimate(), 0.0);
    assert_eq!(r.absolute.fixed_horizon.unwrap().p_value, 1.0);
    assert_eq!(r.absolute.sequential.unwrap().p_value, 1.0);
}

#[test]
fn s14_one_unit_in_an_arm_is_insufficient() {
    let r = Comparison::new(&binomial(1, 1), &binomial(100, 30), &Default::default());
    assert_eq!(r.absolute.status, Status::InsufficientSample);
    assert_eq!(r.relative.status, Status::InsufficientSample);
}
