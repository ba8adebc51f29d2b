//! The maintenance lock: compaction, pruning and backups of one data directory take
//! turns. Compaction merges and deletes Parquet files and moves the watermark, pruning
//! deletes events from the log; a backup must see neither half-done, and holds the lock
//! while it takes its snapshot (appends go on meanwhile: the writer never takes it).

use std::fs::File;
use std::io::ErrorKind;
use std::path::Path;

use crate::compact::EVENTS_DIR;
use crate::error::StoreError;

/// The lock file inside [`EVENTS_DIR`]; its leading `.` keeps other engines out of it.
pub(crate) const LOCK_FILE: &str = ".maintenance.lock";

/// Waits for and takes the maintenance lock of `data_dir`; released when dropped. Only
/// processes that maintain the directory block here, never appends or queries.
///
/// In a directory this process cannot write, the lock is taken through a read-only
/// handle, or not at all if the file was never made: nothing that could change files
/// has run there then, and this process cannot change them either.
pub(crate) fn lock(data_dir: &Path) -> Result<Option<File>, StoreError> {
    let dir = data_dir.join(EVENTS_DIR);
    let path = dir.join(LOCK_FILE);
    let created = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path));
    let file = match created {
        Ok(file) => file,
        Err(e) if matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem) => {
            match File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(StoreError::io(&path, &e)),
            }
        }
        Err(e) => return Err(StoreError::io(&path, &e)),
    };
    file.lock().map_err(|e| StoreError::io(&path, &e))?;
    Ok(Some(file))
}
