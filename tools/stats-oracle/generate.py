#!/usr/bin/env python3
"""Generate reference cases for the vario-stats crate from real implementations.

Writes crates/vario-stats/tests/it/data/reference-cases.json. Every case is
computed by gbstats 0.8.0, scipy, numpy or statsmodels, except where a field
says otherwise (see README.md beside this file). Deterministic: a fixed seed.

Usage: tools/stats-oracle/regen.sh (creates the virtualenv, then runs this).
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import sys
from pathlib import Path

import numpy as np
from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig, GaussianPrior
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from gbstats.utils import check_srm
from scipy import stats
from statsmodels.stats.multitest import multipletests

SEED = 20260828
OUT = Path(__file__).resolve().parents[2] / "crates/vario-stats/tests/it/data/reference-cases.json"
RNG = np.random.default_rng(SEED)


def close(a: float, b: float, tol: float = 1e-9) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


def check(cond: bool, what: str) -> None:
    if not cond:
        sys.exit(f"self-check failed: {what}")


# ---------------------------------------------------------------------------
# gbstats wrappers


def freq(a, b, scale: str, alpha: float) -> dict:
    t = TwoSidedTTest(a, b, FrequentistConfig(alpha=alpha, difference_type=scale))
    r = t.compute_result()
    check(r.error_message is None, f"gbstats error {r.error_message}")
    return {
        "estimate": r.expected,
        "se": r.uplift.stddev,
        "df": float(t.dof),
        "p_value": float(r.p_value),
        "ci": [float(r.ci[0]), float(r.ci[1])],
    }


def seq(a, b, scale: str, alpha: float, tuning_n: float) -> dict:
    t = SequentialTwoSidedTTest(
        a,
        b,
        SequentialConfig(alpha=alpha, difference_type=scale, sequential_tuning_parameter=tuning_n),
    )
    r = t.compute_result()
    check(r.error_message is None, f"gbstats error {r.error_message}")
    return {"p_value": float(r.p_value), "ci": [float(r.ci[0]), float(r.ci[1])]}


def bayes(a, b, scale: str, alpha: float, prior_sd: float | None, inverse: bool) -> dict:
    prior = (
        GaussianPrior(mean=0.0, variance=prior_sd**2, proper=True)
        if prior_sd is not None
        else GaussianPrior()
    )
    cfg = EffectBayesianConfig(
        difference_type=scale, alpha=alpha, prior_effect=prior, inverse=inverse
    )
    r = EffectBayesianABTest(a, b, cfg).compute_result()
    check(r.error_message is None, f"gbstats error {r.error_message}")
    return {
        "mean": r.expected,
        "sd": r.uplift.stddev,
        "chance_to_win": float(r.chance_to_win),
        "ci": [float(r.ci[0]), float(r.ci[1])],
        "risk": [float(r.risk[0]), float(r.risk[1])],
    }


def flip_for_negative_baseline(rel: dict, mean_c: float) -> dict:
    """gbstats 0.8.0 divides by m_c; the spec (and GrowthBook since 2026-08)
    by |m_c|. For m_c < 0 the lift, and so the interval, change sign."""
    if mean_c >= 0:
        return rel
    out = dict(rel)
    if "estimate" in rel:
        out["estimate"] = -rel["estimate"]
    out["ci"] = [-rel["ci"][1], -rel["ci"][0]]
    return out


# ---------------------------------------------------------------------------
# mSPRT by the spec's formula (spec §6), written independently of gbstats


def msprt(theta: float, v: float, tau2: float, alpha: float) -> dict:
    log_lambda = 0.5 * math.log(v / (v + tau2)) + tau2 * theta**2 / (2 * v * (v + tau2))
    h = math.sqrt(v * (v + tau2) / tau2 * (2 * math.log(1 / alpha) + math.log((v + tau2) / v)))
    return {
        "log_lambda": log_lambda,
        "p_value": min(1.0, math.exp(-log_lambda)),
        "ci": [theta - h, theta + h],
    }


def rho2(alpha: float, tuning_n: float) -> float:
    return (-2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))) / tuning_n


# ---------------------------------------------------------------------------
# case generators


def binomial_cases(count: int) -> list:
    cases = []
    while len(cases) < count:
        n_c, n_t = (int(x) for x in RNG.integers(50, 200_000, size=2))
        base = float(RNG.uniform(0.005, 0.6))
        lift = float(RNG.normal(0, 0.15))
        p_t = min(max(base * (1 + lift), 0.001), 0.99)
        x_c, x_t = int(RNG.binomial(n_c, base)), int(RNG.binomial(n_t, p_t))
        if x_c in (0, n_c) or x_t in (0, n_t):
            continue
        alpha = float(RNG.choice([0.05, 0.1, 0.01]))
        tuning_n = float(RNG.choice([5000.0, 20000.0, 1000.0]))
        a, b = ProportionStatistic(n=n_c, sum=x_c), ProportionStatistic(n=n_t, sum=x_t)
        case = {
            "name": f"binomial-{len(cases):03}",
            "control": {"n": n_c, "sum": x_c},
            "treatment": {"n": n_t, "sum": x_t},
            "alpha": alpha,
            "tuning_n": tuning_n,
            "absolute": freq(a, b, "absolute", alpha),
            "relative": freq(a, b, "relative", alpha),
            "seq_absolute": seq(a, b, "absolute", alpha, tuning_n),
            "seq_relative": seq(a, b, "relative", alpha, tuning_n),
            "bayes_relative_flat": bayes(a, b, "relative", alpha, None, False),
            "bayes_relative_prior_0_3": bayes(a, b, "relative", alpha, 0.3, False),
            "bayes_absolute_flat_inverse": bayes(a, b, "absolute", alpha, None, True),
        }
        # Cross-check the mSPRT formula against gbstats' sequential test.
        rel = case["relative"]
        v = rel["se"] ** 2
        m = msprt(rel["estimate"], v, rho2(alpha, tuning_n) * (n_c + n_t) * v, alpha)
        check(close(m["p_value"], case["seq_relative"]["p_value"]), "msprt == gbstats seq p")
        check(close(m["ci"][0], case["seq_relative"]["ci"][0]), "msprt == gbstats seq ci")
        cases.append(case)
    return cases


def cents(n: int, mean_dollars: float, zero_share: float, allow_negative: bool) -> np.ndarray:
    x = np.round(RNG.lognormal(math.log(mean_dollars * 100), 1.0, size=n)).astype(np.int64)
    x[RNG.random(n) < zero_share] = 0
    if allow_negative:
        x = x - np.int64(round(mean_dollars * 150))
    return x


def int_sums(x: np.ndarray) -> dict:
    xs = [int(v) for v in x]
    return {"n": len(xs), "sum": sum(xs), "sum_squares": sum(v * v for v in xs)}


def mean_cases(count: int) -> list:
    cases = []
    while len(cases) < count:
        negative = len(cases) % 6 == 5
        n_c, n_t = (int(v) for v in RNG.integers(20, 20_000, size=2))
        mean = float(RNG.uniform(1, 80))
        zero_share = float(RNG.uniform(0, 0.95))
        xc = cents(n_c, mean, zero_share, negative)
        xt = cents(n_t, mean * (1 + float(RNG.normal(0, 0.1))), zero_share, negative)
        c, t = int_sums(xc), int_sums(xt)
        if c["sum"] == 0 or np.var(xc) == 0 or np.var(xt) == 0:
            continue
        alpha = float(RNG.choice([0.05, 0.1]))
        tuning_n = 5000.0
        a = SampleMeanStatistic(n=c["n"], sum=float(c["sum"]), sum_squares=float(c["sum_squares"]))
        b = SampleMeanStatistic(n=t["n"], sum=float(t["sum"]), sum_squares=float(t["sum_squares"]))
        absolute = freq(a, b, "absolute", alpha)
        # scipy's Welch on the same sums must agree with gbstats for mean metrics.
        sc = stats.ttest_ind_from_stats(
            t["sum"] / t["n"], math.sqrt(b.variance), t["n"],
            c["sum"] / c["n"], math.sqrt(a.variance), c["n"], equal_var=False,
        )
        check(close(float(sc.pvalue), absolute["p_value"]), "scipy welch == gbstats")
        mean_c = c["sum"] / c["n"]
        cases.append({
            "name": f"mean-{len(cases):03}" + ("-negative-baseline" if mean_c < 0 else ""),
            "control": c,
            "treatment": t,
            "alpha": alpha,
            "tuning_n": tuning_n,
            "absolute": absolute,
            "relative": flip_for_negative_baseline(freq(a, b, "relative", alpha), mean_c),
            "seq_relative": flip_for_negative_baseline(seq(a, b, "relative", alpha, tuning_n), mean_c),
            "scipy_welch_p_value": float(sc.pvalue),
        })
    return cases


def ratio_cases(count: int) -> list:
    cases = []
    while len(cases) < count:
        arms = []
        for _ in range(2):
            n = int(RNG.integers(30, 5000))
            orders = RNG.poisson(float(RNG.uniform(0.3, 3)), size=n).astype(float)
            revenue = orders * RNG.lognormal(3.5, 0.8, size=n)
            arms.append({
                "n": n,
                "m_sum": float(revenue.sum()),
                "m_sum_squares": float((revenue**2).sum()),
                "d_sum": float(orders.sum()),
                "d_sum_squares": float((orders**2).sum()),
                "md_sum_product": float((revenue * orders).sum()),
            })
        stats_ = [
            RatioStatistic(
                n=s["n"],
                m_statistic=SampleMeanStatistic(n=s["n"], sum=s["m_sum"], sum_squares=s["m_sum_squares"]),
                d_statistic=SampleMeanStatistic(n=s["n"], sum=s["d_sum"], sum_squares=s["d_sum_squares"]),
                m_d_sum_of_products=s["md_sum_product"],
            )
            for s in arms
        ]
        if any(s.d_statistic.sum == 0 or s.variance <= 0 for s in stats_):
            continue
        alpha = 0.05
        cases.append({
            "name": f"ratio-{len(cases):03}",
            "control": arms[0],
            "treatment": arms[1],
            "alpha": alpha,
            "control_ratio": stats_[0].mean,
            "control_ratio_variance": stats_[0].variance,
            "absolute": freq(stats_[0], stats_[1], "absolute", alpha),
            "relative": freq(stats_[0], stats_[1], "relative", alpha),
        })
    return cases


def cuped_relative_variance(a: RegressionAdjustedStatistic, b: RegressionAdjustedStatistic, theta: float) -> float:
    """Spec §12 full delta method (current GrowthBook), written out here;
    gbstats 0.8.0 used an approximation."""
    yc, yt = a.post_statistic.mean, b.post_statistic.mean
    adj_t = b.post_statistic.variance + theta**2 * b.pre_statistic.variance - 2 * theta * b.covariance
    ctrl = (
        a.post_statistic.variance * yt**2 / yc**2
        - 2 * theta * a.covariance * yt / yc
        + theta**2 * a.pre_statistic.variance
    )
    return adj_t / (b.n * yc**2) + ctrl / (a.n * yc**2)


def cuped_cases(count: int) -> list:
    cases = []
    while len(cases) < count:
        arms, raw = [], []
        corr = float(RNG.uniform(0.0, 0.9))
        effect = float(RNG.normal(0, 0.05))
        for i in range(2):
            n = int(RNG.integers(50, 8000))
            pre = RNG.lognormal(3.0, 0.7, size=n)
            noise = RNG.lognormal(3.0, 0.7, size=n)
            post = (corr * pre + (1 - corr) * noise) * (1 + effect * i)
            pre[RNG.random(n) < 0.2] = 0.0
            arms.append({
                "n": n,
                "post_sum": float(post.sum()),
                "post_sum_squares": float((post**2).sum()),
                "pre_sum": float(pre.sum()),
                "pre_sum_squares": float((pre**2).sum()),
                "post_pre_sum_product": float((post * pre).sum()),
            })
        def ra(s):
            return RegressionAdjustedStatistic(
                n=s["n"],
                post_statistic=SampleMeanStatistic(n=s["n"], sum=s["post_sum"], sum_squares=s["post_sum_squares"]),
                pre_statistic=SampleMeanStatistic(n=s["n"], sum=s["pre_sum"], sum_squares=s["pre_sum_squares"]),
                post_pre_sum_of_products=s["post_pre_sum_product"],
                theta=0,
            )
        alpha = 0.05
        t_abs = TwoSidedTTest(ra(arms[0]), ra(arms[1]), FrequentistConfig(alpha=alpha, difference_type="absolute"))
        theta = float(t_abs.stat_a.theta)
        if theta == 0:
            continue
        absolute = freq(t_abs.stat_a, t_abs.stat_b, "absolute", alpha)
        a, b = t_abs.stat_a, t_abs.stat_b
        rel_est = (b.mean - a.mean) / abs(a.post_statistic.mean)
        rel_var = cuped_relative_variance(a, b, theta)
        df = float(t_abs.dof)
        q = float(stats.t.ppf(1 - alpha / 2, df))
        se = math.sqrt(rel_var)
        cases.append({
            "name": f"cuped-{len(cases):03}",
            "control": arms[0],
            "treatment": arms[1],
            "alpha": alpha,
            "theta": theta,
            "absolute": absolute,
            "relative_full_delta": {
                "estimate": rel_est,
                "se": se,
                "df": df,
                "p_value": float(2 * stats.t.sf(abs(rel_est / se), df)),
                "ci": [rel_est - q * se, rel_est + q * se],
            },
        })
    return cases


def fixed_tau_cases(count: int) -> list:
    """mSPRT with a fixed τ on the relative lift (spec §6 rule 2), by the
    spec's formula; inputs are binomial arms, v from gbstats' relative se."""
    cases = []
    while len(cases) < count:
        n = int(RNG.integers(500, 100_000))
        base = float(RNG.uniform(0.01, 0.5))
        x_c = int(RNG.binomial(n, base))
        x_t = int(RNG.binomial(n, min(base * (1 + float(RNG.normal(0, 0.1))), 0.99)))
        if x_c in (0, n) or x_t in (0, n):
            continue
        tau = float(RNG.choice([0.05, 0.1, 0.2]))
        alpha = float(RNG.choice([0.05, 0.1]))
        a, b = ProportionStatistic(n=n, sum=x_c), ProportionStatistic(n=n, sum=x_t)
        rel = freq(a, b, "relative", alpha)
        cases.append({
            "name": f"fixed-tau-{len(cases):03}",
            "control": {"n": n, "sum": x_c},
            "treatment": {"n": n, "sum": x_t},
            "alpha": alpha,
            "tau": tau,
            "msprt": msprt(rel["estimate"], rel["se"] ** 2, tau**2, alpha),
        })
    return cases


def sequence_cases(count: int, looks: int = 20) -> list:
    """Cumulative binomial looks; running min p and running CI intersection
    (spec §6) over mSPRT looks whose per-look values gbstats computes."""
    cases = []
    for k in range(count):
        per_look = int(RNG.integers(200, 2000))
        base = float(RNG.uniform(0.05, 0.3))
        p_t = base * (1 + float(RNG.choice([0.0, 0.05, 0.15])))
        alpha, tuning_n = 0.05, 5000.0
        x_c = x_t = n = 0
        rows, run_p, run_lo, run_hi = [], 1.0, -math.inf, math.inf
        for _ in range(looks):
            n += per_look
            x_c += int(RNG.binomial(per_look, base))
            x_t += int(RNG.binomial(per_look, p_t))
            s = seq(ProportionStatistic(n=n, sum=x_c), ProportionStatistic(n=n, sum=x_t), "relative", alpha, tuning_n)
            run_p = min(run_p, s["p_value"])
            run_lo, run_hi = max(run_lo, s["ci"][0]), min(run_hi, s["ci"][1])
            rows.append({
                "n": n, "control_sum": x_c, "treatment_sum": x_t,
                "p_value": s["p_value"], "ci": s["ci"],
                "running_p_value": run_p, "running_ci": [run_lo, run_hi],
            })
        cases.append({"name": f"sequence-{k:02}", "alpha": alpha, "tuning_n": tuning_n, "looks": rows})
    return cases


def bh_cases(count: int) -> list:
    cases = []
    for k in range(count):
        m = int(RNG.integers(1, 30))
        p = RNG.uniform(0, 1, size=m) ** float(RNG.uniform(1, 6))
        if k % 5 == 0 and m > 2:
            p[1] = p[0]  # ties
        if k % 7 == 0:
            p[0] = 1.0
        adjusted = multipletests(p, method="fdr_bh")[1]
        cases.append({"name": f"bh-{k:03}", "p_values": p.tolist(), "adjusted": adjusted.tolist()})
    return cases


def srm_cases(count: int) -> list:
    cases = []
    for k in range(count):
        arms = int(RNG.integers(2, 6))
        weights = RNG.integers(1, 5, size=arms).astype(float)
        if k % 8 == 0:
            weights[-1] = 0.0
        total = int(RNG.integers(100, 500_000))
        probs = weights / weights.sum()
        if k % 3 == 0:  # a skewed split
            probs = RNG.dirichlet(np.ones(arms))
        visitors = RNG.multinomial(total, probs)
        if k % 8 == 0:
            visitors[-1] = int(RNG.integers(0, 50))
        p = float(check_srm(visitors.tolist(), weights.tolist()))
        if weights.min() > 0:
            sc = stats.chisquare(visitors, weights / weights.sum() * visitors.sum())
            check(close(float(sc.pvalue), p), "scipy chisquare == gbstats srm")
        cases.append({
            "name": f"srm-{k:03}",
            "visitors": [int(v) for v in visitors],
            "weights": weights.tolist(),
            "p_value": p,
        })
    return cases


def percentile_cases(count: int) -> list:
    cases = []
    for k in range(count):
        n = int(RNG.integers(1, 60))
        values = np.round(RNG.lognormal(3, 1.5, size=n), 2)
        values[RNG.random(n) < 0.3] = 0.0
        q = float(RNG.choice([0.5, 0.9, 0.95, 0.99, 0.999, float(RNG.uniform(0, 1))]))
        nonzero = values[values != 0]
        cases.append({
            "name": f"percentile-{k:03}",
            "values": values.tolist(),
            "quantile": q,
            "percentile": float(np.percentile(values, q * 100, method="linear")),
            "percentile_ignore_zeros": (
                float(np.percentile(nonzero, q * 100, method="linear")) if len(nonzero) else None
            ),
        })
    return cases


def main() -> None:
    versions = {
        name: importlib.metadata.version(name)
        for name in ["gbstats", "scipy", "numpy", "statsmodels", "pandas"]
    }
    doc = {
        "about": (
            "Reference cases for vario-stats, generated by tools/stats-oracle/generate.py. "
            "Do not edit by hand; see tools/stats-oracle/README.md."
        ),
        "seed": SEED,
        "versions": versions,
        "binomial": binomial_cases(80),
        "mean": mean_cases(60),
        "ratio": ratio_cases(25),
        "cuped": cuped_cases(25),
        "fixed_tau": fixed_tau_cases(40),
        "sequences": sequence_cases(6),
        "bh": bh_cases(40),
        "srm": srm_cases(40),
        "percentile": percentile_cases(40),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    n = sum(len(v) for v in doc.values() if isinstance(v, list))
    print(f"wrote {n} cases to {OUT}")


if __name__ == "__main__":
    main()
