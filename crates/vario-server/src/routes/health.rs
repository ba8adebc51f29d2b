//! `GET /healthz` and `GET /metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{ApiError, Code};
use crate::state::AppState;

/// 200 while events can be stored; 503 with the reason otherwise.
pub async fn healthz(State(app): State<AppState>) -> Response {
    match app.store() {
        Ok(store) if store.stats().healthy => Json(json!({"status": "ok"})).into_response(),
        Ok(_) => ApiError::new(
            Code::StorageUnavailable,
            "the last commit of the event log failed for lack of storage; see the server log",
        )
        .into_response(),
        Err(error) => error.into_response(),
    }
}

/// Prometheus text format.
pub async fn metrics(State(app): State<AppState>) -> Response {
    let stats = app.open_store().map(|s| s.stats());
    let text = app.metrics().render(stats, app.hosted_bytes());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}
