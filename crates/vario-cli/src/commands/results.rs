//! `vario results`: an experiment's results from a data directory, as a table, JSON or
//! CSV. `vario export` shares the options that select what is analysed.

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use vario_results::{
    Bound, Engine, Granularity, Progress, ResultsError, ResultsRequest, SegmentDoc, SqlMetric, Window, find_config,
    parse_time,
};

use crate::commands::serve::{DEFAULT_DATA_DIR, env};
use crate::exit_code;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A readable table per metric.
    Table,
    /// The results document (`docs/results.md`), as the HTTP API answers.
    Json,
    /// One row per metric and variation.
    Csv,
}

/// Series bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Interval {
    /// One look per UTC hour.
    Hour,
    /// One look per UTC day.
    Day,
}

/// What to analyse: shared by `vario results` and `vario export`.
#[derive(Debug, clap::Args)]
pub struct Selection {
    /// Data directory of `vario serve`.
    #[arg(long, env = env::DATA_DIR, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Experiment (or flag rule) key.
    #[arg(long, value_name = "KEY")]
    pub experiment: String,
    /// Only decisions from this time on: a date (2026-11-01), an RFC 3339 time or Unix ms.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Only events up to this time (a date means the end of that day).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Only visitors whose first decision carried this attribute value.
    #[arg(long, value_name = "ATTR=VALUE")]
    pub segment: Option<String>,
    /// Leave out visitors who saw more than one variation.
    #[arg(long)]
    pub exclude_multiple_exposures: bool,
    /// SDK key of the hosted datafile that defines the experiment (when several do).
    #[arg(long, value_name = "KEY")]
    pub sdk_key: Option<String>,
    /// Read the experiment from this datafile instead of the hosted ones.
    #[arg(long, value_name = "FILE")]
    pub datafile: Option<PathBuf>,
    /// A custom metric: SQL over `events` returning visitor_id, timestamp, value (repeatable).
    #[arg(long = "metric-sql", value_name = "NAME=SQL")]
    pub metric_sql: Vec<String>,
}

/// `vario results` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to analyse.
    #[command(flatten)]
    pub selection: Selection,
    /// Significance level.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Variation the others are compared with (the first by default).
    #[arg(long, value_name = "KEY")]
    pub baseline: Option<String>,
    /// Bucket width of the series and of the sequential test's looks.
    #[arg(long, value_enum, default_value_t = Interval::Day)]
    pub interval: Interval,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

impl Selection {
    /// The request these options describe.
    pub fn request(&self) -> Result<ResultsRequest, ResultsError> {
        let mut req = ResultsRequest::new(&self.experiment);
        req.window = Window {
            from: self.from.as_deref().map(|t| parse_time(t, Bound::Start)).transpose()?,
            to: self.to.as_deref().map(|t| parse_time(t, Bound::End)).transpose()?,
        };
        req.segment = self.segment.as_deref().map(parse_segment).transpose()?;
        req.exclude_multiple_exposures = self.exclude_multiple_exposures;
        for m in &self.metric_sql {
            let (name, sql) = m
                .split_once('=')
                .ok_or_else(|| ResultsError::InvalidRequest(format!("--metric-sql {m:?}: write NAME=SQL")))?;
            req.sql_metrics.push(SqlMetric { name: name.trim().to_owned(), sql: sql.to_owned() });
        }
        Ok(req)
    }
}

/// `ATTR=VALUE`.
pub fn parse_segment(text: &str) -> Result<SegmentDoc, ResultsError> {
    match text.split_once('=') {
        Some((a, v)) if !a.trim().is_empty() => Ok(SegmentDoc { attribute: a.trim().to_owned(), value: v.to_owned() }),
        _ => Err(ResultsError::InvalidRequest(format!("segment {text:?}: write ATTRIBUTE=VALUE"))),
    }
}

/// Prints a bad-input error and returns its exit status, or passes other errors on.
pub fn bad_input(e: ResultsError) -> anyhow::Result<ExitCode> {
    match e {
        ResultsError::UnknownExperiment { .. } | ResultsError::InvalidRequest(_) | ResultsError::Datafile(_) => {
            eprintln!("{e}");
            Ok(exit_code::BAD_INPUT.into())
        }
        ResultsError::Query(vario_store::QueryError::Invalid(m)) => {
            eprintln!("invalid query: {m}");
            Ok(exit_code::BAD_INPUT.into())
        }
        other => Err(other).context("computing results failed"),
    }
}

/// A progress line on stderr when it is a terminal.
pub fn progress_reporter() -> impl Fn(Progress) {
    let tty = std::io::stderr().is_terminal();
    let bar = indicatif::ProgressBar::new_spinner();
    if !tty {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    move |p: Progress| {
        let text = match p {
            Progress::Decisions(n) => format!("reading decisions: {n} rows"),
            Progress::Conversions(n) => format!("reading conversions: {n} rows"),
        };
        bar.set_message(text);
        bar.tick();
    }
}

/// Computes and prints the results.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let s = &args.selection;
    if !s.data_dir.is_dir() {
        eprintln!("{}: no such data directory", s.data_dir.display());
        return Ok(exit_code::BAD_INPUT.into());
    }
    let mut req = match s.request() {
        Ok(req) => req,
        Err(e) => return bad_input(e),
    };
    req.alpha = args.alpha;
    req.baseline = args.baseline.clone();
    req.granularity = match args.interval {
        Interval::Hour => Granularity::Hour,
        Interval::Day => Granularity::Day,
    };
    let config = match find_config(&s.data_dir, &s.experiment, s.sdk_key.as_deref(), s.datafile.as_deref()) {
        Ok(config) => config,
        Err(e) => return bad_input(e),
    };
    let progress = progress_reporter();
    let doc = match Engine::new(&s.data_dir).results(&config, &req, &progress) {
        Ok(doc) => doc,
        Err(e) => return bad_input(e),
    };
    let text = match args.format {
        Format::Table => vario_results::table::render_table(&doc),
        Format::Csv => vario_results::table::render_csv(&doc),
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&*doc).context("cannot encode the results")?),
    };
    std::io::stdout().lock().write_all(text.as_bytes()).context("cannot write the results")?;
    Ok(ExitCode::SUCCESS)
}
