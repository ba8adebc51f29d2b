//! Hosted datafiles: one file per environment, `datafiles/<sdk_key>.json` in the data
//! directory, replaced atomically and durably (write, fsync, rename, fsync directory)
//! so a crash leaves the old or the new datafile, never a torn one.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::store::sync_dir;

/// Name of the datafiles' directory inside the data directory.
pub const DATAFILES_DIR: &str = "datafiles";

/// Longest accepted SDK key.
pub const MAX_SDK_KEY_LEN: usize = 128;

/// Whether `key` can name an environment: 1 to 128 ASCII letters, digits, `-` or `_`
/// (it becomes a file name, so nothing else is allowed).
pub fn is_valid_sdk_key(key: &str) -> bool {
    (1..=MAX_SDK_KEY_LEN).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One environment's current datafile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDatafile {
    /// The environment's SDK key.
    pub sdk_key: String,
    /// The datafile exactly as uploaded.
    pub bytes: Vec<u8>,
    /// Lower-case hex SHA-256 of `bytes` (the HTTP ETag is made from it).
    pub sha256: String,
    /// When it was stored.
    pub modified: SystemTime,
}

/// The datafiles of a data directory.
#[derive(Debug, Clone)]
pub struct Datafiles {
    dir: PathBuf,
}

impl Datafiles {
    /// The datafiles of data directory `data_dir`. Touches nothing on disk, so a
    /// read-only data directory can still serve what it has.
    pub fn new(data_dir: impl AsRef<Path>) -> Self {
        Self { dir: data_dir.as_ref().join(DATAFILES_DIR) }
    }

    /// Replaces the datafile of `sdk_key` with `bytes`; durable when it returns.
    pub fn put(&self, sdk_key: &str, bytes: &[u8]) -> Result<StoredDatafile, StoreError> {
        check_key(sdk_key)?;
        std::fs::create_dir_all(&self.dir).map_err(|e| StoreError::io(&self.dir, &e))?;
        let path = self.path(sdk_key);
        let tmp = self.dir.join(format!(".{sdk_key}.json.tmp"));
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(StoreError::io(&tmp, &e));
        }
        std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, &e))?;
        sync_dir(&self.dir)?;
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).unwrap_or_else(|_| SystemTime::now());
        Ok(StoredDatafile { sdk_key: sdk_key.to_owned(), bytes: bytes.to_vec(), sha256: sha256_hex(bytes), modified })
    }

    /// The datafile of `sdk_key`, if one was stored.
    pub fn get(&self, sdk_key: &str) -> Result<Option<StoredDatafile>, StoreError> {
        check_key(sdk_key)?;
        let path = self.path(sdk_key);
        let mut file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(&path, &e)),
        };
        // The time comes from the open file, not the path: a replacement renamed in while
        // this reads must not lend its time to these bytes ([`Datafiles::stamp`] relies on it).
        let mut bytes = Vec::new();
        let modified = file
            .read_to_end(&mut bytes)
            .and_then(|_| file.metadata())
            .and_then(|m| m.modified())
            .map_err(|e| StoreError::io(&path, &e))?;
        Ok(Some(StoredDatafile { sdk_key: sdk_key.to_owned(), sha256: sha256_hex(&bytes), bytes, modified }))
    }

    /// Modification time and length of the datafile of `sdk_key` on disk, without reading
    /// it: `None` when there is none (or the key is invalid). A server compares it with what
    /// it serves to notice datafiles another process (`vario project apply`) wrote.
    pub fn stamp(&self, sdk_key: &str) -> Option<(SystemTime, u64)> {
        if !is_valid_sdk_key(sdk_key) {
            return None;
        }
        let meta = std::fs::metadata(self.path(sdk_key)).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    }

    /// Every stored datafile (none when the directory does not exist yet).
    pub fn load_all(&self) -> Result<Vec<StoredDatafile>, StoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(&self.dir, &e)),
        };
        let mut all = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(&self.dir, &e))?;
            let name = entry.file_name();
            // Temporary files start with a dot and fail the key check.
            let Some(key) = name.to_str().and_then(|n| n.strip_suffix(".json")).filter(|k| is_valid_sdk_key(k)) else {
                continue;
            };
            if let Some(datafile) = self.get(key)? {
                all.push(datafile);
            }
        }
        all.sort_by(|a, b| a.sdk_key.cmp(&b.sdk_key));
        Ok(all)
    }

    fn path(&self, sdk_key: &str) -> PathBuf {
        self.dir.join(format!("{sdk_key}.json"))
    }
}

fn check_key(sdk_key: &str) -> Result<(), StoreError> {
    if is_valid_sdk_key(sdk_key) {
        Ok(())
    } else {
        Err(StoreError::InvalidKey(format!(
            "SDK key {sdk_key:?} must be 1 to {MAX_SDK_KEY_LEN} ASCII letters, digits, '-' or '_'"
        )))
    }
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for b in digest {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}
