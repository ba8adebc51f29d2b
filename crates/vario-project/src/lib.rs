//! Project management: the flags, experiments, audiences, attributes and events of a
//! project, stored with stable ids and an audit log, and the Optimizely v4 datafile of
//! each environment built from them.
//!
//! - [`Project`] and its parts ([`model`]) are what people edit, as YAML files
//!   ([`from_yaml`], [`to_yaml`]) or through the admin API.
//! - [`change`] applies an edit in one transaction: ids kept by key and never reused,
//!   [`validate`] with field paths, the [`plan`] of changes written to the audit log, the
//!   revision bumped, every environment's datafile rebuilt ([`build_datafile`]) and its
//!   revision bumped when its content changed.
//! - [`SqliteStore`] implements the [`Store`] contract; [`import_datafile`] brings an
//!   existing datafile in with its ids; [`diff_datafiles`] compares two datafiles.
//!
//! ```
//! use vario_project::{ChangeRequest, SqliteStore, change, from_yaml};
//!
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open_in(dir.path())?;
//! let project = from_yaml("key: shop\nenvironments: [{key: production}]\nevents: [{key: purchase}]")?;
//! let outcome = change(&store, "shop", &ChangeRequest::default(), |_| Ok(project))?;
//! assert_eq!(outcome.revision, 1);
//! assert_eq!(outcome.datafiles[0].record.sdk_key, "shop-production");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod build;
mod change;
mod conditions;
mod datafile_diff;
mod error;
mod ids;
mod import;
pub mod model;
mod plan;
mod repo;
mod scalar;
mod sqlite;
mod sqlite_files;
mod time;
mod validate;
mod yaml;

pub use build::{build_datafile, datafile_value};
pub use change::{ChangeRequest, Outcome, Published, change, load};
pub use datafile_diff::{DatafileChange, diff_datafiles};
pub use error::{Problem, ProjectError};
pub use import::import_datafile;
pub use model::Project;
pub use plan::{Action, Change, KINDS, plan};
pub use repo::{AuditEntry, DatafileRecord, Store, StoredProject, Transaction};
pub use sqlite::{PROJECTS_FILE, SCHEMA_VERSION, SqliteStore};
pub use sqlite_files::{backup_database, schema_version};
pub use validate::{check_value, is_plain_key, validate};
pub use yaml::{from_yaml, live, to_yaml};
