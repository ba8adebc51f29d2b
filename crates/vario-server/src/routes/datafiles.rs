//! Datafile hosting: `GET /datafiles/{sdk_key}.json` for SDKs (ETag / Last-Modified,
//! 304), `PUT /api/v1/environments/{sdk_key}/datafile` for admins.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use vario_datafile::ProjectConfig;
use vario_store::is_valid_sdk_key;

use crate::auth::require_admin;
use crate::body;
use crate::error::{ApiError, Code};
use crate::state::{AppState, Hosted};

/// SDKs poll; make caches ask every time (a 304 is cheap).
const CACHE_CONTROL: &str = "no-cache";

/// `GET /datafiles/{sdk_key}.json`.
pub async fn get_datafile(
    State(app): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(Code::NotFound, format!("no datafile at /datafiles/{file}"));
    let sdk_key = file.strip_suffix(".json").ok_or_else(not_found)?;
    let hosted = app.hosted(sdk_key).ok_or_else(not_found)?;
    let last_modified = httpdate::fmt_http_date(whole_seconds(hosted.modified));
    let mut response = if not_modified(&headers, &hosted) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from(hosted.bytes.clone())).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
    if let Ok(etag) = HeaderValue::from_str(&hosted.etag) {
        h.insert(header::ETAG, etag);
    }
    if let Ok(date) = HeaderValue::from_str(&last_modified) {
        h.insert(header::LAST_MODIFIED, date);
    }
    Ok(response)
}

/// RFC 9110 §13.1: `If-None-Match` (weak comparison) wins over `If-Modified-Since`.
fn not_modified(headers: &HeaderMap, hosted: &Hosted) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    if let Some(value) = headers.get(header::IF_NONE_MATCH) {
        let Ok(value) = value.to_str() else { return false };
        return value.trim() == "*" || value.split(',').any(|tag| opaque(tag) == hosted.etag);
    }
    if let Some(since) = headers.get(header::IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok()) {
        return httpdate::parse_http_date(since).is_ok_and(|since| whole_seconds(hosted.modified) <= since);
    }
    false
}

/// HTTP dates have whole seconds.
fn whole_seconds(t: SystemTime) -> SystemTime {
    t.duration_since(UNIX_EPOCH).map_or(UNIX_EPOCH, |d| UNIX_EPOCH + Duration::from_secs(d.as_secs()))
}

/// `PUT /api/v1/environments/{sdk_key}/datafile` (admin token): validates the datafile
/// with the SDK's own parser, stores it durably, serves it from now on.
pub async fn put_datafile(
    State(app): State<AppState>,
    Path(sdk_key): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    require_admin(&headers, app.admin_token())?;
    if !is_valid_sdk_key(&sdk_key) {
        return Err(ApiError::new(
            Code::InvalidSdkKey,
            format!("SDK key {sdk_key:?} must be 1 to 128 ASCII letters, digits, '-' or '_'"),
        ));
    }
    let limit = app.config().limits.max_datafile_bytes;
    let (raw, mut charge) = app.read_body(&headers, body, limit).await?;
    let _one_at_a_time = app.datafile_write_lock().await;
    let worker = app.clone();
    let key = sdk_key.clone();
    let (stored, revision) = tokio::task::spawn_blocking(move || {
        let bytes = body::decode(&headers, raw, limit, &mut charge)?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| ApiError::new(Code::InvalidDatafile, format!("the datafile is not UTF-8: {e}")))?;
        let config = ProjectConfig::from_json(text).map_err(|e| match e.path() {
            Some(path) => ApiError::at(Code::InvalidDatafile, path, e.to_string()),
            None => ApiError::new(Code::InvalidDatafile, e.to_string()),
        })?;
        for warning in &config.warnings {
            tracing::warn!(sdk_key = key, %warning, "datafile field loaded leniently");
        }
        let stored = worker.datafiles().put(&key, &bytes)?;
        Ok::<_, ApiError>((stored, config.revision.to_string()))
    })
    .await
    .map_err(ApiError::internal)??;
    let size = stored.bytes.len();
    let hosted = Arc::new(Hosted::from(stored));
    let etag = hosted.etag.clone();
    app.set_hosted(sdk_key.clone(), hosted);
    tracing::info!(sdk_key, revision, bytes = size, "datafile replaced");
    let mut response =
        (StatusCode::OK, Json(json!({"sdk_key": sdk_key, "revision": revision, "etag": etag, "bytes": size})))
            .into_response();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}
