//! Read-only SQL over every durable event, with Apache DataFusion.
//!
//! The `events` table is the Parquet files' rows with `seq <= watermark` UNION ALL the
//! log's rows with `seq > watermark`: each event comes from exactly one side, whatever
//! state compaction is in (files past the watermark are left out, see [`crate::compact`]).
//! It reads the log read-only, so it works next to a running server or without one.
//! Only a single `SELECT`/`WITH` query is accepted (DataFusion's SQL options refuse DDL,
//! DML and other statements), so a query can never change the data directory.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef, UInt64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{col, lit};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use serde_json::Value;

use crate::compact::{live_files, watermark};
use tokio_util::sync::CancellationToken;

use crate::error::StoreError;
use crate::limits::{QueryLimits, bound_string_functions};
use crate::parquet::{events_schema, to_record_batch};
use crate::pinned::PinnedFiles;
use crate::reader::LogReader;
use crate::schema::LOG_FILE;
use crate::store::LOG_DIR;

/// Log rows read per step when loading the uncompacted tail.
const LOG_PAGE: usize = 8192;

/// Why a query gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The SQL is wrong, refers to something unknown, or is not a read-only query.
    #[error("{0}")]
    Invalid(String),
    /// The data directory could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine failed while reading (an unreadable file).
    #[error("the query failed: {0}")]
    Engine(String),
    /// The query went past one of its [`QueryLimits`]: memory, time or rows.
    #[error("{0}")]
    Limit(String),
    /// The query was cancelled (its client went away, or the server is stopping).
    #[error("the query was cancelled")]
    Cancelled,
}

impl From<DataFusionError> for QueryError {
    fn from(e: DataFusionError) -> Self {
        match e.find_root() {
            DataFusionError::ResourcesExhausted(m) => {
                Self::Limit(format!("the query needs more memory than it may use: {m}"))
            }
            DataFusionError::IoError(_)
            | DataFusionError::ObjectStore(_)
            | DataFusionError::ParquetError(_)
            | DataFusionError::Internal(_)
            | DataFusionError::External(_) => Self::Engine(e.to_string()),
            _ => Self::Invalid(e.to_string()),
        }
    }
}

/// A query's answer: column names and rows of JSON values (numbers, booleans, strings,
/// nulls; other types as their text).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// One entry per row, one value per column.
    pub rows: Vec<Vec<Value>>,
}

/// Runs one read-only SQL query over the `events` table of `data_dir`.
///
/// Blocking: it runs DataFusion on a runtime of its own, so call it from a plain thread
/// (in async code, from `spawn_blocking`). Within the calling thread's [`QueryLimits`].
pub fn query(data_dir: &Path, sql: &str) -> Result<QueryResult, QueryError> {
    let limits = QueryLimits::current();
    let (dir, sql, within) = (data_dir.to_path_buf(), sql.to_owned(), limits.clone());
    on_query_runtime(&limits, |runtime| {
        let task = runtime.spawn(async move { run(&dir, &sql, &within).await });
        async move { task.await.unwrap_or_else(|e| Err(QueryError::Engine(format!("the query task failed: {e}")))) }
    })
}

/// Runs the future `start` makes on a runtime of its own within the time and
/// cancellation of `limits`. The engine's work runs in tasks of that runtime, so the
/// limits are checked however long one step of an operator takes; the runtime is left
/// behind at the end, not waited for, and its tasks stop at their next yield.
fn on_query_runtime<T, F: Future<Output = Result<T, QueryError>>>(
    limits: &QueryLimits,
    start: impl FnOnce(&tokio::runtime::Runtime) -> F,
) -> Result<T, QueryError> {
    let runtime = query_runtime()?;
    let cancel = limits.cancel.clone().unwrap_or_default();
    // The deadline is kept by a thread of its own: the runtime's timers only advance
    // when one of its workers is idle, and a busy query leaves none idle.
    let expired = CancellationToken::new();
    let (finished, wait) = std::sync::mpsc::channel::<()>();
    if let Some(timeout) = limits.timeout {
        let expire = expired.clone();
        std::thread::Builder::new()
            .name("vario-query-deadline".into())
            .spawn(move || {
                if wait.recv_timeout(timeout) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                    expire.cancel();
                }
            })
            .map_err(|e| QueryError::Engine(format!("cannot start the query's deadline: {e}")))?;
    }
    let work = start(&runtime);
    let answer = runtime.block_on(async {
        tokio::select! {
            answer = work => answer,
            () = cancel.cancelled() => Err(QueryError::Cancelled),
            () = expired.cancelled() => Err(QueryError::Limit(format!(
                "the query ran longer than its limit of {} seconds",
                limits.timeout.unwrap_or_default().as_secs_f64()
            ))),
        }
    });
    drop(finished);
    runtime.shutdown_background();
    answer
}

/// Listing and opening the files starts over this many times in all when compaction
/// merges some away in between.
const ATTEMPTS: u32 = 4;

async fn run(data_dir: &Path, sql: &str, limits: &QueryLimits) -> Result<QueryResult, QueryError> {
    let frame = read_only_frame(data_dir, sql, limits).await?;
    let columns = frame.schema().fields().iter().map(|f| f.name().clone()).collect();
    let mut stream = frame.execute_stream().await?;
    let mut batches = Vec::new();
    let mut rows = 0usize;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows();
        if let Some(max) = limits.max_rows
            && rows > max
        {
            return Err(QueryError::Limit(format!(
                "the answer has more than {max} rows, the limit; add a LIMIT or aggregate"
            )));
        }
        batches.push(batch);
    }
    Ok(QueryResult { columns, rows: to_rows(&batches)? })
}

/// Runs one read-only SQL query over the `events` table of `data_dir` and hands each
/// Arrow batch of the answer to `on_batch` as it is produced, so answers larger than
/// memory can be folded. Stops at the first error `on_batch` returns.
///
/// Blocking, like [`query`], and within the calling thread's [`QueryLimits`] but for
/// the row limit.
pub fn scan<E>(
    data_dir: &Path,
    sql: &str,
    mut on_batch: impl FnMut(&RecordBatch) -> Result<(), E>,
) -> Result<(), ScanError<E>> {
    let limits = QueryLimits::current();
    let (dir, sql, within) = (data_dir.to_path_buf(), sql.to_owned(), limits.clone());
    let mut consumer_error = None;
    let scanned = on_query_runtime(&limits, |runtime| {
        // The engine runs in a task and hands over its batches; the consumer runs here.
        let (batches, mut received) = tokio::sync::mpsc::channel::<Result<RecordBatch, QueryError>>(2);
        let producer = runtime.spawn(async move {
            let frame = match read_only_frame(&dir, &sql, &within).await {
                Ok(frame) => frame,
                Err(e) => return drop(batches.send(Err(e)).await),
            };
            let mut stream = match frame.execute_stream().await {
                Ok(stream) => stream,
                Err(e) => return drop(batches.send(Err(e.into())).await),
            };
            while let Some(batch) = stream.next().await {
                if batches.send(batch.map_err(QueryError::from)).await.is_err() {
                    return;
                }
            }
        });
        let on_batch = &mut on_batch;
        let consumer_error = &mut consumer_error;
        async move {
            let _stop = AbortOnDrop(producer);
            while let Some(batch) = received.recv().await {
                if let Err(e) = on_batch(&batch?) {
                    *consumer_error = Some(e);
                    break;
                }
            }
            Ok(())
        }
    });
    match consumer_error {
        Some(e) => Err(ScanError::Consumer(e)),
        None => Ok(scanned?),
    }
}

/// Aborts the task when dropped (the scan ended early, timed out or was cancelled).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A runtime of one worker per core for one query: DataFusion decodes the files'
/// partitions on the workers while the calling thread consumes the answer (on a
/// single-threaded runtime decoding and consuming would take turns on one core).
fn query_runtime() -> Result<tokio::runtime::Runtime, QueryError> {
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("vario-query")
        .enable_all()
        .build()
        .map_err(|e| QueryError::Engine(format!("cannot start the query runtime: {e}")))
}

/// Why a [`scan`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum ScanError<E> {
    /// The query failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The consumer of the batches returned an error.
    #[error("{0}")]
    Consumer(E),
}

/// Identifies the state of the stored events: equal versions mean the same events, so a
/// cached answer computed at one version is still right at the other.
pub fn data_version(data_dir: &Path) -> Result<String, StoreError> {
    let mark = watermark(data_dir)?;
    let mut version = format!("w{mark}");
    for file in live_files(data_dir, mark)? {
        version.push_str(&format!(";{}:{}-{}", file.date, file.first, file.last));
    }
    let last = if data_dir.join(LOG_DIR).join(LOG_FILE).exists() { LogReader::open(data_dir)?.last_seq()? } else { 0 };
    version.push_str(&format!(";l{last}"));
    Ok(version)
}

/// The `events` table (Parquet files up to the watermark, the log past it) with `sql`
/// planned on it, refusing anything but a query.
async fn read_only_frame(
    data_dir: &Path,
    sql: &str,
    limits: &QueryLimits,
) -> Result<datafusion::dataframe::DataFrame, QueryError> {
    let mut config = SessionConfig::new();
    // Evaluate filters while decoding Parquet: rows a filter drops are never decoded in
    // the other columns (most events of a results scan are dropped by `event_key`).
    config.options_mut().execution.parquet.pushdown_filters = true;
    config.options_mut().execution.parquet.reorder_filters = true;
    // A context lives for one query, so its caches of file footers and statistics would
    // only hold every file's metadata in memory at once (tens of MB over a large store)
    // for the query's length: each file's footer is read when it is opened instead.
    config.options_mut().execution.collect_statistics = false;
    let mut runtime = RuntimeEnvBuilder::new().with_metadata_cache_limit(0);
    if let Some(bytes) = limits.memory_bytes {
        runtime = runtime.with_memory_limit(bytes, 1.0);
    }
    let runtime =
        runtime.build_arc().map_err(|e| QueryError::Engine(format!("cannot set up the query engine: {e}")))?;
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    if let Some(bytes) = limits.memory_bytes {
        bound_string_functions(&ctx, bytes)?;
    }
    // Read the watermark before the log: rows compacted in between then come from the log.
    let mark = watermark(data_dir)?;
    let log = ctx.read_table(log_tail(data_dir, mark)?)?;
    let (files, pinned) = open_live_files(data_dir, mark)?;
    ctx.runtime_env().register_object_store(ObjectStoreUrl::local_filesystem().as_ref(), Arc::new(pinned));
    let events = match parquet_table(&files)? {
        Some(table) => ctx.read_table(table)?.filter(col("seq").lt_eq(lit(mark)))?.union(log)?,
        None => log,
    };
    ctx.register_table("events", events.into_view())?;
    let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
    Ok(ctx.sql_with_options(sql, options).await?)
}

/// The log's events with `mark < seq <= ` the log's last seq when the query is planned,
/// as a table read a page at a time while the query runs: however far compaction lags,
/// a query never holds the whole uncompacted tail in memory.
fn log_tail(data_dir: &Path, mark: i64) -> Result<Arc<StreamingTable>, QueryError> {
    let last = if data_dir.join(LOG_DIR).join(LOG_FILE).exists() {
        i64::try_from(LogReader::open(data_dir)?.last_seq()?).unwrap_or(i64::MAX)
    } else {
        mark
    };
    let tail = LogTail { data_dir: data_dir.to_path_buf(), after: mark, last, schema: events_schema() };
    Ok(Arc::new(StreamingTable::try_new(events_schema(), vec![Arc::new(tail)])?))
}

/// The partition stream behind [`log_tail`].
#[derive(Debug)]
struct LogTail {
    data_dir: std::path::PathBuf,
    after: i64,
    last: i64,
    schema: SchemaRef,
}

impl PartitionStream for LogTail {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (data_dir, last) = (self.data_dir.clone(), self.last);
        let pages = futures::stream::try_unfold((None::<LogReader>, self.after), move |(reader, after)| {
            let data_dir = data_dir.clone();
            async move {
                if after >= last {
                    return Ok(None);
                }
                let reader = match reader {
                    Some(reader) => reader,
                    None => LogReader::open(&data_dir).map_err(|e| DataFusionError::External(Box::new(e)))?,
                };
                let mut page =
                    reader.events_since(after, LOG_PAGE).map_err(|e| DataFusionError::External(Box::new(e)))?;
                // Checked after the read: `through` only grows, so if it is still at or
                // below `after` now, the page was read before any of its rows could go.
                let pruned = reader.pruned_through().map_err(|e| DataFusionError::External(Box::new(e)))?;
                if pruned > after {
                    return Err(DataFusionError::External(
                        format!(
                            "the log's events up to seq {pruned} were compacted and pruned while this query \
                             was reading them (it started at seq {after}); run the query again"
                        )
                        .into(),
                    ));
                }
                page.retain(|e| e.seq <= last);
                let Some(next) = page.last().map(|e| e.seq) else { return Ok(None) };
                let batch = to_record_batch(&page).map_err(|e| DataFusionError::External(Box::new(e)))?;
                Ok(Some((batch, (Some(reader), next))))
            }
        });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), pages))
    }
}

/// The live Parquet files up to `mark` (absolute paths), each opened for the query's
/// reads (see `pinned`). A file merged away between listing and opening makes the
/// listing start over.
fn open_live_files(data_dir: &Path, mark: i64) -> Result<(Vec<std::path::PathBuf>, PinnedFiles), QueryError> {
    let mut attempt = 1;
    loop {
        let mut files = Vec::new();
        for file in live_files(data_dir, mark)? {
            files.push(std::path::absolute(&file.path).map_err(|e| StoreError::io(&file.path, &e))?);
        }
        match PinnedFiles::open(&files) {
            Ok(pinned) => return Ok((files, pinned)),
            Err((_, e)) if e.kind() == std::io::ErrorKind::NotFound && attempt < ATTEMPTS => attempt += 1,
            Err((path, e)) => return Err(StoreError::io(&path, &e).into()),
        }
    }
}

/// The live Parquet files as one table, or `None` when there are none.
fn parquet_table(files: &[std::path::PathBuf]) -> Result<Option<Arc<ListingTable>>, QueryError> {
    if files.is_empty() {
        return Ok(None);
    }
    let mut urls = Vec::with_capacity(files.len());
    for file in files {
        urls.push(ListingTableUrl::parse(file.to_string_lossy())?);
    }
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config =
        ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options).with_schema(events_schema());
    Ok(Some(Arc::new(ListingTable::try_new(config)?)))
}

fn to_rows(batches: &[RecordBatch]) -> Result<Vec<Vec<Value>>, QueryError> {
    let mut rows = Vec::new();
    for batch in batches {
        let mut columns = Vec::with_capacity(batch.num_columns());
        for column in batch.columns() {
            columns.push(column_values(column.as_ref())?);
        }
        for i in 0..batch.num_rows() {
            rows.push(columns.iter().map(|c| c[i].clone()).collect());
        }
    }
    Ok(rows)
}

/// One column as JSON values: integers, floats and booleans as such, the rest as text.
fn column_values(array: &dyn Array) -> Result<Vec<Value>, QueryError> {
    let arrow_err = |e: arrow::error::ArrowError| QueryError::Engine(e.to_string());
    let null_or = |i: usize, v: Value| if array.is_null(i) { Value::Null } else { v };
    let n = array.len();
    let ty = array.data_type();
    Ok(if ty.is_signed_integer() {
        let a = arrow::compute::cast(array, &DataType::Int64).map_err(arrow_err)?;
        let a = a.as_primitive::<Int64Type>();
        (0..n).map(|i| null_or(i, Value::from(a.value(i)))).collect()
    } else if ty.is_unsigned_integer() {
        let a = arrow::compute::cast(array, &DataType::UInt64).map_err(arrow_err)?;
        let a = a.as_primitive::<UInt64Type>();
        (0..n).map(|i| null_or(i, Value::from(a.value(i)))).collect()
    } else if ty.is_floating() || matches!(ty, DataType::Decimal128(..) | DataType::Decimal256(..)) {
        let a = arrow::compute::cast(array, &DataType::Float64).map_err(arrow_err)?;
        let a = a.as_primitive::<Float64Type>();
        // JSON has no NaN or infinity: those become null.
        (0..n)
            .map(|i| null_or(i, serde_json::Number::from_f64(a.value(i)).map_or(Value::Null, Value::Number)))
            .collect()
    } else if *ty == DataType::Boolean {
        let a = array.as_boolean();
        (0..n).map(|i| null_or(i, Value::Bool(a.value(i)))).collect()
    } else if *ty == DataType::Null {
        vec![Value::Null; n]
    } else {
        let formatter = ArrayFormatter::try_new(array, &FormatOptions::default()).map_err(arrow_err)?;
        (0..n).map(|i| null_or(i, Value::String(formatter.value(i).to_string()))).collect()
    })
}
