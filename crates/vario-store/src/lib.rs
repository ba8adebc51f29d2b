//! Vario's event storage.
//!
//! - [`Store`]: the durable event log. Every event of an accepted batch becomes one row
//!   of a SQLite database in WAL mode with `synchronous = FULL`; an append returns only
//!   after its commit is on disk. Events are deduplicated by `uuid` (a retried batch is
//!   stored once; the keys of every uuid ever stored live in a small log-structured
//!   index beside the log), a batch is stored all or nothing, and one writer thread commits every
//!   waiting batch in one transaction (group commit), so concurrent appends share an
//!   fsync.
//! - [`LogReader`]: read-only access to the log, from this or another process.
//! - [`compact`]: copies the log into Apache Parquet files (`events/date=YYYY-MM-DD/`)
//!   and merges small files; [`query`]: read-only SQL (Apache DataFusion) over the files
//!   and the log's events not yet compacted.
//! - [`prune_log`]: deletes compacted events from the log; their uuids stay in the
//!   index, so retries stay duplicates.
//! - [`Datafiles`]: the hosted datafiles, one file per environment.
//!
//! `docs/storage.md` describes the files and the schema. The API is blocking: the
//! server bridges with [`Store::submit`] and `spawn_blocking`; [`query`] runs DataFusion
//! on a runtime of its own.
//!
//! ```
//! # let dir = tempfile::tempdir()?;
//! use vario_store::Store;
//!
//! let store = Store::open(dir.path())?;
//! let batch = serde_json::from_str(r#"{"account_id": "1", "project_id": "2", "revision": "3",
//!     "visitors": [{"visitor_id": "u", "attributes": [], "snapshots": [{"events": [
//!         {"entity_id": "9", "key": "purchase", "uuid": "00000000-0000-4000-8000-000000000001",
//!          "timestamp": 1700000000000, "revenue": 4200}]}]}]}"#)?;
//! let receipt = store.append(&batch, vario_store::now_ms())?;
//! assert_eq!((receipt.stored, receipt.duplicates), (1, 0));
//! // A retry of the same batch stores nothing new.
//! assert_eq!(store.append(&batch, vario_store::now_ms())?.duplicates, 1);
//! assert_eq!(store.reader()?.count()?, 1);
//! store.close();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod bulk;
mod compact;
mod datafiles;
mod dedup;
mod error;
mod limits;
mod merge;
mod parquet;
mod pinned;
mod prune;
mod query;
mod reader;
mod row;
mod schema;
mod store;
mod writer;

pub use self::parquet::{events_schema, to_record_batch};
pub use bulk::{BULK_MARKER, BulkWriter, is_bulk_loaded};
pub use compact::{CompactOptions, CompactReport, EVENTS_DIR, EventFile, compact, live_files, watermark};
pub use datafiles::{DATAFILES_DIR, Datafiles, MAX_SDK_KEY_LEN, StoredDatafile, is_valid_sdk_key, sha256_hex};
pub use error::{StoreError, Unavailable};
pub use limits::QueryLimits;
pub use prune::prune_log;
pub use query::{QueryError, QueryResult, ScanError, data_version, query, scan};
pub use reader::{LogReader, StoredEvent};
pub use row::{BatchRow, DecisionRow, EventKind, EventRow, PreparedBatch};
pub use store::{AppendReceipt, CommitObserver, LOG_DIR, Store, StoreOptions, StoreStats, now_ms};
pub use writer::CommitInfo;
