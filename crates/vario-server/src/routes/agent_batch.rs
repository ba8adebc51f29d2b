//! `POST /v1/batch`: several Agent operations in one request, as Agent's batch endpoint
//! takes them (`{"operations": [{"method", "url", "operationID", "body", "params",
//! "headers"}]}`), each answered as if sent alone (its headers only: the SDK key goes in
//! each operation's `headers`).

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::agent::{self, Refusal};
use super::{agent_activate, agent_profiles};
use crate::state::AppState;

/// Most operations in one batch (Agent's default).
pub const MAX_OPERATIONS: usize = 500;

#[derive(Deserialize)]
struct Batch {
    operations: Vec<Operation>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Operation {
    #[serde(default)]
    method: String,
    #[serde(default)]
    url: String,
    #[serde(default, rename = "operationID")]
    operation_id: String,
    #[serde(default)]
    body: Option<Map<String, Value>>,
    #[serde(default)]
    params: Map<String, Value>,
    #[serde(default)]
    headers: Map<String, Value>,
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// The handler.
pub async fn batch(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, Refusal> {
    let started = now();
    let limit = app.config().limits.max_body_bytes;
    let (bytes, _charge) = app.read_body(&headers, body, limit).await?;
    let Ok(batch) = serde_json::from_slice::<Batch>(&bytes) else {
        return Ok(agent_error(StatusCode::BAD_REQUEST, "cannot decode the operation body"));
    };
    if batch.operations.len() > MAX_OPERATIONS {
        let message = format!("too many operations, exceeding {MAX_OPERATIONS} operations");
        return Ok(agent_error(StatusCode::UNPROCESSABLE_ENTITY, &message));
    }
    let mut items = Vec::with_capacity(batch.operations.len());
    let mut errors = 0;
    for op in batch.operations {
        let item = run(&app, op).await;
        if item["status"] != 200 {
            errors += 1;
        }
        items.push(item);
    }
    let answer = json!({"startedAt": started, "endedAt": now(), "errorCount": errors, "response": items});
    Ok((StatusCode::OK, Json(answer)).into_response())
}

fn agent_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

/// One operation through the Agent route its method and path name.
async fn run(app: &AppState, op: Operation) -> Value {
    let started = now();
    let mut headers = HeaderMap::new();
    for (name, value) in &op.headers {
        let value = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value)) {
            headers.insert(name, value);
        }
    }
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (path, query) = split(&op.url, &op.params);
    let body = || op.body.as_ref().map_or_else(Body::empty, |b| Body::from(Value::Object(b.clone()).to_string()));
    let state = State(app.clone());
    let response = match (op.method.to_ascii_uppercase().as_str(), path.as_str()) {
        ("POST", "/v1/decide") => agent::decide(state, RawQuery(Some(query)), headers, body()).await.into_response(),
        ("POST", "/v1/activate") => {
            agent_activate::activate(state, RawQuery(Some(query)), headers, body()).await.into_response()
        }
        ("POST", "/v1/track") => {
            let event_key = form(&query, "eventKey");
            agent::track(state, Query(agent::TrackQuery::new(event_key)), headers, body()).await.into_response()
        }
        ("POST", "/v1/lookup") => agent_profiles::lookup(state, headers, body()).await.into_response(),
        ("POST", "/v1/save") => agent_profiles::save(state, headers, body()).await.into_response(),
        ("POST", "/v1/override") => agent::override_variation(state, headers, body()).await.into_response(),
        ("POST", "/v1/reset") => agent::reset(state, headers).await.into_response(),
        ("GET", "/v1/datafile") => agent::datafile(state, headers).await.into_response(),
        ("GET", "/v1/config") => agent::config(state, headers).await.into_response(),
        ("GET", "/health") => agent::health().await.into_response(),
        _ => agent_error(StatusCode::NOT_FOUND, &format!("no batch operation {} {path}", op.method)),
    };
    let status = response.status().as_u16();
    let body = match response.into_body().collect().await {
        Ok(collected) => serde_json::from_slice::<Value>(&collected.to_bytes()).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    json!({
        "status": status, "requestID": request_id, "operationID": op.operation_id,
        "method": op.method, "url": op.url, "body": body, "startedAt": started, "endedAt": now(),
    })
}

/// The path of `url` (a path, or an absolute URL) and its query with `params` added.
fn split(url: &str, params: &Map<String, Value>) -> (String, String) {
    let without_origin = url.find("://").map_or(url, |at| {
        let rest = &url[at + 3..];
        rest.find('/').map_or("/", |slash| &rest[slash..])
    });
    let (path, query) = without_origin.split_once('?').unwrap_or((without_origin, ""));
    let mut query = form_urlencoded::Serializer::new(query.to_owned());
    for (name, value) in params {
        query.append_pair(name, value.as_str().map_or_else(|| value.to_string(), str::to_owned).as_str());
    }
    (path.to_owned(), query.finish())
}

fn form(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_may_be_paths_or_absolute_and_params_join_their_query() {
        let params = serde_json::from_value::<Map<String, Value>>(json!({"keys": "flag_1"})).unwrap();
        assert_eq!(split("/v1/decide", &params), ("/v1/decide".into(), "keys=flag_1".into()));
        assert_eq!(
            split("http://localhost:8080/v1/decide?keys=a", &params),
            ("/v1/decide".into(), "keys=a&keys=flag_1".into())
        );
        assert_eq!(split("http://localhost:8080", &Map::new()), ("/".into(), String::new()));
    }
}
