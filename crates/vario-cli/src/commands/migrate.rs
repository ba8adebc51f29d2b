//! `vario migrate`: brings a data directory's files to the formats this Vario writes.
//! `vario serve` does the same on start; this says beforehand what changes
//! (`--dry-run`), and does it while no server runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use vario_store::formats::FormatStatus;

use crate::commands::serve::{DEFAULT_DATA_DIR, env};
use crate::exit_code;

/// `vario migrate` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory to upgrade (no server may run on it).
    #[arg(long, env = env::DATA_DIR, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Only say what would change.
    #[arg(long)]
    pub dry_run: bool,
}

/// Prints each kind of file with its version and what changes, then (without
/// `--dry-run`) changes it.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let dir = &args.data_dir;
    if !dir.is_dir() {
        eprintln!("{}: no such data directory", dir.display());
        return Ok(exit_code::BAD_INPUT.into());
    }
    let mut statuses = vario_store::formats::inspect(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let projects = vario_project::schema_version(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let project_change = projects
        .filter(|&v| v < vario_project::SCHEMA_VERSION)
        .map(|v| format!("schema {v} -> {}: the missing tables are created", vario_project::SCHEMA_VERSION));
    statuses.push(FormatStatus {
        what: "project database schema",
        path: PathBuf::from(vario_project::PROJECTS_FILE),
        found: projects,
        current: vario_project::SCHEMA_VERSION,
        change: project_change,
    });
    let changes = statuses.iter().filter(|s| s.change.is_some()).count();
    print!("{}", describe(dir, &statuses, args.dry_run));
    if args.dry_run || changes == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    vario_store::formats::migrate(dir).with_context(|| format!("cannot migrate {}", dir.display()))?;
    if projects.is_some() {
        vario_project::SqliteStore::open_in(dir)
            .with_context(|| format!("cannot migrate the projects of {}", dir.display()))?;
    }
    println!("migrated {}: {changes} change(s) made", dir.display());
    Ok(ExitCode::SUCCESS)
}

fn describe(dir: &Path, statuses: &[FormatStatus], dry_run: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}:", dir.display());
    for s in statuses {
        let found = s.found.map_or_else(|| "none yet".to_owned(), |v| format!("version {v}"));
        let what = match &s.change {
            None if s.found.is_none() => "nothing to do".to_owned(),
            None => "current".to_owned(),
            Some(change) => format!("{} {change}", if dry_run { "would change:" } else { "changes:" }),
        };
        let _ = writeln!(out, "  {} ({}): {found}, this Vario writes {}; {what}", s.what, s.path.display(), s.current);
    }
    if !statuses.iter().any(|s| s.change.is_some()) {
        let _ = writeln!(out, "nothing to migrate");
    }
    out
}
