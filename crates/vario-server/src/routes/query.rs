//! `POST /api/v1/query` (admin token): read-only SQL over the `events` table, answered
//! from the Parquet files and the log's events not yet compacted.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use vario_store::QueryError;

use crate::auth::require_admin;
use crate::body;
use crate::error::{ApiError, Code};
use crate::state::AppState;

#[derive(Deserialize)]
struct QueryRequest {
    sql: String,
}

/// Runs `{"sql": "SELECT ..."}` and answers `{"columns": [...], "rows": [[...], ...]}`;
/// 400 `invalid_query` for SQL that is wrong or not a single read-only query, 400
/// `query_limit` for one past its memory, time or row limit. A query whose client goes
/// away is cancelled.
pub async fn post_query(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Result<Json<Value>, ApiError> {
    require_admin(&headers, app.admin_token())?;
    let limit = app.config().limits.max_query_request_bytes;
    let (raw, mut charge) = app.read_body(&headers, body, limit).await?;
    let bytes = body::decode(&headers, raw, limit, &mut charge)?;
    drop(charge);
    let request: QueryRequest = serde_json::from_slice(&bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::at(Code::InvalidField, "sql", e.to_string()),
        _ => ApiError::new(Code::MalformedJson, e.to_string()),
    })?;
    let data_dir = app.config().data_dir.clone();
    // Dropped with this future when the client goes away: that cancels the query.
    let (limits, _running) = app.query_limits().await?;
    // DataFusion runs on a runtime of its own inside the blocking pool, so a long query
    // never holds up the request threads.
    let answer = tokio::task::spawn_blocking(move || limits.apply(|| vario_store::query(&data_dir, &request.sql)))
        .await
        .map_err(ApiError::internal)?;
    match answer {
        Ok(result) => Ok(Json(json!({"columns": result.columns, "rows": result.rows}))),
        Err(e) => Err(query_error(e)),
    }
}

/// The answer for a query that failed.
pub(crate) fn query_error(error: QueryError) -> ApiError {
    match error {
        QueryError::Invalid(message) => ApiError::new(Code::InvalidQuery, message),
        QueryError::Limit(message) => ApiError::new(Code::QueryLimit, message),
        // Only a stopping server is still there to answer.
        QueryError::Cancelled => ApiError::new(Code::ShuttingDown, "the query was cancelled: the server is stopping"),
        QueryError::Store(e) => e.into(),
        e @ QueryError::Engine(_) => ApiError::internal(e),
    }
}
