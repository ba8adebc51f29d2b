//! Vario's event storage.
//!
//! - [`Store`]: the durable event log. Every event of an accepted batch becomes one row
//!   of a SQLite database in WAL mode with `synchronous = FULL`; an append returns only
//!   after its commit is on disk. Events are deduplicated by `uuid` (a retried batch is
//!   stored once), a batch is stored all or nothing, and one writer thread commits every
//!   waiting batch in one transaction (group commit), so concurrent appends share an
//!   fsync. Parquet files for analytics will be written from this log.
//! - [`LogReader`]: read-only access to the log, from this or another process.
//! - [`Datafiles`]: the hosted datafiles, one file per environment.
//!
//! `docs/storage.md` describes the files and the schema. No async runtime here: the
//! server bridges with [`Store::submit`].
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

mod datafiles;
mod error;
mod reader;
mod row;
mod schema;
mod store;
mod writer;

pub use datafiles::{DATAFILES_DIR, Datafiles, MAX_SDK_KEY_LEN, StoredDatafile, is_valid_sdk_key, sha256_hex};
pub use error::{StoreError, Unavailable};
pub use reader::{LogReader, StoredEvent};
pub use row::{BatchRow, DecisionRow, EventKind, EventRow, PreparedBatch};
pub use store::{AppendReceipt, CommitObserver, LOG_DIR, Store, StoreOptions, StoreStats, now_ms};
pub use writer::CommitInfo;
