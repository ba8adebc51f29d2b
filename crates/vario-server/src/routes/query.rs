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

/// The most bytes of a query request: SQL is short, this only stops abuse.
const MAX_QUERY_BYTES: usize = 1024 * 1024;

#[derive(Deserialize)]
struct QueryRequest {
    sql: String,
}

/// Runs `{"sql": "SELECT ..."}` and answers `{"columns": [...], "rows": [[...], ...]}`;
/// 400 `invalid_query` for SQL that is wrong or not a single read-only query.
pub async fn post_query(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Result<Json<Value>, ApiError> {
    require_admin(&headers, app.admin_token())?;
    let raw = body::read(&headers, body, MAX_QUERY_BYTES).await?;
    let bytes = body::decode(&headers, raw, MAX_QUERY_BYTES)?;
    let request: QueryRequest = serde_json::from_slice(&bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::at(Code::InvalidField, "sql", e.to_string()),
        _ => ApiError::new(Code::MalformedJson, e.to_string()),
    })?;
    let data_dir = app.config().data_dir.clone();
    // DataFusion runs on a runtime of its own inside the blocking pool, so a long query
    // never holds up the request threads.
    let answer = tokio::task::spawn_blocking(move || vario_store::query(&data_dir, &request.sql))
        .await
        .map_err(ApiError::internal)?;
    match answer {
        Ok(result) => Ok(Json(json!({"columns": result.columns, "rows": result.rows}))),
        Err(QueryError::Invalid(message)) => Err(ApiError::new(Code::InvalidQuery, message)),
        Err(QueryError::Store(e)) => Err(e.into()),
        Err(e @ QueryError::Engine(_)) => Err(ApiError::internal(e)),
    }
}
