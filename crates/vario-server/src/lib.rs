//! Vario's HTTP service.
//!
//! - `POST /v1/events`: the Optimizely event-batch JSON as the official SDKs send it
//!   (gzip too); 204 only once the batch is durable in the event log, deduplicated by
//!   event uuid; 400/413 with a JSON error naming the field path; 503 when storage is
//!   unavailable.
//! - `GET /datafiles/{sdk_key}.json` and `PUT /api/v1/environments/{sdk_key}/datafile`.
//! - CORS on the two public SDK routes above (`[cors]`), never on the others.
//! - `POST /ofrep/v1/evaluate/flags[/{key}]`: OpenFeature remote evaluation (OFREP) of
//!   the environment whose SDK key is the credential; impressions go into the log.
//! - `POST /v1/decide`, `/v1/activate`, `/v1/track`, `/v1/override`, `/v1/lookup`,
//!   `/v1/save`, `/v1/reset`, `/v1/batch`, `GET /v1/config`, `/v1/datafile`,
//!   `/v1/notifications/event-stream`, `/health`, `POST /oauth/token`: Optimizely Agent's
//!   API for the environment named by `X-Optimizely-SDK-Key`; Agent's admin routes on
//!   the listener of `[agent.admin] listen` ([`agent_admin`]).
//! - `POST /api/v1/query` (admin token): read-only SQL over the stored events.
//! - `/api/v1/projects/...` (admin token): project management; every change publishes
//!   the datafiles whose content changed. `GET /api/v1/openapi.json` describes it.
//! - `GET /healthz`, `GET /metrics` (Prometheus text).
//! - `/ui/...`: the pages (results, projects, explain) behind a sign-in session.
//!
//! In the background, new events are copied from the log into Parquet files every
//! `compact_interval_seconds` and once more at shutdown.
//!
//! `docs/http-api.md` is the reference. [`router`] builds the service, [`serve`] runs it
//! until a shutdown signal and leaves everything accepted on disk.
#![deny(missing_docs)]

pub mod agent_admin;
pub mod agent_auth;
pub mod agent_notifications;
pub mod auth;
pub mod body;
pub mod budget;
pub mod config;
pub mod cors;
pub mod decisions;
pub mod edge;
pub mod error;
pub mod explain;
pub mod listener;
pub mod metrics;
pub mod routes;
pub mod state;
pub mod ui;
pub mod validate;

use std::future::Future;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use tokio::net::TcpListener;

pub use auth::TokenSource;
pub use config::{
    AgentAuthConfig, AgentClientConfig, AgentConfig, CorsConfig, EventsConfig, Limits, PagesConfig, ServerConfig,
    StorageConfig,
};
pub use error::{ApiError, Code, ServerError};
pub use state::AppState;

/// The service: every route, the JSON 404/405, the limits and error shape of
/// [`edge`], and request timing.
pub fn router(state: AppState) -> Router {
    // Only the public SDK routes are open to web pages of other origins.
    let cors = cors::Cors::checked(&state.config().cors);
    Router::new()
        .route("/v1/events", cors::public(post(routes::events::post_events), &cors, &[Method::POST]))
        .route(
            "/datafiles/{file}",
            cors::public(get(routes::datafiles::get_datafile), &cors, &[Method::GET, Method::HEAD]),
        )
        .route(
            "/ofrep/v1/evaluate/flags/{key}",
            cors::public(post(routes::ofrep::evaluate_flag), &cors, &[Method::POST]),
        )
        .route("/ofrep/v1/evaluate/flags", cors::public(post(routes::ofrep::evaluate_flags), &cors, &[Method::POST]))
        .route("/v1/decide", post(routes::agent::decide))
        .route("/v1/activate", post(routes::agent_activate::activate))
        .route("/v1/track", post(routes::agent::track))
        .route("/v1/override", post(routes::agent::override_variation))
        .route("/v1/lookup", post(routes::agent_profiles::lookup))
        .route("/v1/save", post(routes::agent_profiles::save))
        .route("/v1/reset", post(routes::agent::reset))
        .route("/v1/config", get(routes::agent::config))
        .route("/v1/datafile", get(routes::agent::datafile))
        .route("/health", get(routes::agent::health))
        .route("/oauth/token", post(routes::agent::oauth_token))
        .route("/v1/batch", post(routes::agent_batch::batch))
        .route("/v1/notifications/event-stream", get(routes::agent_notifications::event_stream))
        .route("/api/v1/environments/{sdk_key}/datafile", put(routes::datafiles::put_datafile))
        .route("/api/v1/query", post(routes::query::post_query))
        .route("/api/v1/experiments/{key}/results", get(routes::results::get_results))
        .route("/api/v1/openapi.json", get(routes::projects::openapi))
        .route("/api/v1/projects", get(routes::projects::list))
        .route("/api/v1/projects/{project}", get(routes::projects::get_project).put(routes::projects::put_project))
        .route("/api/v1/projects/{project}/audit", get(routes::projects::audit))
        .route(
            "/api/v1/projects/{project}/{kind}",
            get(routes::projects::get_objects).post(routes::projects::post_object),
        )
        .route(
            "/api/v1/projects/{project}/{kind}/{key}",
            get(routes::projects::get_objects)
                .put(routes::projects::put_object)
                .delete(routes::projects::archive_object),
        )
        .route("/healthz", get(routes::health::healthz))
        .route("/metrics", get(routes::health::metrics))
        .merge(ui::router(state.config().limits.sign_in_attempts_per_minute))
        .fallback(|| async { ApiError::new(Code::NotFound, "no such endpoint; see docs/http-api.md") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(Code::MethodNotAllowed, "this endpoint does not take that method")
        })
        // Raw bodies are read by the handlers with their own limits (events, datafiles,
        // queries); what an extractor reads (the forms of the pages) is a few KB at most.
        .layer(DefaultBodyLimit::max(state.config().limits.max_form_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), edge::edge))
        .layer(middleware::from_fn_with_state(state.clone(), time_request))
        .with_state(state)
}

async fn time_request(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let route = metrics::Route::of(request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    app.metrics().observe_request(route, started.elapsed());
    response
}

/// Connections the admin listener takes at once.
const ADMIN_CONNECTIONS: usize = 64;

/// Serves on `listener` until `shutdown` completes; then stops accepting, cancels the
/// running queries, lets in-flight requests finish (for at most the configured grace
/// period), commits every accepted batch and closes the event log. While the log cannot
/// be opened, retries in the background. Connections are limited as [`listener`] says.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let admin = match state.config().agent.admin.listen {
        Some(address) => {
            let bound = TcpListener::bind(address).await.map_err(|e| ServerError::Io {
                message: format!("cannot listen on {address} for the admin routes ([agent.admin] listen)"),
                source: e,
            })?;
            let local = bound.local_addr().unwrap_or(address);
            state.set_admin_address(local);
            tracing::info!(%local, "admin routes listening");
            // Operators' tools only: a few connections, not a share of the API's.
            let mut limits = state.config().limits.clone();
            limits.max_connections = limits.max_connections.min(ADMIN_CONNECTIONS);
            let (stopping, router) = (state.stopping(), agent_admin::router(state.clone()));
            Some(tokio::spawn(async move {
                if let Err(e) = listener::serve(bound, router, &limits, stopping.cancelled_owned()).await {
                    tracing::error!(error = %e, "the admin listener failed");
                }
            }))
        }
        None => None,
    };
    let reopen = tokio::spawn(reopen_store(state.clone()));
    let compaction = tokio::spawn(compact_periodically(state.clone()));
    let (fired_tx, fired_rx) = tokio::sync::oneshot::channel::<()>();
    let stopping = state.clone();
    let limits = state.config().limits.clone();
    let app = router(state.clone());
    let server = async move {
        listener::serve(listener, app, &limits, async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections; queries cancelled; finishing requests in flight");
            stopping.cancel_queries();
            let _ = fired_tx.send(());
        })
        .await
    };
    let grace = state.config().shutdown_grace;
    let deadline = async move {
        if fired_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let served = tokio::select! {
        result = server => result.map_err(|e| ServerError::Io { message: "the server failed".into(), source: e }),
        () = deadline => {
            tracing::warn!(?grace, "requests still running after the grace period are dropped (they got no 2xx)");
            Ok(())
        }
    };
    reopen.abort();
    compaction.abort();
    if let Some(admin) = admin {
        admin.abort();
    }
    // Decision events still queued in the deciding clients go into the log first.
    let deciding = state.clone();
    let _ = tokio::task::spawn_blocking(move || deciding.decisions().close()).await;
    // Every 204 already waited for its commit; this commits what is queued and closes.
    let closing = state.clone();
    tokio::task::spawn_blocking(move || closing.close_store())
        .await
        .map_err(|e| ServerError::Config(format!("closing the event log failed: {e}")))?;
    tracing::info!("event log closed");
    // Everything accepted is in the log already; this only spares the next start the work.
    let compacting = state.clone();
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || compacting.compact()).await {
        tracing::warn!(error = %e, "compaction at shutdown failed; the events stay in the log");
    }
    tracing::info!("stopped");
    served
}

async fn reopen_store(state: AppState) {
    let every = Duration::from_secs(state.config().storage.reopen_interval_seconds.max(1));
    loop {
        let s = state.clone();
        if tokio::task::spawn_blocking(move || s.try_reopen_store()).await.unwrap_or(false) {
            return;
        }
        tokio::time::sleep(every).await;
    }
}

async fn compact_periodically(state: AppState) {
    let seconds = state.config().storage.compact_interval_seconds;
    if seconds == 0 {
        return;
    }
    let mut ticks = tokio::time::interval(Duration::from_secs(seconds));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if state.open_store().is_none() {
            continue;
        }
        let s = state.clone();
        match tokio::task::spawn_blocking(move || s.compact()).await {
            Ok(Ok(report)) if report.events > 0 || report.files_merged > 0 => {
                tracing::debug!(?report, "events compacted into Parquet");
            }
            Ok(Ok(_)) => {}
            // The log stays the source of truth; the next tick tries again.
            Ok(Err(e)) => tracing::warn!(error = %e, "compaction into Parquet failed"),
            Err(e) => tracing::error!(error = %e, "compaction task failed"),
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM. Call it inside the runtime before saying
/// the server is ready: the handlers are installed by the call, not when the future is
/// first polled, so a SIGTERM right after "listening" stops the server cleanly instead
/// of ending the process by the signal's default action.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        async fn recv(installed: std::io::Result<Signal>, name: &'static str) {
            match installed {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for {name}");
                    std::future::pending::<()>().await;
                }
            }
        }
        let interrupt = recv(signal(SignalKind::interrupt()), "SIGINT");
        let term = recv(signal(SignalKind::terminate()), "SIGTERM");
        async move {
            tokio::select! {
                () = interrupt => {}
                () = term => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
