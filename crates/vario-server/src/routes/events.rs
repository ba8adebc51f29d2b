//! `POST /v1/events`: the Optimizely Events API. 204 only once the batch is durable.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::Ordering;
use vario_store::{AppendReceipt, PreparedBatch, StoreError, now_ms};

use crate::auth::require_write_key;
use crate::body;
use crate::budget::Charge;
use crate::error::{ApiError, Code};
use crate::state::AppState;
use crate::validate::{check_limits, parse_events};

/// Bodies above this are parsed on the blocking pool, so a few large batches cannot
/// stall the threads that serve every other connection.
const INLINE_PARSE_BYTES: usize = 64 * 1024;

/// The handler.
pub async fn post_events(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match accept(&app, headers, body).await {
        Ok((events, receipt)) => {
            let m = app.metrics();
            m.batches_accepted.fetch_add(1, Ordering::Relaxed);
            m.events_accepted.fetch_add(events, Ordering::Relaxed);
            m.events_stored.fetch_add(receipt.stored, Ordering::Relaxed);
            m.events_duplicate.fetch_add(receipt.duplicates, Ordering::Relaxed);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => {
            app.metrics().reject(error.code);
            error.into_response()
        }
    }
}

async fn accept(app: &AppState, headers: HeaderMap, body: Body) -> Result<(u64, AppendReceipt), ApiError> {
    if app.config().events.require_json_content_type {
        require_json(&headers)?;
    }
    let limit = app.config().limits.max_body_bytes;
    // The charge on the memory budget is held until the batch is committed: the
    // prepared rows wait in the writer's queue until then.
    let (raw, mut charge) = app.read_body(&headers, body, limit).await?;
    let received_at = now_ms();
    let (prepared, _charge) = if raw.len() <= INLINE_PARSE_BYTES {
        (prepare(app, &headers, raw, received_at, &mut charge)?, charge)
    } else {
        let app = app.clone();
        tokio::task::spawn_blocking(move || {
            prepare(&app, &headers, raw, received_at, &mut charge).map(|prepared| (prepared, charge))
        })
        .await
        .map_err(ApiError::internal)??
    };
    let events = prepared.events.len() as u64;
    if events == 0 {
        // Nothing to make durable; no fsync for an empty batch.
        return Ok((0, AppendReceipt::default()));
    }
    let store = app.store()?;
    app.check_compaction_lag()?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    store.submit(prepared, move |result| {
        // The client may have gone; its batch is stored all the same, and its retry
        // will be recognised as a duplicate.
        let _ = tx.send(result);
    });
    let receipt = rx.await.unwrap_or(Err(StoreError::Closed))?;
    Ok((events, receipt))
}

/// Decode, parse, authenticate (the project id is in the body), check the limits, and
/// turn into rows: everything before the disk, all of it CPU.
fn prepare(
    app: &AppState,
    headers: &HeaderMap,
    raw: Bytes,
    received_at: i64,
    charge: &mut Charge,
) -> Result<PreparedBatch, ApiError> {
    let limits = &app.config().limits;
    let bytes = body::decode(headers, raw, limits.max_body_bytes, charge)?;
    let batch = parse_events(&bytes)?;
    require_write_key(headers, &app.config().events, &batch.project_id)?;
    check_limits(&batch, limits)?;
    Ok(PreparedBatch::from_batch(&batch, received_at)?)
}

/// With `require_json_content_type`: only `application/json` bodies. A web page can post
/// any other type to any server without asking; JSON from another site needs the
/// server's CORS consent first.
fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = given.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    Err(ApiError::new(
        Code::UnsupportedMediaType,
        format!("this server takes events only as Content-Type: application/json, not {given:?}"),
    ))
}
