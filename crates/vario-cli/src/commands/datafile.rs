//! `vario datafile ...`: checks on datafiles.

use std::path::{Path, PathBuf};
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
    /// What differs from datafile A to datafile B, object by object (exit status 1 when they differ).
    Diff {
        /// The first datafile.
        a: PathBuf,
        /// The second datafile.
        b: PathBuf,
    },
}

/// Runs a datafile command.
pub fn run(command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Diff { a, b } => diff(a, b),
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
                    for warning in &config.warnings {
                        eprintln!("{}: warning: {warning}", file.display());
                    }
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

fn diff(a: &Path, b: &Path) -> anyhow::Result<ExitCode> {
    let read = |file: &Path| -> anyhow::Result<Option<serde_json::Value>> {
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        match serde_json::from_str(&text) {
            Ok(value) => Ok(Some(value)),
            Err(e) => {
                eprintln!("{}: not JSON: {e}", file.display());
                Ok(None)
            }
        }
    };
    let (Some(first), Some(second)) = (read(a)?, read(b)?) else {
        return Ok(exit_code::BAD_INPUT.into());
    };
    let changes = vario_project::diff_datafiles(&first, &second);
    for change in &changes {
        println!("{change}");
    }
    // Like diff(1): 0 when equal, 1 when different.
    Ok(if changes.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
