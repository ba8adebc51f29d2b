//! `vario backup` and `vario restore`: a consistent copy of a data directory while a
//! server writes it, and a new data directory from such a copy. The store and the
//! project database copy their own files (`vario_store::backup`,
//! `vario_project::backup_database`); this command puts them together and seals the
//! copy with its manifest.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::commands::serve::{DEFAULT_DATA_DIR, env};

/// The generated admin token, kept with the data (see `vario serve`).
const ADMIN_TOKEN_FILE: &str = "admin-token";

/// `vario backup` arguments.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Data directory to back up (a server may be running on it).
    #[arg(long, env = env::DATA_DIR, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Directory to write the backup into; must be empty or not exist.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
}

/// `vario restore` arguments.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// A backup directory made by `vario backup`.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// The new data directory; must be empty or not exist.
    #[arg(long, env = env::DATA_DIR, value_name = "DIR")]
    pub data_dir: PathBuf,
}

/// Makes the backup and prints what it holds.
pub fn backup(args: &BackupArgs) -> anyhow::Result<ExitCode> {
    let data_dir = &args.data_dir;
    let storage = vario_store::backup::backup(data_dir, &args.to)
        .with_context(|| format!("cannot back up {}", data_dir.display()))?;
    let projects = vario_project::backup_database(data_dir, &args.to)
        .with_context(|| format!("cannot back up the projects of {}", data_dir.display()))?;
    vario_store::backup::copy_file(&data_dir.join(ADMIN_TOKEN_FILE), &args.to, ADMIN_TOKEN_FILE)?;
    let manifest = vario_store::backup::seal(&args.to, env!("CARGO_PKG_VERSION"), storage)
        .with_context(|| format!("cannot write the manifest of {}", args.to.display()))?;
    let bytes: u64 = manifest.files.iter().map(|f| f.bytes).sum();
    println!(
        "backed up {} into {}: events through seq {} ({} in the log, {} Parquet files up to seq {}), \
         {} uuid index runs, {} datafiles, projects: {}; {} files, {bytes} bytes",
        data_dir.display(),
        args.to.display(),
        storage.last_seq,
        storage.log_events,
        storage.parquet_files,
        storage.watermark,
        storage.uuid_runs,
        storage.datafiles,
        if projects { "yes" } else { "none" },
        manifest.files.len(),
    );
    Ok(ExitCode::SUCCESS)
}

/// Checks the backup and writes the new data directory.
pub fn restore(args: &RestoreArgs) -> anyhow::Result<ExitCode> {
    let manifest = vario_store::backup::restore(&args.from, &args.data_dir)
        .with_context(|| format!("cannot restore {} into {}", args.from.display(), args.data_dir.display()))?;
    check_formats(&args.data_dir)?;
    println!(
        "restored {} (made by Vario {}, events through seq {}) into {}: {} files checked and copied",
        args.from.display(),
        manifest.vario_version,
        manifest.storage.last_seq,
        args.data_dir.display(),
        manifest.files.len(),
    );
    Ok(ExitCode::SUCCESS)
}

/// A restored directory opens with this Vario (a backup from a newer one does not).
fn check_formats(data_dir: &Path) -> anyhow::Result<()> {
    vario_store::formats::inspect(data_dir).with_context(|| format!("{} cannot be opened", data_dir.display()))?;
    vario_project::schema_version(data_dir).with_context(|| format!("{} cannot be opened", data_dir.display()))?;
    Ok(())
}
