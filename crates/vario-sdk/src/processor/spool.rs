//! The spool directory: files of undelivered batches (format in the parent module's
//! documentation).

use std::borrow::Cow;
use std::fs::{self, File, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use vario_events::{EventBatch, LogEvent};

use super::ProcessorError;

/// Version of the record header; a record of another version reads as corrupt.
const VERSION: u64 = 1;
const BATCH_EXT: &str = "batch";
const TMP_EXT: &str = "tmp";
const LOCK_FILE: &str = "spool.lock";
/// Largest file written at once: a close or an outage writes its batches into files
/// of about this size (one sync each) instead of one file per batch.
pub(super) const SEGMENT_BYTES: usize = 4 << 20;

/// A batch read from, or to be written to, the spool.
pub(super) struct Record {
    pub(super) log_event: LogEvent,
    pub(super) events: u64,
}

impl Record {
    pub(super) fn new(log_event: LogEvent) -> Self {
        let events = log_event.event_count() as u64;
        Self { log_event, events }
    }
}

/// A file in the spool.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub(super) path: PathBuf,
    pub(super) bytes: u64,
}

/// Why a file could not be written.
pub(super) enum WriteError {
    /// The spool holds its maximum size.
    Full,
    Io(io::Error),
}

/// A file that did not read back whole.
pub(super) struct Damaged {
    /// The records before the damage.
    pub(super) good: Vec<Record>,
    pub(super) reason: String,
}

/// An open, locked spool directory.
pub(super) struct Spool {
    dir: PathBuf,
    /// Held for the processor's lifetime: the lock ends when the file is closed.
    _lock: File,
    /// Timestamp of the last file written: the next one is later, so names sort in
    /// writing order even if the clock steps back.
    last_stamp: u128,
    seq: u64,
    max_bytes: u64,
    /// Size of the `.batch` files.
    bytes: u64,
}

impl Spool {
    /// Creates `dir` if needed and locks it.
    pub(super) fn open(dir: &Path, max_bytes: u64) -> Result<Self, ProcessorError> {
        let error = |source| ProcessorError::Spool { dir: dir.to_path_buf(), source };
        fs::create_dir_all(dir).map_err(error)?;
        let lock = File::options().create(true).truncate(false).write(true).open(dir.join(LOCK_FILE)).map_err(error)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(ProcessorError::SpoolLocked { dir: dir.to_path_buf() }),
            Err(TryLockError::Error(source)) => return Err(error(source)),
        }
        Ok(Self { dir: dir.to_path_buf(), _lock: lock, last_stamp: 0, seq: 0, max_bytes, bytes: 0 })
    }

    /// The batch files present, oldest first, each counted in the spool's size.
    /// Removes the temporary files a crash left: a file is renamed into place only once
    /// it is whole and synced, and it is never sent before.
    pub(super) fn pending(&mut self) -> Vec<Stored> {
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
                Some(BATCH_EXT) => {
                    let bytes = entry.metadata().map_or(0, |m| m.len());
                    batches.push(Stored { path, bytes });
                }
                Some(TMP_EXT) => {
                    if let Err(error) = fs::remove_file(&path) {
                        tracing::warn!(file = %path.display(), %error, "could not remove a partial spool file");
                    }
                }
                _ => {}
            }
        }
        // Names start with a zero-padded timestamp: name order is age order.
        batches.sort_by(|a, b| a.path.cmp(&b.path));
        self.bytes = batches.iter().map(|b| b.bytes).sum();
        batches
    }

    /// Reads a file's records. A file that stops reading partway (truncated by a crash
    /// of the disk, edited) gives the records before the damage and the reason.
    pub(super) fn read(path: &Path) -> Result<Vec<Record>, Damaged> {
        let bytes = fs::read(path).map_err(|e| Damaged { good: Vec::new(), reason: format!("unreadable: {e}") })?;
        let mut good = Vec::new();
        // Record by record: a header line, then the batch line. The batch JSON holds no
        // raw newline; the last line may lack its newline (files of one batch written
        // by earlier versions).
        let mut rest = &bytes[..];
        let mut expected: Option<u64> = None;
        while !rest.is_empty() {
            let (header, after) = split_line(rest);
            let (body, after) = split_line(after);
            match parse_record(header, body, good.is_empty()) {
                Ok((record, records)) => {
                    if good.is_empty() {
                        expected = records;
                    }
                    good.push(record);
                }
                Err(reason) => {
                    let reason = format!("record {}: {reason}", good.len() + 1);
                    return Err(Damaged { good, reason });
                }
            }
            rest = after;
        }
        let want = expected.unwrap_or(1);
        if good.len() as u64 != want {
            let reason = format!("{} of {want} records", good.len());
            return Err(Damaged { good, reason });
        }
        Ok(good)
    }

    /// Writes records to one new file: a temporary file, synced, renamed into place.
    /// The caller syncs the directory ([`Spool::sync_dir`]) once for all the files it
    /// wrote.
    pub(super) fn write(&mut self, records: &[&Record]) -> Result<Stored, WriteError> {
        let bytes = encode(records);
        if self.bytes + bytes.len() as u64 > self.max_bytes {
            return Err(WriteError::Full);
        }
        let name = self.next_name();
        let path = self.dir.join(format!("{name}.{BATCH_EXT}"));
        self.put(&path, &bytes).map_err(WriteError::Io)?;
        self.bytes += bytes.len() as u64;
        Ok(Stored { path, bytes: bytes.len() as u64 })
    }

    /// Replaces a file with the records still to send (after some were delivered or
    /// set aside), keeping its name and so its place in the order.
    pub(super) fn rewrite(&mut self, stored: &mut Stored, records: &[&Record]) -> io::Result<()> {
        let bytes = encode(records);
        self.put(&stored.path, &bytes)?;
        self.bytes = self.bytes.saturating_sub(stored.bytes) + bytes.len() as u64;
        stored.bytes = bytes.len() as u64;
        Ok(())
    }

    /// Writes `records` to a file next to the spool's, with `suffix`, never read again.
    pub(super) fn keep_aside(&mut self, records: &[&Record], suffix: &str) -> io::Result<PathBuf> {
        let name = self.next_name();
        let path = self.dir.join(format!("{name}.{BATCH_EXT}.{suffix}"));
        self.put(&path, &encode(records))?;
        Ok(path)
    }

    fn put(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".{TMP_EXT}"));
        let tmp = PathBuf::from(tmp);
        let written = (|| {
            let mut file = File::options().write(true).create(true).truncate(true).open(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }

    /// Makes the renames and removals durable.
    pub(super) fn sync_dir(&self) -> io::Result<()> {
        // Only Unix can open and sync a directory; elsewhere the rename is what we get.
        #[cfg(unix)]
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    /// Deletes a delivered file.
    pub(super) fn remove(&mut self, stored: &Stored) {
        match fs::remove_file(&stored.path) {
            Ok(()) => self.bytes = self.bytes.saturating_sub(stored.bytes),
            // It would be sent again at the next start: a duplicate, which the server drops.
            Err(error) => {
                tracing::warn!(file = %stored.path.display(), %error, "could not delete a delivered spool file")
            }
        }
    }

    /// Moves a file aside with `suffix` appended, so it is never read again.
    pub(super) fn set_aside(&mut self, stored: &Stored, suffix: &str) -> io::Result<PathBuf> {
        let mut aside = stored.path.as_os_str().to_owned();
        aside.push(".");
        aside.push(suffix);
        let aside = PathBuf::from(aside);
        fs::rename(&stored.path, &aside)?;
        self.bytes = self.bytes.saturating_sub(stored.bytes);
        Ok(aside)
    }

    fn next_name(&mut self) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        self.last_stamp = now.max(self.last_stamp + 1);
        self.seq += 1;
        format!("{:020}-{:08}", self.last_stamp, self.seq % 100_000_000)
    }
}

/// The line at the start of `bytes` (without its newline) and what follows it.
fn split_line(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(at) => (&bytes[..at], &bytes[at + 1..]),
        None => (bytes, &[]),
    }
}

/// One record; the first also tells how many records its file holds.
fn parse_record(header: &[u8], body: &[u8], first: bool) -> Result<(Record, Option<u64>), String> {
    let header: Value = serde_json::from_slice(header).map_err(|e| format!("header: {e}"))?;
    if header["vario_spool"].as_u64() != Some(VERSION) {
        return Err(format!("header: not a version {VERSION} spool record"));
    }
    let url = header["url"].as_str().filter(|u| !u.is_empty()).ok_or("header: no url")?.to_owned();
    let events = header["events"].as_u64().ok_or("header: no event count")?;
    let records = if first { header["records"].as_u64() } else { None };
    let batch: EventBatch = serde_json::from_slice(body).map_err(|e| format!("batch: {e}"))?;
    let n = batch.visitors.len() as u64;
    if n == 0 || n != events {
        return Err(format!("batch: {n} events where the header says {events}"));
    }
    Ok((Record { log_event: LogEvent::new(Cow::Owned(url), batch), events: n }, records))
}

fn encode(records: &[&Record]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let mut header = json!({"vario_spool": VERSION, "url": record.log_event.url, "events": record.events});
        if i == 0 {
            header["records"] = json!(records.len());
        }
        // Writing JSON into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut bytes, &header);
        bytes.push(b'\n');
        bytes.extend_from_slice(&record.log_event.json());
        bytes.push(b'\n');
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_line_handles_a_missing_last_newline() {
        assert_eq!(split_line(b"a\nb"), (&b"a"[..], &b"b"[..]));
        assert_eq!(split_line(b"b"), (&b"b"[..], &b""[..]));
    }
}
