//! Project management (admin token): whole projects and their objects as JSON, in the
//! same shape as the YAML files of `vario project apply`. Every change is one
//! transaction of the project store; the datafiles whose content changed are published
//! and served at once. `GET /api/v1/openapi.json` describes these routes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use vario_project::{ChangeRequest, Outcome, Project, ProjectError, SqliteStore, Store};

use crate::auth::require_admin;
use crate::body;
use crate::error::{ApiError, Code};
use crate::state::{AppState, Hosted};

/// The OpenAPI document of the admin API.
const OPENAPI: &str = include_str!("../../openapi.json");

/// `GET /api/v1/openapi.json` (no token: it describes, it does not reveal).
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// `?dry_run=true`, `?limit=N`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Params {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    limit: Option<usize>,
}

impl From<ProjectError> for ApiError {
    fn from(e: ProjectError) -> Self {
        match e {
            ProjectError::Invalid(problems) => {
                let first = problems.first().cloned().unwrap_or_else(|| vario_project::Problem::new("", "invalid"));
                let all = problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                Self::at(Code::InvalidField, first.path, all)
            }
            ProjectError::Syntax(m) | ProjectError::Import(m) => Self::new(Code::InvalidField, m),
            ProjectError::NotFound(key) => Self::new(Code::NotFound, format!("no project {key:?}")),
            e @ (ProjectError::Exists(_) | ProjectError::Conflict { .. }) => Self::new(Code::Conflict, e.to_string()),
            e @ ProjectError::Storage { .. } => Self::new(Code::StorageUnavailable, e.to_string()),
            e @ ProjectError::Build { .. } => Self::internal(e),
        }
    }
}

/// The store, opened on first use (a read-only data directory still serves datafiles).
fn store(app: &AppState) -> Result<Arc<SqliteStore>, ApiError> {
    app.projects().map_err(|e| ApiError::new(Code::StorageUnavailable, e.to_string()))
}

/// Runs blocking store work off the async threads.
async fn blocking<R: Send + 'static>(f: impl FnOnce() -> Result<R, ApiError> + Send + 'static) -> Result<R, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?
}

/// `If-Match: "N"`: the revision the caller's edit is based on.
fn expected_revision(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else { return Ok(None) };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().trim_start_matches("W/").trim_matches('"').parse().ok())
        .map(Some)
        .ok_or_else(|| ApiError::at(Code::InvalidField, "If-Match", "If-Match must be a project revision, e.g. \"3\""))
}

fn with_etag(mut response: Response, revision: u64) -> Response {
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{revision}\"")) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}

/// `GET /api/v1/projects`.
pub async fn list(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    require_admin(&headers, app.admin_token())?;
    let store = store(&app)?;
    let keys = blocking(move || Ok(store.read(|tx| tx.list())?)).await?;
    let projects: Vec<Value> =
        keys.into_iter().map(|(key, revision)| json!({"key": key, "revision": revision})).collect();
    Ok(Json(json!({"projects": projects})).into_response())
}

/// `GET /api/v1/projects/{project}`.
pub async fn get_project(
    State(app): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_admin(&headers, app.admin_token())?;
    let store = store(&app)?;
    let stored = blocking(move || Ok(vario_project::load(&*store, &key)?)).await?;
    let body = json!({"revision": stored.revision, "project": vario_project::live(&stored.project)});
    Ok(with_etag(Json(body).into_response(), stored.revision))
}

/// `PUT /api/v1/projects/{project}`: the whole project, declaratively (objects left
/// out are archived), as `vario project apply` does.
pub async fn put_project(
    State(app): State<AppState>,
    Path(key): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    raw: Body,
) -> Result<Response, ApiError> {
    require_admin(&headers, app.admin_token())?;
    let project: Project = read_json(&app, &headers, raw).await?;
    let request = request(&headers, params.dry_run)?;
    change(app, key, request, move |_| Ok(project)).await
}

/// `GET /api/v1/projects/{project}/{kind}` and `.../{kind}/{key}`.
pub async fn get_objects(
    State(app): State<AppState>,
    Path(path): Path<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_admin(&headers, app.admin_token())?;
    let (project, kind, key) = parts(&path)?;
    let store = store(&app)?;
    let stored = blocking(move || Ok(vario_project::load(&*store, &project)?)).await?;
    let doc = serde_json::to_value(&stored.project).map_err(ApiError::internal)?;
    let items = doc[kind].as_array().cloned().unwrap_or_default();
    let body = match key {
        None => json!({"revision": stored.revision, kind: items}),
        Some(key) => {
            let item = items.into_iter().find(|i| i["key"] == key.as_str()).ok_or_else(|| not_found(kind, &key))?;
            json!({"revision": stored.revision, "object": item})
        }
    };
    Ok(with_etag(Json(body).into_response(), stored.revision))
}

/// `POST /api/v1/projects/{project}/{kind}`: creates an object (409 if its key exists).
pub async fn post_object(
    State(app): State<AppState>,
    Path(path): Path<HashMap<String, String>>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    raw: Body,
) -> Result<Response, ApiError> {
    require_admin(&headers, app.admin_token())?;
    let (project, kind, _) = parts(&path)?;
    let object: Value = read_json(&app, &headers, raw).await?;
    let request = request(&headers, params.dry_run)?;
    change(app, project, request, move |old| {
        let old = old.ok_or_else(|| ProjectError::NotFound(path["project"].clone()))?;
        edit_list(&old, kind, |items| {
            let key = object["key"].as_str().unwrap_or_default().to_owned();
            if items.iter().any(|i| i["key"] == key.as_str()) {
                return Err(ProjectError::Exists(format!("{kind} {key:?} exists; PUT changes it")));
            }
            items.push(object);
            Ok(())
        })
    })
    .await
}

/// `PUT /api/v1/projects/{project}/{kind}/{key}`: replaces an object.
pub async fn put_object(
    State(app): State<AppState>,
    Path(path): Path<HashMap<String, String>>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    raw: Body,
) -> Result<Response, ApiError> {
    require_admin(&headers, app.admin_token())?;
    let (project, kind, key) = parts(&path)?;
    let key = key.unwrap_or_default();
    let mut object: Value = read_json(&app, &headers, raw).await?;
    if let Some(map) = object.as_object_mut() {
        map.entry("key").or_insert_with(|| Value::from(key.as_str()));
    }
    if object["key"] != key.as_str() {
        return Err(ApiError::at(
            Code::InvalidField,
            "key",
            format!("the body's key {} is not {key:?}", object["key"]),
        ));
    }
    let request = request(&headers, params.dry_run)?;
    change(app, project, request, move |old| {
        let old = old.ok_or_else(|| ProjectError::NotFound(path["project"].clone()))?;
        edit_list(&old, kind, |items| {
            let slot = items.iter_mut().find(|i| i["key"] == key.as_str()).ok_or_else(|| missing(kind, &key))?;
            *slot = object;
            Ok(())
        })
    })
    .await
}

/// `DELETE /api/v1/projects/{project}/{kind}/{key}`: archives an object (it leaves
/// the datafiles; its id is never reused; PUT with `"archived": false` restores it).
pub async fn archive_object(
    State(app): State<AppState>,
    Path(path): Path<HashMap<String, String>>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_admin(&headers, app.admin_token())?;
    let (project, kind, key) = parts(&path)?;
    let key = key.unwrap_or_default();
    let request = request(&headers, params.dry_run)?;
    change(app, project, request, move |old| {
        let old = old.ok_or_else(|| ProjectError::NotFound(path["project"].clone()))?;
        edit_list(&old, kind, |items| {
            let slot = items.iter_mut().find(|i| i["key"] == key.as_str()).ok_or_else(|| missing(kind, &key))?;
            slot["archived"] = Value::Bool(true);
            Ok(())
        })
    })
    .await
}

/// `GET /api/v1/projects/{project}/audit?limit=N`: newest first.
pub async fn audit(
    State(app): State<AppState>,
    Path(key): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_admin(&headers, app.admin_token())?;
    let store = store(&app)?;
    let limit = params.limit.unwrap_or(100).clamp(1, 10_000);
    let entries = blocking(move || Ok(store.read(|tx| tx.audit_log(&key, limit))?)).await?;
    Ok(Json(json!({"entries": entries})).into_response())
}

const KIND_NAMES: [&str; 7] = ["environments", "attributes", "audiences", "events", "groups", "experiments", "flags"];

fn parts(path: &HashMap<String, String>) -> Result<(String, &'static str, Option<String>), ApiError> {
    let kind = path.get("kind").map(String::as_str).unwrap_or_default();
    let kind = KIND_NAMES.into_iter().find(|k| *k == kind).ok_or_else(|| {
        ApiError::new(Code::NotFound, format!("no object kind {kind:?}; one of {}", KIND_NAMES.join(", ")))
    })?;
    Ok((path.get("project").cloned().unwrap_or_default(), kind, path.get("key").cloned()))
}

fn not_found(kind: &str, key: &str) -> ApiError {
    ApiError::new(Code::NotFound, format!("no {kind} object {key:?}"))
}

fn missing(kind: &str, key: &str) -> ProjectError {
    ProjectError::NotFound(format!("{kind}/{key}"))
}

/// `old` with the list `kind` edited by `f`, read back into the model (so a body of
/// the wrong shape fails here, with serde's message).
fn edit_list(
    old: &Project,
    kind: &str,
    f: impl FnOnce(&mut Vec<Value>) -> Result<(), ProjectError>,
) -> Result<Project, ProjectError> {
    let mut doc = serde_json::to_value(old).map_err(|e| ProjectError::Syntax(e.to_string()))?;
    let mut items = doc[kind].as_array().cloned().unwrap_or_default();
    f(&mut items)?;
    doc[kind] = Value::Array(items);
    serde_path_to_error::deserialize(doc)
        .map_err(|e| ProjectError::invalid(e.path().to_string(), e.inner().to_string()))
}

fn request(headers: &HeaderMap, dry_run: bool) -> Result<ChangeRequest, ApiError> {
    Ok(ChangeRequest { actor: "api:admin".into(), expected_revision: expected_revision(headers)?, dry_run })
}

async fn read_json<T: serde::de::DeserializeOwned>(
    app: &AppState,
    headers: &HeaderMap,
    raw: Body,
) -> Result<T, ApiError> {
    let limit = app.config().limits.max_datafile_bytes;
    let (bytes, mut charge) = app.read_body(headers, raw, limit).await?;
    let bytes = body::decode(headers, bytes, limit, &mut charge)?;
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        if e.inner().is_syntax() || e.inner().is_eof() {
            ApiError::new(Code::MalformedJson, format!("the body is not JSON: {}", e.inner()))
        } else {
            ApiError::at(Code::InvalidField, path, e.inner().to_string())
        }
    })
}

async fn change(
    app: AppState,
    key: String,
    request: ChangeRequest,
    edit: impl FnOnce(Option<Project>) -> Result<Project, ProjectError> + Send + 'static,
) -> Result<Response, ApiError> {
    let store = store(&app)?;
    // One writer at a time for the served copies, as for datafile uploads.
    let _one_at_a_time = app.datafile_write_lock().await;
    let worker = app.clone();
    let dry_run = request.dry_run;
    let outcome = blocking(move || {
        let outcome = vario_project::change(&*store, &key, &request, edit)?;
        if !dry_run {
            publish(&worker, &outcome)?;
        }
        Ok(outcome)
    })
    .await?;
    let status = if outcome.changes.iter().any(|c| c.kind == "project" && c.action == vario_project::Action::Create)
        && !dry_run
    {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let datafiles: Vec<Value> = outcome
        .datafiles
        .iter()
        .map(|p| json!({"environment": p.record.environment, "sdk_key": p.record.sdk_key, "revision": p.record.revision, "changed": p.changed}))
        .collect();
    let body = json!({
        "revision": outcome.revision,
        "dry_run": dry_run,
        "changes": outcome.changes.iter().map(|c| json!({"kind": c.kind, "key": c.key, "action": c.action, "fields": c.fields})).collect::<Vec<_>>(),
        "datafiles": datafiles,
    });
    Ok(with_etag((status, Json(body)).into_response(), outcome.revision))
}

/// Writes and serves the datafiles whose content changed.
fn publish(app: &AppState, outcome: &Outcome) -> Result<(), ApiError> {
    for published in outcome.datafiles.iter().filter(|p| p.changed) {
        let r = &published.record;
        let stored = app.datafiles().put(&r.sdk_key, r.json.as_bytes())?;
        app.set_hosted(r.sdk_key.clone(), Arc::new(Hosted::from(stored)));
        tracing::info!(sdk_key = r.sdk_key, revision = r.revision, project = r.project, "datafile published");
    }
    Ok(())
}
