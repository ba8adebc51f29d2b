//! `vario project ...`: declarative project files. The projects live in the data
//! directory (`projects.sqlite3`); every change publishes the datafiles whose content
//! changed to `datafiles/`, where `vario serve` hosts them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use vario_project::{ChangeRequest, Outcome, Project, ProjectError, SqliteStore, Store};
use vario_store::Datafiles;

use crate::exit_code;

/// Default data directory, as for `vario serve`.
const DEFAULT_DATA_DIR: &str = super::serve::DEFAULT_DATA_DIR;

/// Where the projects are.
#[derive(Debug, clap::Args)]
pub struct Location {
    /// Data directory of the server [default: ./vario-data].
    #[arg(long, env = super::serve::env::DATA_DIR, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl Location {
    fn dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
    }
}

/// Project commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make the stored project match a YAML file: show the plan, then apply it.
    Apply {
        /// The project file (docs/projects.md).
        file: PathBuf,
        /// Show the plan only.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        location: Location,
    },
    /// Print a project as YAML that applies back to the same state.
    Export {
        /// The project's key [default: the only project].
        #[arg(long)]
        project: Option<String>,
        #[command(flatten)]
        location: Location,
    },
    /// Bring in an existing Optimizely datafile as one environment of a project, keeping its ids.
    Import {
        /// The datafile.
        datafile: PathBuf,
        /// Key of the project to create or update.
        #[arg(long, default_value = "imported")]
        project: String,
        /// The environment the datafile is for.
        #[arg(long, default_value = "production")]
        environment: String,
        /// Show the plan only.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        location: Location,
    },
}

/// Runs a project command.
pub fn run(command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Apply { file, dry_run, location } => {
            let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
            let project = match vario_project::from_yaml(&text) {
                Ok(p) => p,
                Err(e) => return bad_input(&format!("{}: {e}", file.display())),
            };
            let key = project.key.clone();
            apply(&location.dir(), &key, *dry_run, |_| Ok(project))
        }
        Command::Export { project, location } => {
            let store = open(&location.dir())?;
            let key = match project {
                Some(key) => key.clone(),
                None => only_project(&store)?,
            };
            let stored = match vario_project::load(&store, &key) {
                Ok(s) => s,
                Err(ProjectError::NotFound(_)) => return bad_input(&format!("no project {key:?}")),
                Err(e) => return Err(e.into()),
            };
            print!("{}", vario_project::to_yaml(&stored.project)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { datafile, project, environment, dry_run, location } => {
            let text =
                std::fs::read_to_string(datafile).with_context(|| format!("cannot read {}", datafile.display()))?;
            let imported = match vario_project::import_datafile(&text, project, environment) {
                Ok(p) => p,
                Err(e) => return bad_input(&format!("{}: {e}", datafile.display())),
            };
            // Other environments of an existing project stay as they are.
            apply(&location.dir(), project, *dry_run, |old| Ok(merge_environment(old, imported, environment)))
        }
    }
}

fn bad_input(message: &str) -> anyhow::Result<ExitCode> {
    eprintln!("error: {message}");
    Ok(exit_code::BAD_INPUT.into())
}

fn open(dir: &Path) -> anyhow::Result<SqliteStore> {
    SqliteStore::open_in(dir).with_context(|| format!("cannot open the projects of {}", dir.display()))
}

fn only_project(store: &SqliteStore) -> anyhow::Result<String> {
    let keys = store.read(|tx| tx.list())?;
    match keys.as_slice() {
        [(key, _)] => Ok(key.clone()),
        [] => anyhow::bail!("there is no project yet; create one with `vario project apply FILE`"),
        _ => anyhow::bail!(
            "there are several projects ({}); name one with --project",
            keys.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The stored project with `environment` replaced by the imported one; a new project
/// is the import itself.
fn merge_environment(old: Option<Project>, imported: Project, environment: &str) -> Project {
    let Some(mut old) = old else { return imported };
    // The import describes every object as it is in that environment: its statuses
    // replace the environment's; objects of other environments stay.
    let mut merged = imported;
    for e in old.environments.drain(..) {
        if e.key != environment && !merged.environments.iter().any(|m| m.key == e.key) {
            merged.environments.push(e);
        }
    }
    merged
}

fn apply(
    dir: &Path,
    key: &str,
    dry_run: bool,
    edit: impl FnOnce(Option<Project>) -> Result<Project, ProjectError>,
) -> anyhow::Result<ExitCode> {
    let store = open(dir)?;
    let request = ChangeRequest { actor: actor(), expected_revision: None, dry_run };
    let outcome = match vario_project::change(&store, key, &request, edit) {
        Ok(outcome) => outcome,
        Err(e @ (ProjectError::Invalid(_) | ProjectError::Syntax(_) | ProjectError::Import(_))) => {
            for problem in e.problems() {
                eprintln!("invalid: {problem}");
            }
            if e.problems().is_empty() {
                eprintln!("error: {e}");
            }
            return Ok(exit_code::BAD_INPUT.into());
        }
        Err(e) => return Err(e.into()),
    };
    print_plan(&outcome, dry_run);
    if !dry_run {
        publish(dir, &outcome)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_plan(outcome: &Outcome, dry_run: bool) {
    if outcome.changes.is_empty() {
        println!("project {:?} is up to date (revision {})", outcome.project.key, outcome.revision);
        return;
    }
    for change in &outcome.changes {
        println!("{change}");
    }
    let verb = if dry_run { "would be" } else { "is now" };
    println!("project {:?} {verb} at revision {}", outcome.project.key, outcome.revision);
    for published in outcome.datafiles.iter().filter(|p| p.changed) {
        let r = &published.record;
        println!("datafile {} (environment {}) {verb} at revision {}", r.sdk_key, r.environment, r.revision);
    }
}

/// Writes the datafiles whose content changed where `vario serve` hosts them.
pub fn publish(dir: &Path, outcome: &Outcome) -> anyhow::Result<()> {
    let datafiles = Datafiles::new(dir);
    for published in outcome.datafiles.iter().filter(|p| p.changed) {
        let r = &published.record;
        datafiles
            .put(&r.sdk_key, r.json.as_bytes())
            .with_context(|| format!("cannot publish datafile {}", r.sdk_key))?;
    }
    Ok(())
}

/// Who changes the project, for the audit log: the login name.
fn actor() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}
