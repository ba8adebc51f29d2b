//! Property tests of invariants that hold for all inputs.

use proptest::prelude::*;
use vario_stats::{
    Alpha, AlwaysValid, BinomialStats, CupedStats, Effect, IntMeanStats, MeanStats, MixingRule, Moments, RatioStats,
    SufficientStatistic, bayesian_readout, benjamini_hochberg, msprt, percentile, srm_test, welch_test,
};

fn arm() -> impl Strategy<Value = (u64, u64)> {
    (2u64..100_000).prop_flat_map(|n| (Just(n), 0..=n))
}

fn alpha() -> impl Strategy<Value = Alpha> {
    (0.001f64..0.5).prop_map(|a| Alpha::new(a).unwrap())
}

fn moments((n, k): (u64, u64)) -> Moments {
    BinomialStats::new(n, k).unwrap().moments().unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn moments_close(a: Moments, b: Moments) -> bool {
    a.n() == b.n() && close(a.mean(), b.mean()) && close(a.variance(), b.variance())
}

proptest! {
    #[test]
    fn p_values_are_probabilities_and_intervals_contain_the_estimate(
        c in arm(), t in arm(), a in alpha(), tuning_n in 10.0f64..1e6, tau in 0.001f64..10.0,
    ) {
        let (c, t) = (moments(c), moments(t));
        for effect in [Effect::absolute(&c, &t), Effect::relative(&c, &t)].into_iter().flatten() {
            let fixed = welch_test(&effect, a).unwrap();
            prop_assert!((0.0..=1.0).contains(&fixed.p_value));
            prop_assert!(fixed.ci.contains(effect.estimate()));
            for rule in [MixingRule::proportional(tuning_n).unwrap(), MixingRule::fixed(tau).unwrap()] {
                let look = msprt(&effect, a, rule).unwrap();
                prop_assert!((0.0..=1.0).contains(&look.p_value));
                prop_assert!(look.ci.contains(effect.estimate()));
                // p ≤ α exactly when the interval excludes 0 (spec §6).
                let excludes = !look.ci.contains(0.0);
                let strict = (look.p_value - a.get()).abs() > 1e-9;
                prop_assert!(!strict || excludes == (look.p_value <= a.get()));
            }
            let b = bayesian_readout(&effect, None, a, false).unwrap();
            prop_assert!((0.0..=1.0).contains(&b.chance_to_win));
            prop_assert!(b.ci.contains(b.mean));
        }
    }

    #[test]
    fn running_p_never_increases_and_intervals_nest(
        steps in prop::collection::vec((1u64..2000, 0.0f64..1.0, 0.0f64..1.0), 1..25),
    ) {
        let (mut n, mut xc, mut xt) = (0u64, 0u64, 0u64);
        let mut state = AlwaysValid::new();
        let mut previous = state;
        for (add, pc, pt) in steps {
            n += add;
            xc += (add as f64 * pc).round() as u64;
            xt += (add as f64 * pt).round() as u64;
            let (c, t) = (moments((n, xc.min(n))), moments((n, xt.min(n))));
            let Ok(effect) = Effect::absolute(&c, &t) else { continue };
            let look = msprt(&effect, Alpha::DEFAULT, MixingRule::default()).unwrap();
            state.observe(&look);
            prop_assert!(state.p_value() <= previous.p_value());
            prop_assert!(state.p_value() <= look.p_value);
            if let (Some(now), Some(before)) = (state.ci(), previous.ci()) {
                prop_assert!(now.lower >= before.lower && now.upper <= before.upper);
            }
            previous = state;
        }
    }

    #[test]
    fn bh_adjusted_p_values_dominate_and_keep_the_order(
        p in prop::collection::vec(0.0f64..=1.0, 0..40),
    ) {
        let q = benjamini_hochberg(&p).unwrap();
        for i in 0..p.len() {
            prop_assert!(q[i] >= p[i] && q[i] <= 1.0);
            for j in 0..p.len() {
                if p[i] <= p[j] {
                    prop_assert!(q[i] <= q[j]);
                }
            }
        }
    }

    #[test]
    fn merging_equals_computing_on_the_union(
        values in prop::collection::vec((-1_000_000i64..1_000_000, -500i64..500), 2..60),
        split in 0usize..60,
    ) {
        let split = split.min(values.len());
        let (left, right) = values.split_at(split);

        let int = |xs: &[(i64, i64)]| {
            let mut s = IntMeanStats::default();
            xs.iter().for_each(|&(x, _)| s.push(x));
            s
        };
        prop_assert_eq!(int(left) + int(right), int(&values));

        let bin = |xs: &[(i64, i64)]| {
            let mut s = BinomialStats::default();
            xs.iter().for_each(|&(x, _)| s.push(x > 0));
            s
        };
        prop_assert_eq!(bin(left) + bin(right), bin(&values));

        let mean = |xs: &[(i64, i64)]| {
            let mut s = MeanStats::default();
            xs.iter().for_each(|&(x, _)| s.push(x as f64 / 100.0).unwrap());
            s
        };
        let merged = (mean(left) + mean(right)).moments().unwrap();
        prop_assert!(moments_close(merged, mean(&values).moments().unwrap()));
        // The f64 and the exact integer path agree.
        let exact = int(&values).moments().unwrap();
        let float = { let mut s = MeanStats::default(); values.iter().for_each(|&(x, _)| s.push(x as f64).unwrap()); s };
        prop_assert!(moments_close(exact, float.moments().unwrap()));

        let ratio = |xs: &[(i64, i64)]| {
            let mut s = RatioStats::default();
            xs.iter().for_each(|&(m, d)| s.push(m as f64, d.unsigned_abs() as f64 + 1.0).unwrap());
            s
        };
        let merged = (ratio(left) + ratio(right)).moments().unwrap();
        prop_assert!(moments_close(merged, ratio(&values).moments().unwrap()));

        let cuped = |xs: &[(i64, i64)]| {
            let mut s = CupedStats::default();
            xs.iter().for_each(|&(y, x)| s.push(y as f64, x as f64).unwrap());
            s
        };
        let (a, b) = (cuped(left) + cuped(right), cuped(&values));
        prop_assert!(moments_close(a.moments().unwrap(), b.moments().unwrap()));
        prop_assert!(moments_close(a.pre().moments().unwrap(), b.pre().moments().unwrap()));
        prop_assert!(close(a.post_pre_sum_product(), b.post_pre_sum_product()));
    }

    #[test]
    fn arbitrary_floats_never_panic_or_leak_nan(
        n in 0u64..10, mean in any::<f64>(), var in any::<f64>(),
        n2 in 0u64..10, mean2 in any::<f64>(), var2 in any::<f64>(),
        sum in any::<f64>(), ss in any::<f64>(), a in any::<f64>(),
    ) {
        let _ = MeanStats::new(n, sum, ss).map(|s| s.moments());
        let _ = Alpha::new(a);
        if let (Ok(c), Ok(t)) = (Moments::new(n, mean, var), Moments::new(n2, mean2, var2)) {
            for effect in [Effect::absolute(&c, &t), Effect::relative(&c, &t)].into_iter().flatten() {
                prop_assert!(effect.estimate().is_finite() && effect.variance().is_finite());
                if let Ok(fixed) = welch_test(&effect, Alpha::DEFAULT) {
                    prop_assert!(fixed.p_value.is_finite() && fixed.ci.lower.is_finite() && fixed.ci.upper.is_finite());
                }
                if let Ok(look) = msprt(&effect, Alpha::DEFAULT, MixingRule::default()) {
                    prop_assert!(look.p_value.is_finite() && look.ci.lower.is_finite() && look.ci.upper.is_finite());
                }
            }
        }
    }

    #[test]
    fn srm_p_is_a_probability(
        visitors in prop::collection::vec(0u64..1_000_000, 1..6),
        weights in prop::collection::vec(0.0f64..10.0, 1..6),
    ) {
        let k = visitors.len().min(weights.len());
        if let Ok(r) = srm_test(&visitors[..k], &weights[..k]) {
            prop_assert!((0.0..=1.0).contains(&r.p_value));
            prop_assert!(r.chi_square >= 0.0);
        }
    }

    #[test]
    fn percentile_lies_between_min_and_max(
        values in prop::collection::vec(-1e9f64..1e9, 1..50), q in 0.0f64..=1.0,
    ) {
        let p = percentile(&values, q).unwrap().unwrap();
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        prop_assert!(min <= p && p <= max);
    }
}
