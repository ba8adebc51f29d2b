//! [`SqliteStore`]: projects in one SQLite file (WAL mode, so the server and the
//! command line can share it). The schema is versioned with `PRAGMA user_version`;
//! `docs/projects.md` describes the tables.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::ProjectError;
use crate::model::Project;
use crate::plan::Action;
use crate::repo::{AuditEntry, DatafileRecord, Store, StoredProject, Transaction};

/// File name of the project database inside a data directory.
pub const PROJECTS_FILE: &str = "projects.sqlite3";

/// `PRAGMA user_version` of the schema this Vario writes; a newer file is refused.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// First generated id; ids below are left to imported datafiles' small ids.
const FIRST_ID: i64 = 100_001;

/// Schema migrations, in order: `MIGRATIONS[n]` takes `user_version` n to n + 1.
const MIGRATIONS: [&str; 1] = ["
CREATE TABLE projects (
    key        TEXT PRIMARY KEY,
    revision   INTEGER NOT NULL,
    document   TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE TABLE project_history (
    project  TEXT NOT NULL,
    revision INTEGER NOT NULL,
    document TEXT NOT NULL,
    actor    TEXT NOT NULL,
    at       TEXT NOT NULL,
    PRIMARY KEY (project, revision)
) STRICT;
-- Every id ever handed out or imported: never handed out again.
CREATE TABLE used_ids (id TEXT PRIMARY KEY) STRICT, WITHOUT ROWID;
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
CREATE TABLE audit_log (
    seq      INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL,
    project  TEXT NOT NULL,
    revision INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    key      TEXT NOT NULL,
    action   TEXT NOT NULL,
    fields   TEXT NOT NULL,
    before   TEXT,
    after    TEXT
) STRICT;
CREATE INDEX audit_by_project ON audit_log (project, seq);
CREATE TABLE datafiles (
    sdk_key     TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    project     TEXT NOT NULL,
    environment TEXT NOT NULL,
    datafile    TEXT NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (sdk_key, revision)
) STRICT;
"];

/// Projects in a SQLite file.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish()
    }
}

impl SqliteStore {
    /// Opens (creating and migrating when needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ProjectError> {
        let path = path.as_ref().to_path_buf();
        let err = |e: rusqlite::Error| storage(&path, &e);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| ProjectError::Storage { path: path.display().to_string(), message: e.to_string() })?;
        }
        let mut conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get::<_, String>(0)).map_err(err)?;
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;").map_err(err)?;
        migrate(&mut conn, &path)?;
        Ok(Self { conn: Mutex::new(conn), path })
    }

    /// Opens `DATA_DIR/projects.sqlite3`.
    pub fn open_in(data_dir: impl AsRef<Path>) -> Result<Self, ProjectError> {
        Self::open(data_dir.as_ref().join(PROJECTS_FILE))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn storage(path: &Path, e: &rusqlite::Error) -> ProjectError {
    ProjectError::Storage { path: path.display().to_string(), message: e.to_string() }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), ProjectError> {
    let err = |e: rusqlite::Error| storage(path, &e);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(err)?;
    let known = SCHEMA_VERSION;
    if version > known {
        return Err(ProjectError::Storage {
            path: path.display().to_string(),
            message: format!("schema version {version} is newer than this Vario understands ({known})"),
        });
    }
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql).map_err(err)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", n + 1)).map_err(err)?;
    }
    tx.commit().map_err(err)
}

impl Store for SqliteStore {
    fn write<R>(
        &self,
        commit: bool,
        f: impl FnOnce(&mut dyn Transaction) -> Result<R, ProjectError>,
    ) -> Result<R, ProjectError> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        // IMMEDIATE: take the write lock now, so two writers (server and command line)
        // serialize instead of failing at commit.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| storage(&self.path, &e))?;
        let mut t = SqliteTx { conn: &tx, path: &self.path };
        let result = f(&mut t)?;
        if commit {
            tx.commit().map_err(|e| storage(&self.path, &e))?;
        }
        Ok(result)
    }

    fn read<R>(&self, f: impl FnOnce(&mut dyn Transaction) -> Result<R, ProjectError>) -> Result<R, ProjectError> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred).map_err(|e| storage(&self.path, &e))?;
        let mut t = SqliteTx { conn: &tx, path: &self.path };
        f(&mut t)
    }
}

struct SqliteTx<'a> {
    conn: &'a Connection,
    path: &'a Path,
}

impl SqliteTx<'_> {
    fn err(&self, e: &rusqlite::Error) -> ProjectError {
        storage(self.path, e)
    }

    fn parse(&self, document: &str) -> Result<Project, ProjectError> {
        serde_json::from_str(document).map_err(|e| ProjectError::Storage {
            path: self.path.display().to_string(),
            message: format!("a stored project does not parse: {e}"),
        })
    }

    fn datafile(&self, sql: &str, params: impl rusqlite::Params) -> Result<Option<DatafileRecord>, ProjectError> {
        self.conn
            .query_row(sql, params, |row| {
                Ok(DatafileRecord {
                    sdk_key: row.get(0)?,
                    revision: row.get::<_, i64>(1)? as u64,
                    project: row.get(2)?,
                    environment: row.get(3)?,
                    json: row.get(4)?,
                })
            })
            .optional()
            .map_err(|e| self.err(&e))
    }
}

fn to_json(value: Option<&serde_json::Value>) -> Option<String> {
    value.map(ToString::to_string)
}

impl Transaction for SqliteTx<'_> {
    fn list(&mut self) -> Result<Vec<(String, u64)>, ProjectError> {
        let mut stmt =
            self.conn.prepare("SELECT key, revision FROM projects ORDER BY key").map_err(|e| self.err(&e))?;
        let rows = stmt
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64)))
            .map_err(|e| self.err(&e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(&e))
    }

    fn load(&mut self, key: &str) -> Result<Option<StoredProject>, ProjectError> {
        let row = self
            .conn
            .query_row("SELECT document, revision FROM projects WHERE key = ?1", [key], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .optional()
            .map_err(|e| self.err(&e))?;
        row.map(|(doc, revision)| Ok(StoredProject { project: self.parse(&doc)?, revision: revision as u64 }))
            .transpose()
    }

    fn save(&mut self, project: &Project, revision: u64, actor: &str, at: &str) -> Result<(), ProjectError> {
        let doc = serde_json::to_string(project).map_err(|e| ProjectError::Syntax(e.to_string()))?;
        self.conn
            .execute(
                "INSERT INTO projects (key, revision, document, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key) DO UPDATE SET revision = ?2, document = ?3, updated_at = ?4",
                params![project.key, revision as i64, doc, at],
            )
            .map_err(|e| self.err(&e))?;
        self.conn
            .execute(
                "INSERT INTO project_history (project, revision, document, actor, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![project.key, revision as i64, doc, actor, at],
            )
            .map_err(|e| self.err(&e))?;
        Ok(())
    }

    fn load_at(&mut self, key: &str, revision: u64) -> Result<Option<Project>, ProjectError> {
        let doc: Option<String> = self
            .conn
            .query_row(
                "SELECT document FROM project_history WHERE project = ?1 AND revision = ?2",
                params![key, revision as i64],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.err(&e))?;
        doc.map(|d| self.parse(&d)).transpose()
    }

    fn fresh_id(&mut self) -> Result<String, ProjectError> {
        let mut next: i64 = self
            .conn
            .query_row("SELECT value FROM counters WHERE name = 'next_id'", [], |row| row.get(0))
            .optional()
            .map_err(|e| self.err(&e))?
            .unwrap_or(FIRST_ID);
        loop {
            let id = next.to_string();
            next += 1;
            // Imported datafiles bring ids of their own; skip those.
            if !self.id_used(&id)? {
                self.conn
                    .execute(
                        "INSERT INTO counters (name, value) VALUES ('next_id', ?1)
                         ON CONFLICT (name) DO UPDATE SET value = ?1",
                        [next],
                    )
                    .map_err(|e| self.err(&e))?;
                self.mark_used(std::slice::from_ref(&id))?;
                return Ok(id);
            }
        }
    }

    fn id_used(&mut self, id: &str) -> Result<bool, ProjectError> {
        self.conn
            .query_row("SELECT 1 FROM used_ids WHERE id = ?1", [id], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(|e| self.err(&e))
    }

    fn mark_used(&mut self, ids: &[String]) -> Result<(), ProjectError> {
        let mut stmt =
            self.conn.prepare_cached("INSERT OR IGNORE INTO used_ids (id) VALUES (?1)").map_err(|e| self.err(&e))?;
        for id in ids {
            stmt.execute([id]).map_err(|e| self.err(&e))?;
        }
        Ok(())
    }

    fn append_audit(&mut self, e: &AuditEntry) -> Result<(), ProjectError> {
        self.conn
            .execute(
                "INSERT INTO audit_log (at, actor, project, revision, kind, key, action, fields, before, after)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    e.at,
                    e.actor,
                    e.project,
                    e.revision as i64,
                    e.kind,
                    e.key,
                    e.action.as_str(),
                    serde_json::Value::from(e.fields.clone()).to_string(),
                    to_json(e.before.as_ref()),
                    to_json(e.after.as_ref()),
                ],
            )
            .map_err(|e| self.err(&e))?;
        Ok(())
    }

    fn audit_log(&mut self, project: &str, limit: usize) -> Result<Vec<AuditEntry>, ProjectError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, at, actor, project, revision, kind, key, action, fields, before, after
                 FROM audit_log WHERE project = ?1 ORDER BY seq DESC LIMIT ?2",
            )
            .map_err(|e| self.err(&e))?;
        let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
        let rows = stmt
            .query_map(params![project, limit as i64], |row| {
                let action: String = row.get(7)?;
                let fields: String = row.get(8)?;
                Ok(AuditEntry {
                    seq: row.get(0)?,
                    at: row.get(1)?,
                    actor: row.get(2)?,
                    project: row.get(3)?,
                    revision: row.get::<_, i64>(4)? as u64,
                    kind: row.get(5)?,
                    key: row.get(6)?,
                    action: match action.as_str() {
                        "create" => Action::Create,
                        "archive" => Action::Archive,
                        "restore" => Action::Restore,
                        _ => Action::Update,
                    },
                    fields: serde_json::from_str(&fields).unwrap_or_default(),
                    before: json(row.get(9)?),
                    after: json(row.get(10)?),
                })
            })
            .map_err(|e| self.err(&e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(&e))
    }

    fn latest_datafile(&mut self, sdk_key: &str) -> Result<Option<DatafileRecord>, ProjectError> {
        self.datafile(
            "SELECT sdk_key, revision, project, environment, datafile FROM datafiles
             WHERE sdk_key = ?1 ORDER BY revision DESC LIMIT 1",
            [sdk_key],
        )
    }

    fn datafile_at(&mut self, sdk_key: &str, revision: u64) -> Result<Option<DatafileRecord>, ProjectError> {
        self.datafile(
            "SELECT sdk_key, revision, project, environment, datafile FROM datafiles
             WHERE sdk_key = ?1 AND revision = ?2",
            params![sdk_key, revision as i64],
        )
    }

    fn record_datafile(&mut self, r: &DatafileRecord, at: &str) -> Result<(), ProjectError> {
        self.conn
            .execute(
                "INSERT INTO datafiles (sdk_key, revision, project, environment, datafile, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![r.sdk_key, r.revision as i64, r.project, r.environment, r.json, at],
            )
            .map_err(|e| self.err(&e))?;
        Ok(())
    }
}
