//! [`AppState`]: what every request handler shares — the config, the admin token, the
//! event store (or why it is unavailable), the hosted datafiles and the metrics.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use vario_store::{CompactOptions, CompactReport, Datafiles, Store, StoreError, StoreOptions, StoredDatafile};

use tokio_util::sync::{CancellationToken, DropGuard};
use vario_store::QueryLimits;

use crate::auth::{TokenSource, resolve_admin_token};
use crate::budget::{BodyBudget, Charge};
use crate::config::ServerConfig;
use crate::error::{ApiError, Code, ServerError};
use crate::metrics::Metrics;

/// One environment's datafile, ready to serve.
#[derive(Debug)]
pub struct Hosted {
    /// The datafile as uploaded.
    pub bytes: Bytes,
    /// Strong ETag, quotes included.
    pub etag: String,
    /// When it was stored.
    pub modified: SystemTime,
}

impl From<StoredDatafile> for Hosted {
    fn from(d: StoredDatafile) -> Self {
        // 128 bits of the SHA-256 keep the header short and collisions out of reach.
        Self { etag: format!("\"{}\"", &d.sha256[..32]), bytes: Bytes::from(d.bytes), modified: d.modified }
    }
}

/// Shared state of the handlers; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: ServerConfig,
    admin_token: String,
    metrics: Arc<Metrics>,
    store: RwLock<Result<Store, StoreError>>,
    store_options: StoreOptions,
    datafiles: Datafiles,
    hosted: RwLock<HashMap<String, Arc<Hosted>>>,
    // Uploads of datafiles one at a time, so the file on disk and the served copy agree.
    datafile_writes: tokio::sync::Mutex<()>,
    shutting_down: AtomicBool,
    // Compactions one at a time: the periodic one may still run when shutdown starts one.
    // Compactions one at a time; holds the watermarks of recent runs, so the log is
    // pruned only up to a watermark at least `prune_after_seconds` old.
    compaction: Mutex<VecDeque<(Instant, i64)>>,
    // Events compacted by this process (with the metrics' count of events stored by this
    // process, how far compaction is behind).
    compacted_events: AtomicU64,
    // The project store, opened on first use: a read-only data directory must not stop
    // the server from serving datafiles.
    projects: Mutex<Option<Arc<vario_project::SqliteStore>>>,
    // Results engine with its cache of answers on unchanged data.
    results: Arc<vario_results::Engine>,
    // Memory of request bodies in flight.
    body_budget: BodyBudget,
    // Queries running at once.
    query_slots: Arc<tokio::sync::Semaphore>,
    // Cancelled at shutdown: every running query stops.
    stopping: CancellationToken,
    // The SDK clients that decide for OFREP requests.
    decisions: crate::decisions::Decisions,
    // Agent's JWT auth, checked once at start.
    agent_auth: crate::agent_auth::AgentAuth,
    // The same for the admin listener.
    admin_auth: crate::agent_auth::AgentAuth,
    // Where the admin listener listens, once bound.
    admin_address: std::sync::OnceLock<std::net::SocketAddr>,
    started: Instant,
}

impl AppState {
    /// Prepares the server's state: resolves the admin token, opens the event log and
    /// loads the datafiles. A data directory that cannot be written does not stop the
    /// start: datafiles are served, events get 503 until the log can be opened. Files
    /// written by a newer Vario do: the error names both versions.
    pub fn open(config: ServerConfig) -> Result<(Self, TokenSource), ServerError> {
        check(&config)?;
        let agent_auth = crate::agent_auth::AgentAuth::from_config(&config.agent.auth, "agent.auth", false)?;
        let admin_auth = crate::agent_auth::AgentAuth::from_config(&config.agent.admin.auth, "agent.admin.auth", true)?;
        let (admin_token, source) = resolve_admin_token(config.admin_token.as_deref(), &config.data_dir)?;
        let metrics = Arc::new(Metrics::default());
        let observer = Arc::clone(&metrics);
        let store_options = StoreOptions {
            queue_capacity: config.storage.queue_capacity,
            max_group_events: config.storage.max_group_events,
            max_bytes: config.storage.max_bytes,
            on_commit: Some(Arc::new(move |info| observer.observe_commit(info))),
            uuid_memtable_keys: config.storage.uuid_memtable_keys,
        };
        // Files of a newer release are refused before anything is served: neither
        // waiting nor compacting over them can help.
        if let Err(e) = vario_store::watermark(&config.data_dir)
            && e.is_newer_format()
        {
            return Err(e.into());
        }
        let store = match Store::open_with(&config.data_dir, store_options.clone()) {
            Ok(store) => {
                // The last step of an upgrade from the first release (opening the log
                // did the others); a directory that cannot be written keeps layout 1 as
                // it is, which reads the same.
                match vario_store::formats::record_parquet_layout(&config.data_dir) {
                    Ok(true) => tracing::info!("the Parquet layout version is now recorded in the watermark"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "the Parquet layout version cannot be recorded"),
                }
                Ok(store)
            }
            Err(e) if e.is_newer_format() => return Err(e.into()),
            Err(e) if e.is_unavailable() => {
                tracing::error!(error = %e, "the event log cannot be opened; events get 503 until it can");
                Err(e)
            }
            Err(e) => return Err(e.into()),
        };
        let datafiles = Datafiles::new(&config.data_dir);
        let body_memory = config.limits.body_memory_bytes();
        let query_slots = config.limits.max_concurrent_queries;
        let config_data_dir = config.data_dir.clone();
        let hosted = datafiles
            .load_all()?
            .into_iter()
            .map(|d| (d.sdk_key.clone(), Arc::new(Hosted::from(d))))
            .collect::<HashMap<_, _>>();
        tracing::info!(datafiles = hosted.len(), data_dir = %config.data_dir.display(), "state loaded");
        let inner = Inner {
            config,
            admin_token,
            metrics,
            store: RwLock::new(store),
            store_options,
            datafiles,
            hosted: RwLock::new(hosted),
            datafile_writes: tokio::sync::Mutex::new(()),
            shutting_down: AtomicBool::new(false),
            compaction: Mutex::new(VecDeque::new()),
            compacted_events: AtomicU64::new(0),
            projects: Mutex::new(None),
            results: Arc::new(vario_results::Engine::new(&config_data_dir)),
            body_budget: BodyBudget::new(body_memory),
            query_slots: Arc::new(tokio::sync::Semaphore::new(query_slots)),
            stopping: CancellationToken::new(),
            decisions: crate::decisions::Decisions::default(),
            agent_auth,
            admin_auth,
            admin_address: std::sync::OnceLock::new(),
            started: Instant::now(),
        };
        Ok((Self { inner: Arc::new(inner) }, source))
    }

    /// The results engine (shared, so that its cache serves every request).
    pub fn results(&self) -> Arc<vario_results::Engine> {
        Arc::clone(&self.inner.results)
    }

    /// The SDK clients deciding for remote evaluation requests.
    pub fn decisions(&self) -> &crate::decisions::Decisions {
        &self.inner.decisions
    }

    /// Agent's JWT auth.
    pub fn agent_auth(&self) -> &crate::agent_auth::AgentAuth {
        &self.inner.agent_auth
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// Reads a request body of at most `limit` bytes within the body timeout, charging
    /// the memory budget; the charge is held until dropped (keep it while the body, or
    /// what was parsed from it, is in memory).
    pub async fn read_body(
        &self,
        headers: &axum::http::HeaderMap,
        body: axum::body::Body,
        limit: usize,
    ) -> Result<(Bytes, Charge), ApiError> {
        let mut charge = self.inner.body_budget.charge();
        let bytes =
            crate::body::read(headers, body, limit, self.inner.config.limits.body_timeout(), &mut charge).await?;
        Ok((bytes, charge))
    }

    /// The memory budget of request bodies.
    pub fn body_budget(&self) -> &BodyBudget {
        &self.inner.body_budget
    }

    /// Limits for one query of a request: memory, time, rows, and cancellation when the
    /// request is dropped (the client went away) or the server stops. Waits for a query
    /// slot; the returned guard holds it and cancels the query when dropped.
    pub async fn query_limits(&self) -> Result<(QueryLimits, QueryGuard), ApiError> {
        let limits = &self.inner.config.limits;
        let timeout = limits.query_timeout();
        let started = Instant::now();
        let slot = tokio::time::timeout(timeout, Arc::clone(&self.inner.query_slots).acquire_owned())
            .await
            .map_err(|_| {
                ApiError::new(
                    Code::Overloaded,
                    format!(
                        "{} queries are running and none finished within {timeout:?}; retry later",
                        limits.max_concurrent_queries
                    ),
                )
            })?
            .map_err(ApiError::internal)?;
        let cancel = self.inner.stopping.child_token();
        let query = QueryLimits {
            memory_bytes: Some(limits.query_memory_bytes()),
            timeout: Some(timeout.saturating_sub(started.elapsed())),
            max_rows: Some(limits.max_query_rows),
            cancel: Some(cancel.clone()),
        };
        Ok((query, QueryGuard { _slot: slot, _cancel: cancel.drop_guard() }))
    }

    /// Cancels every running query (at shutdown).
    pub fn cancel_queries(&self) {
        self.inner.stopping.cancel();
    }

    /// The admin listener's JWT auth (`[agent.admin.auth]`).
    pub fn admin_auth(&self) -> &crate::agent_auth::AgentAuth {
        &self.inner.admin_auth
    }

    /// Where the admin listener listens, once it does.
    pub fn admin_address(&self) -> Option<std::net::SocketAddr> {
        self.inner.admin_address.get().copied()
    }

    pub(crate) fn set_admin_address(&self, address: std::net::SocketAddr) {
        let _ = self.inner.admin_address.set(address);
    }

    /// How long the server has been up.
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// Cancelled when the server starts stopping: long-lived answers (notification
    /// streams) end then, so that shutdown does not wait for them.
    pub fn stopping(&self) -> CancellationToken {
        self.inner.stopping.clone()
    }

    /// The admin token.
    pub fn admin_token(&self) -> &str {
        &self.inner.admin_token
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The event store, or the 503 that says why there is none.
    pub fn store(&self) -> Result<Store, ApiError> {
        if self.inner.shutting_down.load(Ordering::Acquire) {
            return Err(ApiError::new(Code::ShuttingDown, "the server is shutting down; retry shortly"));
        }
        match &*self.inner.store.read().unwrap_or_else(PoisonError::into_inner) {
            Ok(store) => Ok(store.clone()),
            Err(e) => Err(ApiError::new(Code::StorageUnavailable, format!("event storage is unavailable: {e}"))),
        }
    }

    /// The store when it is open (for stats).
    pub fn open_store(&self) -> Option<Store> {
        self.inner.store.read().unwrap_or_else(PoisonError::into_inner).as_ref().ok().cloned()
    }

    /// When the log could not be opened, tries again; `true` once it is open.
    pub fn try_reopen_store(&self) -> bool {
        if self.inner.store.read().unwrap_or_else(PoisonError::into_inner).is_ok() {
            return true;
        }
        let opened = Store::open_with(&self.inner.config.data_dir, self.inner.store_options.clone());
        let ok = opened.is_ok();
        if ok {
            tracing::info!("the event log is open again; accepting events");
        }
        *self.inner.store.write().unwrap_or_else(PoisonError::into_inner) = opened;
        ok
    }

    /// Refuses new events, then commits every queued batch and closes the log.
    pub fn close_store(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
        if let Some(store) = self.open_store() {
            store.close();
        }
    }

    /// Refuses new events (503 `overloaded`) while compaction is more than
    /// `max_uncompacted_events` behind what this process stored.
    pub fn check_compaction_lag(&self) -> Result<(), ApiError> {
        let limit = self.inner.config.storage.max_uncompacted_events;
        if limit == 0 {
            return Ok(());
        }
        // Two counter loads: this runs on every request of the Events API.
        let stored = self.inner.metrics.events_stored.load(Ordering::Relaxed);
        let behind = stored.saturating_sub(self.inner.compacted_events.load(Ordering::Relaxed));
        if behind > limit {
            return Err(ApiError::new(
                Code::Overloaded,
                format!("compaction is {behind} events behind the log (limit {limit}); retry shortly"),
            ));
        }
        Ok(())
    }

    /// Copies the log's new events into Parquet files, then deletes from the log the
    /// events compacted at least `prune_after_seconds` ago (blocking; one at a time).
    pub fn compact(&self) -> Result<CompactReport, StoreError> {
        let mut marks = self.inner.compaction.lock().unwrap_or_else(PoisonError::into_inner);
        let data_dir = &self.inner.config.data_dir;
        let report = vario_store::compact(data_dir, &CompactOptions::default())?;
        self.inner.compacted_events.fetch_add(report.events, Ordering::Relaxed);
        let now = Instant::now();
        marks.push_back((now, report.watermark));
        let grace = Duration::from_secs(self.inner.config.storage.prune_after_seconds);
        let mut prune_through = None;
        while let Some(&(at, mark)) = marks.front() {
            if now.duration_since(at) < grace {
                break;
            }
            prune_through = Some(mark);
            marks.pop_front();
        }
        if let Some(through) = prune_through {
            let pruned = vario_store::prune_log(data_dir, through)?;
            if pruned > 0 {
                tracing::debug!(pruned, through, "compacted events pruned from the log");
            }
        }
        Ok(report)
    }

    /// The datafiles on disk.
    pub fn datafiles(&self) -> &Datafiles {
        &self.inner.datafiles
    }

    /// The served datafile of `sdk_key`. The command line (`vario project apply/import`)
    /// writes `datafiles/` while the server runs, so the file's modification time and
    /// length are compared with the served copy's (one `stat`), and a changed or new file
    /// is read and served from then on. When the file is gone or cannot be read, the
    /// served copy stays.
    pub fn hosted(&self, sdk_key: &str) -> Option<Arc<Hosted>> {
        let cached = self.inner.hosted.read().unwrap_or_else(PoisonError::into_inner).get(sdk_key).cloned();
        let Some(stamp) = self.inner.datafiles.stamp(sdk_key) else { return cached };
        if cached.as_ref().is_some_and(|h| (h.modified, h.bytes.len() as u64) == stamp) {
            return cached;
        }
        match self.inner.datafiles.get(sdk_key) {
            Ok(Some(stored)) => {
                tracing::info!(sdk_key, bytes = stored.bytes.len(), "datafile changed on disk; serving the new one");
                let hosted = Arc::new(Hosted::from(stored));
                self.set_hosted(sdk_key.to_owned(), Arc::clone(&hosted));
                Some(hosted)
            }
            Ok(None) => cached,
            Err(e) => {
                tracing::warn!(sdk_key, error = %e, "cannot read the changed datafile; serving the previous one");
                cached
            }
        }
    }

    /// Serves `hosted` for `sdk_key` from now on (and decides on it: the deciding
    /// client's notification streams tell of the change now).
    pub fn set_hosted(&self, sdk_key: String, hosted: Arc<Hosted>) {
        self.inner.hosted.write().unwrap_or_else(PoisonError::into_inner).insert(sdk_key.clone(), Arc::clone(&hosted));
        self.decisions().refresh(self, &sdk_key, &hosted);
    }

    /// Bytes of all served datafiles.
    pub fn hosted_bytes(&self) -> u64 {
        self.inner.hosted.read().unwrap_or_else(PoisonError::into_inner).values().map(|h| h.bytes.len() as u64).sum()
    }

    /// The project store (`projects.sqlite3` in the data directory), opened on first use.
    pub fn projects(&self) -> Result<Arc<vario_project::SqliteStore>, vario_project::ProjectError> {
        let mut slot = self.inner.projects.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = &*slot {
            return Ok(Arc::clone(store));
        }
        let store = Arc::new(vario_project::SqliteStore::open_in(&self.inner.config.data_dir)?);
        *slot = Some(Arc::clone(&store));
        Ok(store)
    }

    /// Held while a datafile is replaced.
    pub async fn datafile_write_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.datafile_writes.lock().await
    }
}

/// Held while a query of a request runs: its slot, and its cancellation when dropped.
#[derive(Debug)]
pub struct QueryGuard {
    _slot: tokio::sync::OwnedSemaphorePermit,
    _cancel: DropGuard,
}

fn check(config: &ServerConfig) -> Result<(), ServerError> {
    let l = &config.limits;
    for (name, value) in [
        ("limits.max_body_bytes", l.max_body_bytes),
        ("limits.max_visitors", l.max_visitors),
        ("limits.max_events", l.max_events),
        ("limits.max_id_bytes", l.max_id_bytes),
        ("limits.max_visitor_id_bytes", l.max_visitor_id_bytes),
        ("limits.max_datafile_bytes", l.max_datafile_bytes),
        ("limits.max_form_bytes", l.max_form_bytes),
        ("limits.max_query_request_bytes", l.max_query_request_bytes),
        ("limits.max_evaluation_request_bytes", l.max_evaluation_request_bytes),
        ("limits.max_uri_bytes", l.max_uri_bytes),
        ("limits.max_header_bytes", l.max_header_bytes),
        ("limits.max_connections", l.max_connections),
        ("limits.max_concurrent_queries", l.max_concurrent_queries),
        ("limits.max_query_rows", l.max_query_rows),
        ("limits.header_timeout_seconds", l.header_timeout_seconds as usize),
        ("limits.body_timeout_seconds", l.body_timeout_seconds as usize),
        ("limits.query_timeout_seconds", l.query_timeout_seconds as usize),
        ("limits.sign_in_attempts_per_minute", l.sign_in_attempts_per_minute as usize),
        ("storage.queue_capacity", config.storage.queue_capacity),
        ("storage.max_group_events", config.storage.max_group_events),
        ("storage.uuid_memtable_keys", config.storage.uuid_memtable_keys),
    ] {
        if value == 0 {
            return Err(ServerError::Config(format!("{name} must be at least 1")));
        }
    }
    // The largest body must fit the budget, or no such body could ever be accepted.
    let largest = l.max_body_bytes.max(l.max_datafile_bytes).saturating_mul(crate::budget::BYTES_PER_BODY_BYTE);
    if l.body_memory_bytes() < largest {
        return Err(ServerError::Config(format!(
            "limits.memory_budget_bytes ({}) must be at least {} (half of it holds request bodies, \
             {}x the largest body limit)",
            l.memory_budget_bytes,
            largest * 2,
            crate::budget::BYTES_PER_BODY_BYTE
        )));
    }
    for (project, key) in &config.events.write_keys {
        if key.trim().is_empty() {
            return Err(ServerError::Config(format!("the write key of project {project:?} is empty")));
        }
    }
    crate::cors::Cors::new(&config.cors)?;
    Ok(())
}
