//! [`Store`]: the handle to the event log, its writer thread and its counters.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use vario_events::EventBatch;

use crate::dedup::UuidIndex;
use crate::error::StoreError;
use crate::reader::LogReader;
use crate::row::PreparedBatch;
use crate::schema::{LOG_FILE, configure_writer, migrate};
use crate::writer::{CommitInfo, Job, Message, Writer};

/// Name of the log's directory inside the data directory.
pub const LOG_DIR: &str = "log";

/// Observes every commit (for metrics); runs on the writer thread, so keep it short.
pub type CommitObserver = Arc<dyn Fn(&CommitInfo) + Send + Sync>;

/// Tuning of a [`Store`]; the defaults suit a server.
#[derive(Clone)]
pub struct StoreOptions {
    /// Appends that may wait for the writer before [`StoreError::Overloaded`].
    pub queue_capacity: usize,
    /// A group commit stops taking more appends once it holds this many events.
    pub max_group_events: usize,
    /// Refuse to grow the log beyond about this many bytes ([`StoreError::Unavailable`]
    /// with reason `Full`), so a full disk never surprises the rest of the machine.
    pub max_bytes: Option<u64>,
    /// Called after every commit attempt.
    pub on_commit: Option<CommitObserver>,
    /// Uuid keys of recent events kept in memory before they are written out as a run
    /// of the uuid index (about 17 bytes each, twice over while a run is written).
    pub uuid_memtable_keys: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 4096,
            max_group_events: 50_000,
            max_bytes: None,
            on_commit: None,
            uuid_memtable_keys: 400_000,
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("queue_capacity", &self.queue_capacity)
            .field("max_group_events", &self.max_group_events)
            .field("max_bytes", &self.max_bytes)
            .field("uuid_memtable_keys", &self.uuid_memtable_keys)
            .finish_non_exhaustive()
    }
}

/// The outcome of one durable append.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendReceipt {
    /// Events newly stored.
    pub stored: u64,
    /// Events whose uuid was already stored (a retry or a duplicate), not stored again.
    pub duplicates: u64,
}

/// Counters since the store was opened, and the log's size now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Transactions committed (each one fsync of the WAL).
    pub commits: u64,
    /// Commits that failed (nothing of them was kept).
    pub failed_commits: u64,
    /// Appends committed.
    pub batches: u64,
    /// Events newly stored.
    pub events_stored: u64,
    /// Duplicate events ignored.
    pub duplicates: u64,
    /// Appends waiting for the writer.
    pub queue_depth: u64,
    /// Bytes of the log on disk (database and WAL).
    pub bytes: u64,
    /// `false` after a commit failed for lack of storage, until one succeeds.
    pub healthy: bool,
    /// Run files of the uuid index.
    pub uuid_runs: u64,
    /// Bytes of memory the uuid index holds (recent keys, filters, block indexes).
    pub uuid_index_bytes: u64,
}

/// State shared by the handles and the writer thread.
pub(crate) struct Shared {
    pub(crate) queued: AtomicUsize,
    pub(crate) healthy: AtomicBool,
    commits: AtomicU64,
    failed_commits: AtomicU64,
    batches: AtomicU64,
    events_stored: AtomicU64,
    duplicates: AtomicU64,
    pub(crate) uuid_runs: AtomicU64,
    pub(crate) uuid_index_bytes: AtomicU64,
    on_commit: Option<CommitObserver>,
}

impl Shared {
    pub(crate) fn record_commit(&self, info: CommitInfo) {
        if info.ok {
            self.commits.fetch_add(1, Ordering::Relaxed);
            self.batches.fetch_add(info.batches as u64, Ordering::Relaxed);
            self.events_stored.fetch_add(info.stored, Ordering::Relaxed);
            self.duplicates.fetch_add(info.duplicates, Ordering::Relaxed);
        } else {
            self.failed_commits.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(observer) = &self.on_commit {
            observer(&info);
        }
    }
}

/// The durable event log: SQLite in WAL mode with `synchronous = FULL`, one row per
/// event, deduplicated by event uuid, written by one thread with group commit.
///
/// Cheap to clone; every clone talks to the same writer. An append returns only after
/// its transaction is on disk.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    tx: SyncSender<Message>,
    shared: Arc<Shared>,
    closed: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
    dir: PathBuf,
    log_path: PathBuf,
    /// Held until the store is closed: one writer per log (see [`lock_writer`]).
    writer_lock: Mutex<Option<File>>,
}

impl Store {
    /// Opens (creating if needed) the store in data directory `dir` with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(dir, StoreOptions::default())
    }

    /// Opens (creating if needed) the store in data directory `dir`. SQLite replays the
    /// WAL on open, so every commit acknowledged before a crash is there.
    pub fn open_with(dir: impl AsRef<Path>, options: StoreOptions) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        if crate::bulk::is_bulk_loaded(&dir) {
            return Err(StoreError::Internal(format!(
                "{}: this data directory was bulk-loaded (generated data, no log) and is read-only; \
                 use vario query or vario results on it",
                dir.display()
            )));
        }
        let log_dir = dir.join(LOG_DIR);
        std::fs::create_dir_all(&log_dir).map_err(|e| StoreError::io(&log_dir, &e))?;
        let writer_lock = lock_writer(&log_dir)?;
        // Only the holder of the writer lock compacts: a temporary file now is a leftover.
        crate::parquet::remove_unfinished(&dir);
        let log_path = log_dir.join(LOG_FILE);
        let sqlite = |e: rusqlite::Error| StoreError::sqlite(&log_path, &e);
        let conn = Connection::open(&log_path).map_err(sqlite)?;
        // SQLite silently falls back to read-only on a write-protected file; say so now
        // rather than at the first append.
        if conn.is_readonly(rusqlite::MAIN_DB).map_err(sqlite)? {
            return Err(StoreError::Unavailable {
                reason: crate::error::Unavailable::ReadOnly,
                path: log_path,
                detail: "the log file or its directory is read-only".into(),
            });
        }
        configure_writer(&conn, &log_path)?;
        migrate(&conn, &log_path)?;
        if let Some(max_bytes) = options.max_bytes {
            let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).map_err(sqlite)?;
            let pages = i64::try_from(max_bytes).unwrap_or(i64::MAX) / page_size.max(1);
            conn.pragma_update(None, "max_page_count", pages.max(1)).map_err(sqlite)?;
        }
        // A new file's directory entry must be on disk before the first commit counts.
        sync_dir(&log_dir)?;
        sync_dir(&dir)?;

        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            healthy: AtomicBool::new(true),
            commits: AtomicU64::new(0),
            failed_commits: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            events_stored: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            uuid_runs: AtomicU64::new(0),
            uuid_index_bytes: AtomicU64::new(0),
            on_commit: options.on_commit.clone(),
        });
        let index = UuidIndex::open(&log_dir, &conn, options.uuid_memtable_keys)?;
        let (tx, rx) = mpsc::sync_channel(options.queue_capacity.max(1));
        let writer = Writer {
            index,
            conn,
            path: log_path.clone(),
            shared: Arc::clone(&shared),
            max_group_events: options.max_group_events,
        };
        let thread = std::thread::Builder::new()
            .name("vario-store-writer".into())
            .spawn(move || writer.run(&rx))
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        tracing::info!(path = %log_path.display(), "event log open");
        Ok(Self {
            inner: Arc::new(Inner {
                tx,
                shared,
                closed: AtomicBool::new(false),
                thread: Mutex::new(Some(thread)),
                dir,
                log_path,
                writer_lock: Mutex::new(Some(writer_lock)),
            }),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The log's SQLite file.
    pub fn log_path(&self) -> &Path {
        &self.inner.log_path
    }

    /// Stores `batch`, received at `received_at` (Unix ms), and returns once it is
    /// durable. All or nothing: on error no event of the batch was stored.
    pub fn append(&self, batch: &EventBatch, received_at: i64) -> Result<AppendReceipt, StoreError> {
        self.append_prepared(PreparedBatch::from_batch(batch, received_at)?)
    }

    /// [`Store::append`] of a batch already turned into rows.
    pub fn append_prepared(&self, batch: PreparedBatch) -> Result<AppendReceipt, StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(batch, move |result| {
            let _ = tx.send(result);
        });
        rx.recv().unwrap_or(Err(StoreError::Closed))
    }

    /// Queues `batch` and returns at once; `reply` is called exactly once, on the writer
    /// thread after the commit (or on this thread if the batch is refused at once).
    /// For callers that must not block, such as an async server.
    pub fn submit(&self, batch: PreparedBatch, reply: impl FnOnce(Result<AppendReceipt, StoreError>) + Send + 'static) {
        let job = Job::new(batch, Box::new(reply));
        if self.inner.closed.load(Ordering::Acquire) {
            return drop(job); // answered `Closed` by Job's drop
        }
        let shared = &self.inner.shared;
        shared.queued.fetch_add(1, Ordering::Relaxed);
        match self.inner.tx.try_send(Message::Append(job)) {
            Ok(()) => {}
            Err(TrySendError::Full(message)) => {
                let pending = shared.queued.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
                if let Message::Append(job) = message {
                    job.refuse(StoreError::Overloaded { pending });
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                shared.queued.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Writes the uuid keys the index holds in memory out as a run file and returns once
    /// it is durable. The log then may prune every event committed before the call
    /// (normally that happens on its own once enough keys have gathered).
    pub fn flush_uuid_index(&self) -> Result<(), StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.inner.tx.send(Message::FlushIndex(tx)).map_err(|_| StoreError::Closed)?;
        rx.recv().unwrap_or(Err(StoreError::Closed))
    }

    /// Counters since open and the log's size.
    pub fn stats(&self) -> StoreStats {
        let s = &self.inner.shared;
        let file_len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let mut wal = self.inner.log_path.clone().into_os_string();
        wal.push("-wal");
        StoreStats {
            commits: s.commits.load(Ordering::Relaxed),
            failed_commits: s.failed_commits.load(Ordering::Relaxed),
            batches: s.batches.load(Ordering::Relaxed),
            events_stored: s.events_stored.load(Ordering::Relaxed),
            duplicates: s.duplicates.load(Ordering::Relaxed),
            queue_depth: s.queued.load(Ordering::Relaxed) as u64,
            bytes: file_len(&self.inner.log_path) + file_len(Path::new(&wal)),
            healthy: s.healthy.load(Ordering::Relaxed),
            uuid_runs: s.uuid_runs.load(Ordering::Relaxed),
            uuid_index_bytes: s.uuid_index_bytes.load(Ordering::Relaxed),
        }
    }

    /// A read-only view of the log (for the Parquet stage and queries); it sees every
    /// committed event and never blocks the writer.
    pub fn reader(&self) -> Result<LogReader, StoreError> {
        LogReader::open(&self.inner.dir)
    }

    /// Stops taking appends, commits every queued one, stops the writer and releases the
    /// log for another writer. Later appends fail with [`StoreError::Closed`]. Idempotent.
    pub fn close(&self) {
        self.inner.close();
    }
}

impl Inner {
    fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        // `send` waits for room: the writer drains the queue, so this cannot hang.
        let _ = self.tx.send(Message::Close);
        let handle = self.thread.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("the event log writer thread panicked");
        }
        // The writer is done: another store may open the log now.
        drop(self.writer_lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take());
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("log_path", &self.inner.log_path).finish_non_exhaustive()
    }
}

/// Now as Unix epoch milliseconds, for `received_at`.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Name of the lock file that marks the log as open for writing.
const WRITER_LOCK: &str = "writer.lock";

/// Takes the exclusive lock of the log in `log_dir`. The uuid index lives in the writer's
/// memory, so a second writing process would miss the first one's recent uuids and store
/// duplicates; SQLite alone would let it write. Readers (queries, compaction) take no lock.
fn lock_writer(log_dir: &Path) -> Result<File, StoreError> {
    let path = log_dir.join(WRITER_LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::io(&path, &e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Unavailable {
            reason: crate::error::Unavailable::Busy,
            path,
            detail: "another process (or store) has this event log open for writing; stop it first".into(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::io(&path, &e)),
    }
}

/// Makes the entries of directory `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(dir, &e))
}
