//! Exactly once: the index of the uuid of every event ever stored, and the check that
//! keeps a retried or duplicated event from being stored twice.
//!
//! Built like a log-structured merge tree, because uuids arrive in random order and a
//! B-tree rewrites a random page for each one (measured: about 8 KB written per event
//! once the keys outgrow memory). Here:
//! - the keys of recent events are in memory (`active`), and they are durable through
//!   the log itself: the events table holds their uuids;
//! - once `active` holds [`crate::StoreOptions::uuid_memtable_keys`] keys it is frozen,
//!   and a background thread writes it as an immutable sorted run file
//!   (`log/uuids/run-FIRST-LAST.keys`, see [`run`]); only when that file is durable does
//!   `uuid_runs.through` in the log move to the run's last seq;
//! - runs of similar size are merged in the background, so there are about log₂ of
//!   (keys / memtable) of them, each with a Bloom filter in memory.
//!
//! On open, runs beyond `through` (a flush that did not finish) are deleted, runs inside
//! a larger one (a merge that did not finish deleting) too, and the keys of the events
//! with seqs above `through` are read back from the log. Pruning never removes those
//! events ([`crate::prune_log`] stops at `through`).

mod key;
pub(crate) mod run;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

pub(crate) use self::key::{Key, uuid_key};
use self::run::{Run, merge_keys};
use crate::error::StoreError;

/// Directory of the run files inside the log directory.
pub(crate) const UUIDS_DIR: &str = "uuids";

/// A failed background write is retried after this long.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Keys frozen for writing as a run.
struct Frozen {
    keys: HashSet<Key>,
    first: i64,
    last: i64,
}

enum Task {
    Flush(Arc<Frozen>),
    Merge(Vec<Arc<Run>>),
}

enum Done {
    Flushed(Run),
    /// The new run replaces this many runs at the end of the list.
    Merged(Run, usize),
    Failed(StoreError),
}

/// The uuid index, owned by the writer thread.
pub(crate) struct UuidIndex {
    memtable_keys: usize,
    /// Keys of events with seqs above the frozen ones (and of the open transaction).
    active: HashSet<Key>,
    active_first: i64,
    /// Keys added by the open transaction, in order, to take back on rollback.
    pending: Vec<Key>,
    frozen: Option<Arc<Frozen>>,
    /// Oldest first; together they hold the keys of seqs up to `through`.
    runs: Vec<Arc<Run>>,
    through: i64,
    /// Largest seq committed.
    last_seq: i64,
    tasks: Option<Sender<Task>>,
    done: Receiver<Done>,
    busy: bool,
    retry_at: Option<Instant>,
    thread: Option<JoinHandle<()>>,
}

impl UuidIndex {
    /// Opens the index of the log `conn` whose directory is `log_dir`.
    pub(crate) fn open(log_dir: &Path, conn: &Connection, memtable_keys: usize) -> Result<Self, StoreError> {
        let dir = log_dir.join(UUIDS_DIR);
        let path = log_dir.join(crate::schema::LOG_FILE);
        let sqlite = |e: rusqlite::Error| StoreError::sqlite(&path, &e);
        let (through, last_seq): (i64, Option<i64>) = conn
            .query_row("SELECT (SELECT through FROM uuid_runs), (SELECT max(seq) FROM events)", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(sqlite)?;
        let runs = open_runs(&dir, through)?.into_iter().map(Arc::new).collect();
        let mut active = HashSet::new();
        let mut select = conn.prepare("SELECT uuid FROM events WHERE seq > ?1").map_err(sqlite)?;
        let mut rows = select.query([through]).map_err(sqlite)?;
        while let Some(row) = rows.next().map_err(sqlite)? {
            active.insert(uuid_key(&row.get::<_, String>(0).map_err(sqlite)?));
        }
        let (tasks, task_rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let worker_dir = dir.clone();
        let thread = std::thread::Builder::new()
            .name("vario-store-uuids".into())
            .spawn(move || work(&worker_dir, &task_rx, &done_tx))
            .map_err(|e| StoreError::Internal(format!("cannot start the uuid index thread: {e}")))?;
        Ok(Self {
            memtable_keys: memtable_keys.max(1),
            active,
            active_first: through + 1,
            pending: Vec::new(),
            frozen: None,
            runs,
            through,
            last_seq: last_seq.unwrap_or(0),
            tasks: Some(tasks),
            done,
            busy: false,
            retry_at: None,
            thread: Some(thread),
        })
    }

    /// Whether `key` is stored (or added by the open transaction).
    pub(crate) fn contains(&self, key: &Key) -> Result<bool, StoreError> {
        if self.active.contains(key) || self.frozen.as_ref().is_some_and(|f| f.keys.contains(key)) {
            return Ok(true);
        }
        for run in self.runs.iter().rev() {
            if run.contains(key)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Adds the key of an event inserted by the open transaction.
    pub(crate) fn add(&mut self, key: Key) {
        self.active.insert(key);
        self.pending.push(key);
    }

    /// A mark to roll back to ([`UuidIndex::rollback_to`]), like a savepoint.
    pub(crate) fn mark(&self) -> usize {
        self.pending.len()
    }

    /// Takes back the keys added since `mark`: their batch was rolled back.
    pub(crate) fn rollback_to(&mut self, mark: usize) {
        for key in self.pending.drain(mark.min(self.pending.len())..) {
            self.active.remove(&key);
        }
    }

    /// The open transaction committed; its largest seq is `last_seq`.
    pub(crate) fn committed(&mut self, last_seq: i64) {
        self.pending.clear();
        self.last_seq = self.last_seq.max(last_seq);
    }

    /// Freezes the active keys for writing as a run, unless a frozen set is still being
    /// written. Only between transactions: every active key is committed.
    fn freeze(&mut self) {
        if self.frozen.is_none() && !self.active.is_empty() {
            let keys = std::mem::take(&mut self.active);
            self.frozen = Some(Arc::new(Frozen { keys, first: self.active_first, last: self.last_seq }));
            self.active_first = self.last_seq + 1;
        }
    }

    /// The open transaction failed: nothing of it was kept.
    pub(crate) fn aborted(&mut self) {
        self.rollback_to(0);
    }

    /// Takes in finished background work and starts the next: called by the writer
    /// between commits (`conn` has no open transaction).
    pub(crate) fn maintain(&mut self, conn: &Connection) {
        while let Ok(done) = self.done.try_recv() {
            self.finish(conn, done);
        }
        if self.active.len() >= self.memtable_keys {
            self.freeze();
        }
        if self.busy || self.retry_at.is_some_and(|t| Instant::now() < t) {
            return;
        }
        let task = if let Some(frozen) = &self.frozen {
            Task::Flush(Arc::clone(frozen))
        } else if let Some(n) = self.merge_width() {
            Task::Merge(self.runs[self.runs.len() - n..].to_vec())
        } else {
            return;
        };
        if let Some(tasks) = &self.tasks
            && tasks.send(task).is_ok()
        {
            self.busy = true;
        }
    }

    /// How many of the newest runs to merge now, if any: the newest two as soon as the
    /// older is no more than twice the newer, and any run that then qualifies with them.
    /// Run sizes thus grow geometrically, so there are about log₂(keys / memtable) runs
    /// and each key is rewritten about that many times.
    fn merge_width(&self) -> Option<usize> {
        let mut n = 1;
        let mut size = self.runs.last()?.len();
        while n < self.runs.len() && self.runs[self.runs.len() - n - 1].len() <= 2 * size {
            size += self.runs[self.runs.len() - n - 1].len();
            n += 1;
        }
        (n > 1).then_some(n)
    }

    fn finish(&mut self, conn: &Connection, done: Done) {
        self.busy = false;
        match done {
            Done::Flushed(run) => {
                // The run is durable; only now may the log forget how to rebuild it.
                if let Err(e) = conn.execute("UPDATE uuid_runs SET through = ?1 WHERE id = 0", [run.last]) {
                    tracing::error!(error = %e, "cannot record a written uuid run; it will be written again");
                    self.retry_at = Some(Instant::now() + RETRY_AFTER);
                    run.remove();
                    return;
                }
                self.through = run.last;
                self.runs.push(Arc::new(run));
                self.frozen = None;
                self.retry_at = None;
            }
            Done::Merged(run, replaced) => {
                let keep = self.runs.len().saturating_sub(replaced);
                for old in self.runs.drain(keep..) {
                    old.remove();
                }
                self.runs.push(Arc::new(run));
                self.retry_at = None;
            }
            Done::Failed(e) => {
                tracing::error!(error = %e, "uuid index: a background write failed; retrying in 5 s");
                self.retry_at = Some(Instant::now() + RETRY_AFTER);
            }
        }
    }

    /// Writes every key in memory out as a run and waits until `uuid_runs.through` has
    /// moved past them (so that the log may prune every event committed so far).
    pub(crate) fn flush_now(&mut self, conn: &Connection) -> Result<(), StoreError> {
        self.freeze();
        self.retry_at = None;
        while self.busy || self.frozen.is_some() {
            if self.busy {
                let done =
                    self.done.recv().map_err(|_| StoreError::Internal("the uuid index thread stopped".into()))?;
                if let Done::Failed(e) = &done {
                    let e = e.clone();
                    self.finish(conn, done);
                    return Err(e);
                }
                self.finish(conn, done);
            } else {
                self.maintain(conn);
                if !self.busy {
                    return Err(StoreError::Internal("the uuid index could not write a run (see the log)".into()));
                }
            }
            if self.frozen.is_none() {
                self.freeze();
            }
        }
        Ok(())
    }

    /// Waits for the background work under way, takes it in, and stops the thread.
    pub(crate) fn close(&mut self, conn: &Connection) {
        self.tasks = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the uuid index thread panicked");
            }
            while let Ok(done) = self.done.try_recv() {
                self.finish(conn, done);
            }
        }
    }

    /// Runs, and bytes of memory the index holds (keys in memory, filters, block indexes).
    pub(crate) fn stats(&self) -> (usize, u64) {
        // A hash set entry of a 16-byte key takes about 18 bytes at its usual load.
        let keys = self.active.len() + self.frozen.as_ref().map_or(0, |f| f.keys.len());
        let bytes = keys as u64 * 18 + self.runs.iter().map(|r| r.memory() as u64).sum::<u64>();
        (self.runs.len(), bytes)
    }
}

/// The background thread: writes frozen key sets and merges runs, one task at a time.
fn work(dir: &Path, tasks: &Receiver<Task>, done: &Sender<Done>) {
    while let Ok(task) = tasks.recv() {
        let result = match task {
            Task::Flush(frozen) => flush(dir, &frozen).map(Done::Flushed),
            Task::Merge(runs) => {
                let refs: Vec<&Run> = runs.iter().map(AsRef::as_ref).collect();
                merge(dir, &refs).map(|run| Done::Merged(run, runs.len()))
            }
        };
        if done.send(result.unwrap_or_else(Done::Failed)).is_err() {
            return;
        }
    }
}

fn flush(dir: &Path, frozen: &Frozen) -> Result<Run, StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, &e))?;
    let mut keys: Vec<Key> = frozen.keys.iter().copied().collect();
    keys.sort_unstable();
    Run::write(dir, frozen.first, frozen.last, keys.len() as u64, keys.into_iter().map(Ok))
}

fn merge(dir: &Path, runs: &[&Run]) -> Result<Run, StoreError> {
    let (Some(first), Some(last)) = (runs.first(), runs.last()) else {
        return Err(StoreError::Internal("merge of no uuid runs".into()));
    };
    let count = runs.iter().map(|r| r.len()).sum();
    Run::write(dir, first.first, last.last, count, merge_keys(runs)?)
}

/// Writes the keys of the events with seqs `first..=last` (any order, unique or not) as
/// one run in `log_dir`: for migrating a log from before the index.
pub(crate) fn write_initial_run(log_dir: &Path, first: i64, last: i64, mut keys: Vec<Key>) -> Result<(), StoreError> {
    let dir = log_dir.join(UUIDS_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, &e))?;
    crate::store::sync_dir(log_dir)?;
    keys.sort_unstable();
    keys.dedup();
    Run::write(&dir, first, last, keys.len() as u64, keys.into_iter().map(Ok)).map(drop)
}

/// Opens the runs that hold the keys of seqs up to `through`, after deleting what an
/// interrupted flush or merge left behind.
fn open_runs(dir: &Path, through: i64) -> Result<Vec<Run>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return check_cover(dir, &[], through).map(|()| vec![]),
        Err(e) => return Err(StoreError::io(dir, &e)),
    };
    let mut ranges = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(dir, &e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".tmp") {
            remove(&entry.path());
        } else if let Some(range) = run::parse_name(&name) {
            ranges.push(range);
        }
    }
    // Widest first among equal starts, so a run inside an earlier one is seen as such.
    ranges.sort_unstable_by_key(|&(first, last)| (first, std::cmp::Reverse(last)));
    let mut kept: Vec<(i64, i64)> = Vec::new();
    for (first, last) in ranges {
        let inside = kept.last().is_some_and(|&(_, kept_last)| last <= kept_last);
        if last > through || inside {
            // An unfinished flush (its keys are still in the log) or a merged input.
            remove(&dir.join(run::file_name(first, last)));
        } else {
            kept.push((first, last));
        }
    }
    check_cover(dir, &kept, through)?;
    kept.into_iter().map(|(first, last)| Run::open(dir, first, last)).collect()
}

/// The runs must hold the keys of every seq up to `through`, without gaps.
fn check_cover(dir: &Path, ranges: &[(i64, i64)], through: i64) -> Result<(), StoreError> {
    let mut next = ranges.first().map_or(1, |&(first, _)| first.min(1));
    for &(first, last) in ranges {
        if first != next {
            return Err(missing(dir, next, first - 1));
        }
        next = last + 1;
    }
    if next <= through {
        return Err(missing(dir, next, through));
    }
    Ok(())
}

fn missing(dir: &Path, from: i64, to: i64) -> StoreError {
    StoreError::Unavailable {
        reason: crate::error::Unavailable::Corrupt,
        path: dir.to_path_buf(),
        detail: format!("the uuid index has no run for the events with seqs {from} to {to} (a run file is missing)"),
    }
}

fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(path = %path.display(), error = %e, "cannot delete a leftover uuid index file");
    }
}
