//! The spool directory: one file per undelivered batch (format in the parent module's
//! documentation).

use std::borrow::Cow;
use std::fs::{self, File, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use vario_events::{EventBatch, LogEvent};

use super::ProcessorError;

/// Version of the file header; a file of another version reads as corrupt.
const VERSION: u64 = 1;
const BATCH_EXT: &str = "batch";
const TMP_EXT: &str = "tmp";
const LOCK_FILE: &str = "spool.lock";

/// An open, locked spool directory.
pub(super) struct Spool {
    dir: PathBuf,
    /// Held for the processor's lifetime: the lock ends when the file is closed.
    _lock: File,
    /// Timestamp of the last file written: the next one is later, so names sort in
    /// writing order even if the clock steps back.
    last_stamp: u128,
    seq: u64,
}

impl Spool {
    /// Creates `dir` if needed and locks it.
    pub(super) fn open(dir: &Path) -> Result<Self, ProcessorError> {
        let error = |source| ProcessorError::Spool { dir: dir.to_path_buf(), source };
        fs::create_dir_all(dir).map_err(error)?;
        let lock = File::options().create(true).truncate(false).write(true).open(dir.join(LOCK_FILE)).map_err(error)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(ProcessorError::SpoolLocked { dir: dir.to_path_buf() }),
            Err(TryLockError::Error(source)) => return Err(error(source)),
        }
        Ok(Self { dir: dir.to_path_buf(), _lock: lock, last_stamp: 0, seq: 0 })
    }

    /// The batch files present, oldest first. Removes the temporary files a crash left:
    /// their batch was never sent (writing precedes sending) and may be incomplete.
    pub(super) fn pending(&self) -> Vec<PathBuf> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(dir = %self.dir.display(), %error, "event spool directory unreadable; nothing resent");
                return Vec::new();
            }
        };
        let mut batches = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some(BATCH_EXT) => batches.push(path),
                Some(TMP_EXT) => {
                    if let Err(error) = fs::remove_file(&path) {
                        tracing::warn!(file = %path.display(), %error, "could not remove a partial spool file");
                    }
                }
                _ => {}
            }
        }
        // Names start with a zero-padded timestamp: name order is age order.
        batches.sort();
        batches
    }

    /// Reads a batch file; the error says what is wrong with it.
    pub(super) fn load(path: &Path) -> Result<(LogEvent, usize), String> {
        let bytes = fs::read(path).map_err(|e| format!("unreadable: {e}"))?;
        let newline = bytes.iter().position(|&b| b == b'\n').ok_or("no header line")?;
        let header: Value = serde_json::from_slice(&bytes[..newline]).map_err(|e| format!("header: {e}"))?;
        if header["vario_spool"].as_u64() != Some(VERSION) {
            return Err(format!("header: not a version {VERSION} spool file"));
        }
        let url = header["url"].as_str().filter(|u| !u.is_empty()).ok_or("header: no url")?.to_owned();
        let events = header["events"].as_u64().ok_or("header: no event count")?;
        let batch: EventBatch = serde_json::from_slice(&bytes[newline + 1..]).map_err(|e| format!("batch: {e}"))?;
        let n = batch.visitors.len();
        if n == 0 || n as u64 != events {
            return Err(format!("batch: {n} events where the header says {events}"));
        }
        Ok((LogEvent::new(Cow::Owned(url), batch), n))
    }

    /// Writes a batch to a temporary file, syncs it and renames it into place. The
    /// caller syncs the directory ([`Spool::sync_dir`]) once for all the files it wrote.
    pub(super) fn write(&mut self, log_event: &LogEvent) -> io::Result<PathBuf> {
        let name = self.next_name();
        let tmp = self.dir.join(format!("{name}.{TMP_EXT}"));
        let path = self.dir.join(format!("{name}.{BATCH_EXT}"));
        let header = json!({"vario_spool": VERSION, "url": log_event.url, "events": log_event.event_count()});
        let written = (|| {
            let mut file = File::options().write(true).create_new(true).open(&tmp)?;
            let mut bytes = serde_json::to_vec(&header)?;
            bytes.push(b'\n');
            bytes.extend_from_slice(&log_event.json());
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        match written {
            Ok(()) => Ok(path),
            Err(error) => {
                let _ = fs::remove_file(&tmp);
                Err(error)
            }
        }
    }

    /// Makes the renames durable.
    pub(super) fn sync_dir(&self) -> io::Result<()> {
        // Only Unix can open and sync a directory; elsewhere the rename is what we get.
        #[cfg(unix)]
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    /// Deletes a delivered batch.
    pub(super) fn remove(path: &Path) {
        if let Err(error) = fs::remove_file(path) {
            // It would be sent again at the next start: a duplicate, which the server drops.
            tracing::warn!(file = %path.display(), %error, "could not delete a delivered spool file");
        }
    }

    /// Moves a file aside with `suffix` appended, so it is never read again.
    pub(super) fn set_aside(path: &Path, suffix: &str) -> io::Result<PathBuf> {
        let mut aside = path.as_os_str().to_owned();
        aside.push(".");
        aside.push(suffix);
        let aside = PathBuf::from(aside);
        fs::rename(path, &aside)?;
        Ok(aside)
    }

    fn next_name(&mut self) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        self.last_stamp = now.max(self.last_stamp + 1);
        self.seq += 1;
        format!("{:020}-{:08}", self.last_stamp, self.seq % 100_000_000)
    }
}
