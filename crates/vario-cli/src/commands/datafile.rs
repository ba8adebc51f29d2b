//! `vario datafile ...`: checks on datafiles.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use vario_datafile::ProjectConfig;

use crate::exit_code;

/// Datafile commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that a datafile loads; print a summary, or the first problem with its JSON path.
    Validate {
        /// The datafile.
        file: PathBuf,
    },
}

/// Runs a datafile command.
pub fn run(command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Validate { file } => {
            let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
            match ProjectConfig::from_json(&text) {
                Ok(config) => {
                    println!(
                        "{}: valid datafile v{} (revision {}): {} flags, {} experiments, {} audiences, {} events",
                        file.display(),
                        config.version,
                        config.revision,
                        config.flags.len(),
                        config.experiments.len(),
                        config.audiences.len(),
                        config.events.len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    eprintln!("{}: invalid datafile: {error}", file.display());
                    Ok(exit_code::BAD_INPUT.into())
                }
            }
        }
    }
}
