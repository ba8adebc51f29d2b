//! The project database as a file: its schema version (for `vario migrate`) and a
//! consistent copy of it while a server uses it (for `vario backup`).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::error::ProjectError;
use crate::sqlite::{PROJECTS_FILE, SCHEMA_VERSION};

/// The schema version of `DATA_DIR/projects.sqlite3` (`None` when there is none yet),
/// without changing it. A newer version than this Vario's is an error naming both.
pub fn schema_version(data_dir: &Path) -> Result<Option<i64>, ProjectError> {
    let path = data_dir.join(PROJECTS_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let conn = open_read_only(&path)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| storage(&path, &e))?;
    if version > SCHEMA_VERSION {
        return Err(ProjectError::Storage {
            path: path.display().to_string(),
            message: format!("schema version {version} is newer than this Vario understands ({SCHEMA_VERSION})"),
        });
    }
    Ok(Some(version))
}

/// Copies `DATA_DIR/projects.sqlite3` to `to/projects.sqlite3` as one consistent
/// snapshot (`VACUUM INTO`: one read transaction, writers go on). `false` when the data
/// directory has no project database.
pub fn backup_database(data_dir: &Path, to: &Path) -> Result<bool, ProjectError> {
    let path = data_dir.join(PROJECTS_FILE);
    if !path.exists() {
        return Ok(false);
    }
    let conn = open_read_only(&path)?;
    let target = to.join(PROJECTS_FILE);
    let target_text = target.to_str().ok_or_else(|| ProjectError::Storage {
        path: target.display().to_string(),
        message: "the path is not UTF-8".into(),
    })?;
    conn.execute("VACUUM INTO ?1", [target_text]).map_err(|e| storage(&path, &e))?;
    Ok(true)
}

fn open_read_only(path: &Path) -> Result<Connection, ProjectError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| storage(path, &e))?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(|e| storage(path, &e))?;
    Ok(conn)
}

fn storage(path: &Path, e: &rusqlite::Error) -> ProjectError {
    ProjectError::Storage { path: path.display().to_string(), message: e.to_string() }
}
