//! Backups of a data directory's event storage while a server writes it, and restores.
//!
//! [`backup`] takes a consistent snapshot without stopping appends. Under the
//! maintenance lock (compaction and pruning wait; the writer does not):
//! 1. it reads `uuid_runs.through` (`t`) and opens every run file of the uuid index up
//!    to `t` (a run merged away meanwhile is found missing, and it starts over);
//! 2. it copies the log with `VACUUM INTO` (one read transaction: every commit up to
//!    that moment, none after) and sets the copy's `uuid_runs.through` back to `t`, so
//!    the keys of the events after `t` are read back from the copied log on start.
//!    Pruning waits for the lock and never goes past `uuid_runs.through`, so every
//!    event the copied runs do not cover is still in the copied log;
//! 3. it opens every Parquet file and reads the watermark, which cannot move.
//!
//! Then it releases the lock and copies from the open handles: files merged and deleted
//! meanwhile are still read whole. So the backup holds every event committed before it
//! started, each once, and the uuid keys of all of them.
//!
//! A backup directory has the layout of a data directory plus [`MANIFEST_FILE`], which
//! lists every file with its size and SHA-256 ([`seal`]); [`restore`] checks them all
//! before it copies anything into the new directory.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::compact::{EVENTS_DIR, WATERMARK_FILE, all_files, read_watermark};
use crate::datafiles::DATAFILES_DIR;
use crate::dedup::UUIDS_DIR;
use crate::dedup::run;
use crate::error::StoreError;
use crate::schema::LOG_FILE;
use crate::store::{LOG_DIR, sync_dir};

/// The manifest of a backup directory.
pub const MANIFEST_FILE: &str = "backup.json";
/// Version of the manifest's format.
const MANIFEST_VERSION: u32 = 1;
/// Attempts at step 1 when run files are merged away while they are opened.
const ATTEMPTS: usize = 20;

/// What [`backup`] copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupReport {
    /// The largest seq in the copied log (every event up to it is in the backup).
    pub last_seq: i64,
    /// The copied watermark: events up to it are in the copied Parquet files.
    pub watermark: i64,
    /// Events in the copied log (the ones not yet pruned).
    pub log_events: u64,
    /// Parquet files copied.
    pub parquet_files: u64,
    /// Run files of the uuid index copied.
    pub uuid_runs: u64,
    /// Hosted datafiles copied.
    pub datafiles: u64,
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Path inside the backup directory, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the contents, lowercase hex.
    pub sha256: String,
}

/// The contents of [`MANIFEST_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Version of this format.
    pub format: u32,
    /// Version of the Vario that made the backup.
    pub vario_version: String,
    /// When the backup was made, Unix epoch milliseconds.
    pub created_at: i64,
    /// What the event storage part held.
    pub storage: BackupReport,
    /// Every file of the backup but the manifest, sorted by path.
    pub files: Vec<ManifestEntry>,
}

/// Copies the event storage of `data_dir` (log, uuid index, Parquet files, hosted
/// datafiles) into `to`, which must be empty or not exist, while a server may be
/// writing it. Other files of the data directory belong to their owners.
pub fn backup(data_dir: &Path, to: &Path) -> Result<BackupReport, StoreError> {
    if !data_dir.is_dir() {
        return Err(StoreError::Backup(format!("{}: no such data directory", data_dir.display())));
    }
    prepare_target(to)?;
    let mut report = BackupReport::default();
    let snapshot = {
        let _lock = crate::maintenance::lock(data_dir)?;
        let log = data_dir.join(LOG_DIR).join(LOG_FILE);
        let runs = if log.exists() { snapshot_log(data_dir, to, &mut report)? } else { Vec::new() };
        let mark = read_watermark(data_dir)?;
        report.watermark = mark.map_or(0, |(seq, _)| seq);
        let mut files = open_all(&events_files(data_dir)?)?;
        files.extend(runs);
        report.parquet_files =
            files.iter().filter(|(p, _)| p.extension().is_some_and(|e| e == "parquet")).count() as u64;
        files
    };
    for (path, file) in snapshot {
        copy_open(file, &path, &to.join(relative(data_dir, &path)?))?;
    }
    let datafiles = data_dir.join(DATAFILES_DIR);
    if datafiles.is_dir() {
        // Each datafile is replaced by a rename, so whichever version a copy opens is whole.
        for entry in std::fs::read_dir(&datafiles).map_err(|e| StoreError::io(&datafiles, &e))? {
            let path = entry.map_err(|e| StoreError::io(&datafiles, &e))?.path();
            if path.extension().is_some_and(|e| e == "json") && !is_hidden(&path) {
                match File::open(&path) {
                    Ok(file) => copy_open(file, &path, &to.join(relative(data_dir, &path)?))?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(StoreError::io(&path, &e)),
                }
                report.datafiles += 1;
            }
        }
    }
    sync_tree(to)?;
    Ok(report)
}

/// Steps 1 and 2 of [`backup`]: the open run files up to `uuid_runs.through` and the
/// copy of the log, whose `through` is set to theirs.
fn snapshot_log(data_dir: &Path, to: &Path, report: &mut BackupReport) -> Result<Vec<(PathBuf, File)>, StoreError> {
    let log = data_dir.join(LOG_DIR).join(LOG_FILE);
    let sqlite = |e: rusqlite::Error| StoreError::sqlite(&log, &e);
    let conn = Connection::open_with_flags(&log, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(sqlite)?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sqlite)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sqlite)?;
    if version != crate::schema::SCHEMA_VERSION {
        return Err(StoreError::Backup(format!(
            "{}: the log has schema version {version}, not {}; run `vario migrate` first",
            log.display(),
            crate::schema::SCHEMA_VERSION
        )));
    }
    let uuids = data_dir.join(LOG_DIR).join(UUIDS_DIR);
    let mut attempt = 0;
    let (through, runs) = loop {
        attempt += 1;
        let through: i64 = conn.query_row("SELECT through FROM uuid_runs", [], |r| r.get(0)).map_err(sqlite)?;
        match open_runs(&uuids, through) {
            Ok(runs) => break (through, runs),
            // A merge removed an input between the listing and the open: list again.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt < ATTEMPTS => continue,
            Err(e) => return Err(StoreError::io(&uuids, &e)),
        }
    };
    report.uuid_runs = runs.len() as u64;

    let target_dir = to.join(LOG_DIR);
    std::fs::create_dir_all(&target_dir).map_err(|e| StoreError::io(&target_dir, &e))?;
    let target = target_dir.join(LOG_FILE);
    let target_text =
        target.to_str().ok_or_else(|| StoreError::Backup(format!("{}: the path is not UTF-8", target.display())))?;
    conn.execute("VACUUM INTO ?1", [target_text]).map_err(sqlite)?;
    drop(conn);

    let copy = Connection::open(&target).map_err(|e| StoreError::sqlite(&target, &e))?;
    let sqlite = |e: rusqlite::Error| StoreError::sqlite(&target, &e);
    let (pruned, last, count): (i64, Option<i64>, i64) = copy
        .query_row(
            "SELECT (SELECT through FROM pruned), (SELECT max(seq) FROM events), (SELECT count(*) FROM events)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(sqlite)?;
    if pruned > through {
        return Err(StoreError::Internal(format!(
            "the log was pruned through seq {pruned}, past the uuid runs ({through}) taken for the backup"
        )));
    }
    copy.execute("UPDATE uuid_runs SET through = ?1 WHERE id = 0", [through]).map_err(sqlite)?;
    drop(copy);
    report.last_seq = last.unwrap_or(0);
    report.log_events = u64::try_from(count).unwrap_or(0);
    Ok(runs)
}

/// Opens the run files of `dir` that end at or before `through` (a run past it is
/// not yet counted as written, and its keys are in the log).
fn open_runs(dir: &Path, through: i64) -> std::io::Result<Vec<(PathBuf, File)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut runs = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if run::parse_name(&name).is_some_and(|(_, last)| last <= through) {
            let file = File::open(&path)?;
            runs.push((path, file));
        }
    }
    Ok(runs)
}

/// The files of the events directory to copy: the watermark, the bulk-load marker and
/// every Parquet file (also the leftovers of an interrupted compaction: the first
/// compaction after a restore removes them, as it would have here).
fn events_files(data_dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let dir = data_dir.join(EVENTS_DIR);
    let mut files: Vec<PathBuf> = all_files(data_dir)?.into_iter().map(|f| f.path).collect();
    for name in [WATERMARK_FILE, crate::bulk::BULK_MARKER] {
        if dir.join(name).exists() {
            files.push(dir.join(name));
        }
    }
    Ok(files)
}

/// Opens `paths`; nothing in the events directory is deleted while the lock is held.
fn open_all(paths: &[PathBuf]) -> Result<Vec<(PathBuf, File)>, StoreError> {
    paths.iter().map(|p| File::open(p).map(|f| (p.clone(), f)).map_err(|e| StoreError::io(p, &e))).collect()
}

/// Checks every file of backup `from` against its manifest, then copies them into
/// `data_dir` (which must be empty or not exist). Returns the manifest.
pub fn restore(from: &Path, data_dir: &Path) -> Result<Manifest, StoreError> {
    let manifest = verify(from)?;
    prepare_target(data_dir)?;
    for entry in &manifest.files {
        let source = from.join(&entry.path);
        let file = File::open(&source).map_err(|e| StoreError::io(&source, &e))?;
        copy_open(file, &source, &data_dir.join(&entry.path))?;
    }
    sync_tree(data_dir)?;
    Ok(manifest)
}

/// Reads the manifest of backup `from` and checks that every file it lists is there
/// with the size and SHA-256 it lists, and that no other file is.
pub fn verify(from: &Path) -> Result<Manifest, StoreError> {
    let path = from.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        StoreError::Backup(format!("{}: not a backup (cannot read {MANIFEST_FILE}: {e})", from.display()))
    })?;
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| StoreError::Backup(format!("{}: {e}", path.display())))?;
    if manifest.format > MANIFEST_VERSION {
        return Err(StoreError::Backup(format!(
            "{}: backup format {} is newer than this Vario reads ({MANIFEST_VERSION}); made by Vario {}",
            path.display(),
            manifest.format,
            manifest.vario_version
        )));
    }
    let mut listed: Vec<&str> = Vec::with_capacity(manifest.files.len());
    for entry in &manifest.files {
        if entry.path.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
            return Err(StoreError::Backup(format!("{}: invalid path {:?}", path.display(), entry.path)));
        }
        let file = from.join(&entry.path);
        let (bytes, sha256) = digest(&file)?;
        if bytes != entry.bytes || sha256 != entry.sha256 {
            return Err(StoreError::Backup(format!(
                "{}: the file does not match the backup's manifest ({bytes} bytes, expected {}): it was changed or damaged",
                file.display(),
                entry.bytes
            )));
        }
        listed.push(&entry.path);
    }
    listed.sort_unstable();
    for found in list_tree(from)? {
        if found != MANIFEST_FILE && listed.binary_search(&found.as_str()).is_err() {
            return Err(StoreError::Backup(format!(
                "{}: a file the manifest does not list; the backup was changed",
                from.join(found).display()
            )));
        }
    }
    Ok(manifest)
}

/// Writes the manifest of backup directory `dir`, listing every file in it: the last
/// step of a backup, after every part has been copied in.
pub fn seal(dir: &Path, vario_version: &str, storage: BackupReport) -> Result<Manifest, StoreError> {
    let mut files = Vec::new();
    for path in list_tree(dir)? {
        let (bytes, sha256) = digest(&dir.join(&path))?;
        files.push(ManifestEntry { path, bytes, sha256 });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest = Manifest {
        format: MANIFEST_VERSION,
        vario_version: vario_version.to_owned(),
        created_at: crate::now_ms(),
        storage,
        files,
    };
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| StoreError::Internal(e.to_string()))?;
    let path = dir.join(MANIFEST_FILE);
    let tmp = dir.join(format!(".{MANIFEST_FILE}.tmp"));
    let write =
        |f: &mut File| f.write_all(text.as_bytes()).and_then(|()| f.write_all(b"\n")).and_then(|()| f.sync_all());
    File::create(&tmp).and_then(|mut f| write(&mut f)).map_err(|e| StoreError::io(&tmp, &e))?;
    std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, &e))?;
    sync_dir(dir)?;
    Ok(manifest)
}

/// Creates `dir`, or accepts it if it is an empty directory.
fn prepare_target(dir: &Path) -> Result<(), StoreError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(StoreError::Backup(format!("{}: the directory is not empty", dir.display())));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, &e))
        }
        Err(e) => Err(StoreError::io(dir, &e)),
    }
}

/// Copies the open `file` (read at `source`) to `target`, creating its directory, and
/// fsyncs it.
fn copy_open(mut file: File, source: &Path, target: &Path) -> Result<(), StoreError> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, &e))?;
    }
    let mut out = File::create(target).map_err(|e| StoreError::io(target, &e))?;
    std::io::copy(&mut file, &mut out).map_err(|e| StoreError::io(source, &e))?;
    out.sync_all().map_err(|e| StoreError::io(target, &e))?;
    // The admin token and the like stay private to their user.
    if let Ok(meta) = file.metadata() {
        let _ = std::fs::set_permissions(target, meta.permissions());
    }
    Ok(())
}

/// Copies the file at `source` into backup (or data) directory `to` under the same
/// relative path `name`, if it exists: for the other owners of a data directory's files.
pub fn copy_file(source: &Path, to: &Path, name: &str) -> Result<bool, StoreError> {
    match File::open(source) {
        Ok(file) => copy_open(file, source, &to.join(name)).map(|()| true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io(source, &e)),
    }
}

fn relative(root: &Path, path: &Path) -> Result<PathBuf, StoreError> {
    path.strip_prefix(root)
        .map(Path::to_path_buf)
        .map_err(|_| StoreError::Internal(format!("{} is outside {}", path.display(), root.display())))
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// Every regular file under `root` (not hidden ones), as `/`-separated relative paths.
fn list_tree(root: &Path) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        for entry in std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, &e))? {
            let entry = entry.map_err(|e| StoreError::io(&dir, &e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let kind = entry.file_type().map_err(|e| StoreError::io(&entry.path(), &e))?;
            if kind.is_dir() {
                stack.push(rel.join(&name));
            } else if kind.is_file() {
                let path = rel.join(&name);
                out.push(path.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/"));
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// fsyncs every directory under `root`, deepest first, so the copied names are durable.
fn sync_tree(root: &Path) -> Result<(), StoreError> {
    let mut dirs = vec![root.to_path_buf()];
    let mut i = 0;
    while i < dirs.len() {
        let dir = dirs[i].clone();
        for entry in std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, &e))? {
            let entry = entry.map_err(|e| StoreError::io(&dir, &e))?;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(entry.path());
            }
        }
        i += 1;
    }
    for dir in dirs.iter().rev() {
        sync_dir(dir)?;
    }
    Ok(())
}

fn digest(path: &Path) -> Result<(u64, String), StoreError> {
    let mut file = File::open(path).map_err(|e| StoreError::Backup(format!("{}: {e}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| StoreError::io(path, &e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    let mut hex = String::with_capacity(64);
    for b in hasher.finalize() {
        use std::fmt::Write as _;
        let _ = write!(hex, "{b:02x}");
    }
    Ok((bytes, hex))
}
