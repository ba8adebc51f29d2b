//! The storage contract: a [`Store`] runs closures in transactions over a small set of
//! [`Transaction`] operations. The logic of a change ([`crate::change`]) is written
//! against these traits only, so another database (PostgreSQL) needs only them.

use serde::Serialize;
use serde_json::Value;

use crate::error::ProjectError;
use crate::model::Project;
use crate::plan::Action;

/// A project as stored, with its revision (1 after creation, +1 per change).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredProject {
    /// The document.
    pub project: Project,
    /// The revision.
    pub revision: u64,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Position in the log (assigned by the store).
    pub seq: i64,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// Who: the API caller or the command-line user.
    pub actor: String,
    /// Project key.
    pub project: String,
    /// The project revision the change produced.
    pub revision: u64,
    /// Kind of object (`flag`, `audience`, ...).
    pub kind: String,
    /// The object's key.
    pub key: String,
    /// What happened.
    pub action: Action,
    /// Top-level fields that changed (updates).
    pub fields: Vec<String>,
    /// The object before.
    pub before: Option<Value>,
    /// The object after.
    pub after: Option<Value>,
}

/// A published datafile of one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatafileRecord {
    /// Project key.
    pub project: String,
    /// Environment key.
    pub environment: String,
    /// SDK key.
    pub sdk_key: String,
    /// Datafile revision (per SDK key, +1 each time its content changes).
    pub revision: u64,
    /// The datafile JSON.
    pub json: String,
}

/// The operations of one transaction.
pub trait Transaction {
    /// Every project key with its revision, by key.
    fn list(&mut self) -> Result<Vec<(String, u64)>, ProjectError>;
    /// A project.
    fn load(&mut self, key: &str) -> Result<Option<StoredProject>, ProjectError>;
    /// Stores `project` at `revision` (also into its history).
    fn save(&mut self, project: &Project, revision: u64, actor: &str, at: &str) -> Result<(), ProjectError>;
    /// The project document at an older revision.
    fn load_at(&mut self, key: &str, revision: u64) -> Result<Option<Project>, ProjectError>;
    /// A numeric id never handed out or recorded before; recorded now.
    fn fresh_id(&mut self) -> Result<String, ProjectError>;
    /// Whether `id` was ever handed out or recorded.
    fn id_used(&mut self, id: &str) -> Result<bool, ProjectError>;
    /// Records ids as used, so they are never handed out.
    fn mark_used(&mut self, ids: &[String]) -> Result<(), ProjectError>;
    /// Appends to the audit log (the entry's `seq` is ignored).
    fn append_audit(&mut self, entry: &AuditEntry) -> Result<(), ProjectError>;
    /// The newest `limit` audit entries of a project, newest first.
    fn audit_log(&mut self, project: &str, limit: usize) -> Result<Vec<AuditEntry>, ProjectError>;
    /// The newest datafile of an SDK key.
    fn latest_datafile(&mut self, sdk_key: &str) -> Result<Option<DatafileRecord>, ProjectError>;
    /// The datafile of an SDK key at a revision.
    fn datafile_at(&mut self, sdk_key: &str, revision: u64) -> Result<Option<DatafileRecord>, ProjectError>;
    /// Records a new datafile revision.
    fn record_datafile(&mut self, record: &DatafileRecord, at: &str) -> Result<(), ProjectError>;
}

/// A database of projects.
pub trait Store {
    /// Runs `f` in a write transaction: committed when `f` succeeds and `commit` is
    /// true, else rolled back. Write transactions run one at a time.
    fn write<R>(
        &self,
        commit: bool,
        f: impl FnOnce(&mut dyn Transaction) -> Result<R, ProjectError>,
    ) -> Result<R, ProjectError>;

    /// Runs `f` on a consistent snapshot.
    fn read<R>(&self, f: impl FnOnce(&mut dyn Transaction) -> Result<R, ProjectError>) -> Result<R, ProjectError>;
}
