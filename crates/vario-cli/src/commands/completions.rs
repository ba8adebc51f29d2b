//! `vario completions <shell>`: the shell completion script, generated from the same
//! clap definition that parses the command line, so it never falls behind.

use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

/// `vario completions` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the completion script to standard output.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut command = crate::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "vario", &mut out);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &out)?;
    Ok(ExitCode::SUCCESS)
}
