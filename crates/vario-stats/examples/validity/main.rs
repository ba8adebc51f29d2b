//! The statistical validity report (see `docs/validity.md`): simulated A/A
//! experiments peeked at every 200 visitors, and experiments with a true
//! +10% lift, analysed with Vario's sequential test and with a fixed-horizon
//! test. Prints a markdown report.
//!
//! ```sh
//! cargo run --release -p vario-stats --example validity
//! cargo run --release -p vario-stats --example validity -- --runs 200 --seed 7
//! ```

mod simulation;

use std::error::Error;
use std::num::NonZeroUsize;
use std::thread;
use std::time::Instant;

use simulation::{
    AaResults, Detection, FalsePositives, Plan, Revenue, clopper_pearson, fixed_horizon_visitors, quantile,
    simulate_aa, simulate_power,
};
use vario_stats::{Alpha, AnalysisSettings, MixingRule};

/// The default seed of the A/A experiments; the lift experiments use the
/// next one so the two simulations share no random numbers.
const DEFAULT_SEED: u64 = 20_260_501;
const DEFAULT_RUNS: u32 = 1000;
const LOOK_EVERY: u64 = 200;
const AA_HORIZON: u64 = 20_000;
const POWER_CAP: u64 = 200_000;
const BASELINE: f64 = 0.10;
const LIFT: f64 = 0.10;
const POWER: f64 = 0.80;
/// Buyers' amounts: median $40 and log-sd 1.5, so a mean near $123 and a few
/// orders above $1,000, like real shop revenue.
const REVENUE: Revenue = Revenue { median_cents: 4000.0, log_sd: 1.5 };
/// Level of the intervals on the simulated shares.
const INTERVAL_ALPHA: f64 = 0.05;

struct Args {
    runs: u32,
    seed: u64,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut args = Args { runs: DEFAULT_RUNS, seed: DEFAULT_SEED };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--runs" => args.runs = value.parse()?,
            "--seed" => args.seed = value.parse()?,
            _ => return Err(format!("unknown argument {flag} (expected --runs N, --seed S)").into()),
        }
    }
    if args.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let threads = thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
    let alpha = Alpha::DEFAULT;
    let settings = AnalysisSettings { alpha, mixing: MixingRule::default() };
    let treated = BASELINE * (1.0 + LIFT);
    let planned = fixed_horizon_visitors(alpha, POWER, BASELINE, treated).ok_or("no fixed-horizon sample size")?;
    // GrowthBook's advice for N*: the sample size at which one expects to
    // decide. The fixed-horizon plan is the natural such size.
    let alternative_mixing = MixingRule::proportional(planned as f64)?;
    // The fixed-horizon test is evaluated at the first look that reaches the
    // planned sample size.
    let fixed_at = planned.div_ceil(LOOK_EVERY) * LOOK_EVERY;

    let aa_plan = Plan {
        runs: args.runs,
        look_every: LOOK_EVERY,
        max_visitors: AA_HORIZON,
        seed: args.seed,
        baseline: BASELINE,
        lift: 0.0,
        revenue: REVENUE,
        settings,
        alternative_mixing,
    };
    let power_plan = Plan { max_visitors: POWER_CAP, seed: args.seed.wrapping_add(1), lift: LIFT, ..aa_plan };

    let started = Instant::now();
    let aa = simulate_aa(&aa_plan, threads).ok_or("an A/A simulation thread failed")?;
    let aa_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let power = simulate_power(&power_plan, fixed_at, threads).ok_or("a lift simulation thread failed")?;
    let power_seconds = started.elapsed().as_secs_f64();

    print_report(&aa_plan, &power_plan, planned, fixed_at, &aa, &power);
    eprintln!("simulated in {aa_seconds:.1} s (A/A) + {power_seconds:.1} s (lift) on {} thread(s)", threads.get());
    Ok(())
}

/// `12,345`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The share `k/n` and its Clopper–Pearson interval, as percentages.
fn share_parts(k: u32, n: u32) -> (String, String) {
    let pct = |x: f64| format!("{:.1}%", 100.0 * x);
    let point = if n == 0 { 0.0 } else { f64::from(k) / f64::from(n) };
    let interval = clopper_pearson(k, n, INTERVAL_ALPHA)
        .map_or_else(|| "n/a".to_owned(), |(lo, hi)| format!("{} – {}", pct(lo), pct(hi)));
    (pct(point), interval)
}

/// Three table cells: `k / n`, the share and its 95% interval.
fn share(k: u32, n: u32) -> String {
    let (point, interval) = share_parts(k, n);
    format!("{k} / {n} | {point} | {interval}")
}

fn size(s: Option<u64>) -> String {
    s.map_or_else(|| format!("> {}", thousands(POWER_CAP)), thousands)
}

fn tuning_label(rule: MixingRule) -> String {
    match rule {
        MixingRule::Proportional { tuning_n } => format!("N* = {}", thousands(tuning_n.round() as u64)),
        MixingRule::Fixed { tau } => format!("τ = {tau}"),
    }
}

fn false_positive_rows(metric: &str, fp: &FalsePositives, aa: &Plan) {
    let looks = aa.max_visitors / aa.look_every;
    let default = tuning_label(aa.settings.mixing);
    let alternative = tuning_label(aa.alternative_mixing);
    let horizon = thousands(aa.max_visitors);
    println!(
        "| {metric} | Vario sequential (mSPRT, {default}): p* ≤ α at any of {looks} looks | {} |",
        share(fp.sequential, fp.runs)
    );
    println!(
        "| {metric} | Vario sequential ({default}): winner or loser shown (also needs the minimum sample) | {} |",
        share(fp.sequential_decided, fp.runs)
    );
    println!(
        "| {metric} | Vario sequential ({default}) on the absolute difference Δ instead of the lift: p* ≤ α at any look | {} |",
        share(fp.sequential_absolute, fp.runs)
    );
    println!(
        "| {metric} | Vario sequential (mSPRT, {alternative}): p* ≤ α at any look | {} |",
        share(fp.sequential_alternative, fp.runs)
    );
    println!(
        "| {metric} | fixed-horizon Welch, checked at every look (peeking) | {} |",
        share(fp.naive_peeking, fp.runs)
    );
    println!(
        "| {metric} | fixed-horizon Welch, checked once at {horizon} visitors | {} |",
        share(fp.fixed_once, fp.runs)
    );
}

fn detection_row(label: &str, sizes: &[Option<u64>]) {
    let missed = sizes.iter().filter(|s| s.is_none()).count();
    let runs = sizes.len();
    println!(
        "| {label} | {} | {} – {} | {} |",
        size(quantile(sizes, 0.5)),
        size(quantile(sizes, 0.25)),
        size(quantile(sizes, 0.75)),
        share(u32::try_from(missed).unwrap_or(u32::MAX), u32::try_from(runs).unwrap_or(u32::MAX)),
    );
}

fn print_report(aa: &Plan, lift: &Plan, planned: u64, fixed_at: u64, fp: &AaResults, power: &[Detection]) {
    let alpha = aa.settings.alpha.get();
    let default = tuning_label(aa.settings.mixing);
    let alternative = tuning_label(aa.alternative_mixing);
    println!("# Vario statistical validity report\n");
    println!(
        "Command: `cargo run --release -p vario-stats --example validity -- --runs {} --seed {}`\n",
        aa.runs, aa.seed
    );
    println!("## Settings\n");
    println!("| setting | A/A experiments | experiments with a true lift |");
    println!("|---|---|---|");
    println!("| experiments | {} | {} |", thousands(u64::from(aa.runs)), thousands(u64::from(lift.runs)));
    println!("| seed (ChaCha8; run r uses stream r) | {} | {} |", aa.seed, lift.seed);
    println!("| assignment | each visitor 50/50 at random | each visitor 50/50 at random |");
    println!(
        "| looks | every {} visitors, up to {} ({} looks) | every {} visitors, up to {} (cap) |",
        aa.look_every,
        thousands(aa.max_visitors),
        aa.max_visitors / aa.look_every,
        lift.look_every,
        thousands(lift.max_visitors),
    );
    println!(
        "| conversion rate | {:.0}% in both | {:.0}% control, {:.0}% treatment (+{:.0}% relative) |",
        100.0 * aa.baseline,
        100.0 * lift.baseline,
        100.0 * lift.baseline * (1.0 + lift.lift),
        100.0 * lift.lift,
    );
    println!(
        "| revenue per visitor | converters spend a log-normal amount (median ${:.0}, log-sd {}, mean ${:.0}), others $0; the same in both | not simulated |",
        aa.revenue.median_cents / 100.0,
        aa.revenue.log_sd,
        aa.revenue.median_cents * (aa.revenue.log_sd.powi(2) / 2.0).exp() / 100.0,
    );
    println!("| α | {alpha} | {alpha} |");
    println!(
        "| sequential test (what users see) | relative lift with delta-method variance, mSPRT with τ² = ρ²·N·v, default {default} (and {alternative}); running minimum p* over looks | same |"
    );
    println!("| fixed-horizon test | Welch t-test on the relative lift (delta method) | same |\n");

    println!("## A/A: share of experiments ever declared significant (no true difference)\n");
    println!("| metric | test | experiments | share | 95% interval |");
    println!("|---|---|---|---|---|");
    false_positive_rows("conversion rate", &fp.conversion, aa);
    false_positive_rows("revenue per visitor", &fp.revenue, aa);

    println!(
        "\n## True +{:.0}% lift on a {:.0}% baseline: visitors needed\n",
        100.0 * lift.lift,
        100.0 * lift.baseline
    );
    println!(
        "Visitors counted over both variations, at the first look where the test shows the treatment as the winner.\n"
    );
    println!(
        "| test | median visitors | 25th – 75th percentile | not detected within the cap | share | 95% interval |"
    );
    println!("|---|---|---|---|---|---|");
    let default_sizes: Vec<Option<u64>> = power.iter().map(|d| d.sequential).collect();
    let alternative_sizes: Vec<Option<u64>> = power.iter().map(|d| d.alternative).collect();
    detection_row(&format!("Vario sequential (mSPRT, {default})"), &default_sizes);
    detection_row(&format!("Vario sequential (mSPRT, {alternative})"), &alternative_sizes);
    let runs = u32::try_from(power.len()).unwrap_or(u32::MAX);
    let fixed_hits = u32::try_from(power.iter().filter(|d| d.fixed_significant).count()).unwrap_or(u32::MAX);
    let wrong = u32::try_from(power.iter().filter(|d| d.wrong_sign).count()).unwrap_or(u32::MAX);
    let (fixed_share, fixed_interval) = share_parts(fixed_hits, runs);
    println!(
        "| fixed-horizon test planned for {:.0}% power (formula below), checked once at {} | {} (fixed in advance) | — | {} |",
        100.0 * POWER,
        thousands(fixed_at),
        thousands(planned),
        share(runs - fixed_hits, runs),
    );
    println!(
        "\nFixed-horizon sample size: 2·(z₁₋α/₂ + z₀.₈)²·(p_c(1 − p_c) + p_t(1 − p_t))/(p_t − p_c)² = {} visitors. \
         Simulated check: the Welch test evaluated once at {} visitors detected the lift in {fixed_hits} of {runs} \
         experiments ({fixed_share}, 95% interval {fixed_interval}).\n",
        thousands(planned),
        thousands(fixed_at),
    );
    let stuck = power.iter().filter(|d| d.wrong_sign && d.sequential.is_none()).count();
    println!(
        "Sequential calls with the wrong sign (loser shown for a better treatment, {default}): {wrong} of {runs}; \
         {stuck} of them never showed a winner afterwards within the cap."
    );
}
