//! The `vario` command.

use std::process::ExitCode;

use clap::Parser;
use vario_cli::{Cli, run};

/// Measured under sustained ingest (`tools/load/run.sh`): the server's peak memory was
/// about 390 MB with glibc's allocator, whose per-thread arenas keep freed memory apart,
/// and 276 MB with jemalloc at the same throughput (mimalloc: 597 MB). Its settings are
/// baked in at build time (`.cargo/config.toml`).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            // Like other Unix tools, a closed pipe downstream is not an error.
            if error.chain().any(|e| {
                e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {error:#}");
            vario_cli::exit_code::FAILURE.into()
        }
    }
}
