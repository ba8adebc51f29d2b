//! `vario man`: manual pages in roff, generated from the clap definition: `vario(1)` on
//! standard output, or with `--out-dir` one page per command (`vario-serve.1`, ...).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;

/// `vario man` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write `vario.1` and a page for every command (`vario-serve.1`, ...) into this
    /// directory instead of printing `vario.1`.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Prints or writes the pages.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let command = crate::Cli::command();
    match &args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command, dir).with_context(|| format!("cannot write into {}", dir.display()))?;
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(command).render(&mut out)?;
            std::io::Write::write_all(&mut std::io::stdout().lock(), &out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
