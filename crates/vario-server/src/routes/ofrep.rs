//! OpenFeature Remote Evaluation Protocol: `POST /ofrep/v1/evaluate/flags/{key}` (one
//! key, for server providers) and `POST /ofrep/v1/evaluate/flags` (every key, for web
//! providers, with an ETag). The SDK key names the environment; decisions are Vario's
//! SDK's, and their impressions go into the event log. Keys and reasons:
//! [`vario_openfeature`]. Evaluation errors have OFREP's shape (`errorCode`,
//! `errorDetails`); errors before evaluation (401, 413, 503) Vario's own.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use vario_openfeature::{ErrorCode, Evaluation, EvaluationContext, EvaluationError, evaluate, evaluate_all};

use crate::decisions::sdk_key;
use crate::error::{ApiError, Code};
use crate::state::AppState;

/// `POST /ofrep/v1/evaluate/flags/{key}`.
pub async fn evaluate_flag(
    State(app): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (client, _, request) = prepare(&app, &headers, body).await?;
    let answer = request
        .and_then(|context| EvaluationContext::from_json(context.as_ref()))
        .and_then(|context| evaluate(&client, &key, &context));
    Ok(match answer {
        Ok(evaluation) => (StatusCode::OK, Json(success(&evaluation))).into_response(),
        Err(error) => {
            let status = match error.code {
                ErrorCode::FlagNotFound => StatusCode::NOT_FOUND,
                ErrorCode::General => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            };
            (status, Json(failure(Some(&key), &error))).into_response()
        }
    })
}

/// `POST /ofrep/v1/evaluate/flags`: every flag and flag variable. The ETag stands for
/// the datafile and the context, so an unchanged pair is answered 304 without deciding
/// again (and without sending its impressions again).
pub async fn evaluate_flags(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let (client, datafile_etag, request) = prepare(&app, &headers, body).await?;
    let context = match request {
        Ok(context) => context,
        Err(error) => return Ok((StatusCode::BAD_REQUEST, Json(failure(None, &error))).into_response()),
    };
    let etag = bulk_etag(&datafile_etag, context.as_ref());
    if if_none_match(&headers, &etag) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        set_etag(&mut response, &etag);
        return Ok(response);
    }
    let answer = EvaluationContext::from_json(context.as_ref()).and_then(|context| evaluate_all(&client, &context));
    let evaluations = match answer {
        Ok(evaluations) => evaluations,
        Err(error) => {
            let status = if error.code == ErrorCode::General {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::BAD_REQUEST
            };
            return Ok((status, Json(failure(None, &error))).into_response());
        }
    };
    let revision = client.config().map(|c| c.revision.to_string()).unwrap_or_default();
    let flags: Vec<Value> = evaluations.iter().map(success).collect();
    let mut response =
        (StatusCode::OK, Json(json!({"flags": flags, "metadata": {"revision": revision}}))).into_response();
    set_etag(&mut response, &etag);
    Ok(response)
}

type Request = Result<Option<Value>, EvaluationError>;

/// The environment's client, its datafile's ETag, and the request's context (or why it
/// cannot be read, which OFREP answers in its own shape).
async fn prepare(
    app: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(std::sync::Arc<vario_sdk::Client>, String, Request), ApiError> {
    let sdk_key = sdk_key(headers)?.to_owned();
    let hosted = app.hosted(&sdk_key).ok_or_else(|| {
        ApiError::new(Code::Unauthorized, "no environment has this SDK key (no datafile is hosted for it)")
    })?;
    let limit = app.config().limits.max_evaluation_request_bytes;
    let (bytes, _charge) = app.read_body(headers, body, limit).await?;
    let client = app.decisions().client(app, &sdk_key, &hosted)?;
    Ok((client, hosted.etag.clone(), context(&bytes)))
}

/// `{"context": {...}}`; an empty body is an empty context.
fn context(bytes: &[u8]) -> Request {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let parse_error = |details: String| EvaluationError { code: ErrorCode::ParseError, details };
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(mut request)) => Ok(request.remove("context")),
        Ok(_) => Err(parse_error("the request body must be a JSON object: {\"context\": {...}}".into())),
        Err(e) => Err(parse_error(format!("the request body is not JSON: {e}"))),
    }
}

fn success(e: &Evaluation) -> Value {
    let mut out = Map::new();
    out.insert("key".into(), e.key.clone().into());
    out.insert("value".into(), e.value.clone());
    out.insert("reason".into(), e.reason.as_str().into());
    // Always present, `null` when no variation was decided: the official Python
    // provider reads `variant` unconditionally.
    out.insert("variant".into(), e.variant.clone().map_or(Value::Null, Value::String));
    out.insert("metadata".into(), Value::Object(e.metadata.clone()));
    Value::Object(out)
}

fn failure(key: Option<&str>, error: &EvaluationError) -> Value {
    let mut out = Map::new();
    if let Some(key) = key {
        out.insert("key".into(), key.into());
    }
    out.insert("errorCode".into(), error.code.as_str().into());
    out.insert("errorDetails".into(), error.details.clone().into());
    Value::Object(out)
}

fn bulk_etag(datafile_etag: &str, context: Option<&Value>) -> String {
    let mut hash = Sha256::new();
    hash.update(datafile_etag.as_bytes());
    hash.update([0]);
    // serde_json keeps the sent order of keys: the same context sent with its keys in
    // another order gets another tag, which only costs one evaluation.
    hash.update(context.map(Value::to_string).unwrap_or_default().as_bytes());
    let digest = hash.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim().trim_start_matches("W/") == etag))
}

fn set_etag(response: &mut Response, etag: &str) {
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
}
