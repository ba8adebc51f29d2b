//! `vario generate`: a synthetic A/B test data set with a known effect, written
//! straight into the Parquet storage of a fresh data directory (benchmarks, demos).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use vario_results::synthetic::{EXPERIMENT_KEY, Synthetic, generate};

use crate::exit_code;

/// `vario generate` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A fresh data directory to create (read-only afterwards: no log is written).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Visitors (about ten events each).
    #[arg(long, default_value_t = 10_000)]
    pub visitors: u64,
    /// Days the experiment runs.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// Relative lift of the purchase rate in the treatment (0.1 = +10%).
    #[arg(long, default_value_t = 0.1)]
    pub lift: f64,
    /// Seed: the same seed writes the same events.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Writes the data set and says what it wrote.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if !args.lift.is_finite() || args.lift <= -1.0 {
        eprintln!("--lift {}: must be a finite number above -1", args.lift);
        return Ok(exit_code::BAD_INPUT.into());
    }
    let spec = Synthetic {
        visitors: args.visitors,
        days: args.days,
        lift: args.lift,
        seed: args.seed,
        ..Synthetic::default()
    };
    let started = Instant::now();
    let bar = indicatif::ProgressBar::new(args.visitors);
    let written = generate(&args.data_dir, &spec, &|n| bar.set_position(n))
        .with_context(|| format!("generating into {}", args.data_dir.display()))?;
    bar.finish_and_clear();
    println!(
        "{} visitors, {} decisions, {} conversions in {:.1} s; try: vario results --data-dir {} --experiment {EXPERIMENT_KEY}",
        args.visitors,
        written.decisions,
        written.conversions,
        started.elapsed().as_secs_f64(),
        args.data_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
