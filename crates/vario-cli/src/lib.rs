//! The `vario` command line: argument definitions and the commands behind them.
//! `src/commands/<name>.rs` is `vario <name>`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod commands;
pub mod exit_code;

/// `vario --version`: the release and the git commit it was built from (`build.rs`).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("VARIO_COMMIT"), ")");

/// Vario: feature flags, A/B tests and results, compatible with Optimizely datafiles.
#[derive(Debug, Parser)]
#[command(name = "vario", version = VERSION, about)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Answer SDK calls read as JSON lines from stdin, one JSON response per line.
    Eval(commands::eval::Args),
    /// Datafile tools.
    #[command(subcommand)]
    Datafile(commands::datafile::Command),
    /// Run the server: Events API, datafile hosting, health and metrics.
    Serve(commands::serve::Args),
    /// Read-only SQL over the stored events (`events` table), with or without a running server.
    Query(commands::query::Args),
    /// An experiment's results: visitors, conversions, improvement, always-valid intervals.
    Results(commands::results::Args),
    /// An experiment's attributed conversions, per-visitor table and results, as files.
    Export(commands::export::Args),
    /// Write a synthetic A/B test data set straight into storage (benchmarks, demos).
    Generate(commands::generate::Args),
    /// Generate realistic traffic from a datafile with the Vario SDK and send it to a server.
    Simulate(commands::simulate::Args),
    /// Projects as declarative YAML files: apply, export, import a datafile.
    #[command(subcommand)]
    Project(commands::project::Command),
    /// What a user gets from every flag and experiment, and why.
    Explain(commands::explain::Args),
    /// Copy a data directory, consistently, while a server writes it.
    Backup(commands::backup::BackupArgs),
    /// Make a new data directory from a backup.
    Restore(commands::backup::RestoreArgs),
    /// Upgrade a data directory's files to this version's formats (`--dry-run`: only say what changes).
    Migrate(commands::migrate::Args),
    /// Ask a running server whether it is healthy (`GET /healthz`); exit status 0 if so.
    Health(commands::health::Args),
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(commands::completions::Args),
    /// Print the manual page, or write one per command with `--out-dir`.
    Man(commands::man::Args),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Eval(args) => commands::eval::run(&args),
        Command::Datafile(command) => commands::datafile::run(&command),
        Command::Serve(args) => commands::serve::run(args),
        Command::Query(args) => commands::query::run(&args),
        Command::Simulate(args) => commands::simulate::run(&args),
        Command::Results(args) => commands::results::run(&args),
        Command::Export(args) => commands::export::run(&args),
        Command::Generate(args) => commands::generate::run(&args),
        Command::Project(command) => commands::project::run(&command),
        Command::Explain(args) => commands::explain::run(&args),
        Command::Backup(args) => commands::backup::backup(&args),
        Command::Restore(args) => commands::backup::restore(&args),
        Command::Migrate(args) => commands::migrate::run(&args),
        Command::Health(args) => commands::health::run(&args),
        Command::Completions(args) => commands::completions::run(&args),
        Command::Man(args) => commands::man::run(&args),
    }
}
