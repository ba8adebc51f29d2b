//! `vario export`: an experiment's conversions with their attributed variation, the
//! per-visitor table and the results, as files for other tools.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use vario_results::export::{Format as FileFormat, export_events};
use vario_results::{Engine, find_config};

use crate::commands::results::{Selection, bad_input, progress_reporter};
use crate::exit_code;

/// File formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// CSV with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// `vario export` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to analyse.
    #[command(flatten)]
    pub selection: Selection,
    /// File format of the event tables (the results are always CSV).
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// Directory to write `conversions.*`, `visitors.*` and `results.csv` into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Writes the files and lists them.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let s = &args.selection;
    if !s.data_dir.is_dir() {
        eprintln!("{}: no such data directory", s.data_dir.display());
        return Ok(exit_code::BAD_INPUT.into());
    }
    let req = match s.request() {
        Ok(req) => req,
        Err(e) => return bad_input(e),
    };
    let config = match find_config(&s.data_dir, &s.experiment, s.sdk_key.as_deref(), s.datafile.as_deref()) {
        Ok(config) => config,
        Err(e) => return bad_input(e),
    };
    let progress = progress_reporter();
    let engine = Engine::new(&s.data_dir);
    let attribution = match engine.attribute(&config, &req, &progress) {
        Ok(a) => a,
        Err(e) => return bad_input(e),
    };
    let format = match args.format {
        Format::Csv => FileFormat::Csv,
        Format::Parquet => FileFormat::Parquet,
    };
    let mut files = export_events(&s.data_dir, &attribution, &req, format, &args.out).context("export failed")?;
    let doc = match engine.results(&config, &req, &progress) {
        Ok(doc) => doc,
        Err(e) => return bad_input(e),
    };
    let results = args.out.join("results.csv");
    std::fs::write(&results, vario_results::table::render_csv(&doc))
        .with_context(|| format!("cannot write {}", results.display()))?;
    files.push(results);
    for f in files {
        println!("{}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}
