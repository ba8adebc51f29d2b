//! Optimizely Agent's REST API, so that Agent's clients work against `vario serve`
//! unchanged: `POST /v1/decide`, `POST /v1/track`, `POST /v1/override`,
//! `GET /v1/config`, `GET /v1/datafile`, `GET /health`, `POST /oauth/token` here;
//! activate, lookup and save, batch and the notification stream beside. `X-Optimizely-SDK-Key` names the environment; decisions are made
//! by the environment's SDK client (`decisions`), so they are the official SDKs', and
//! events go straight into the event log. Requests and answers have Agent's shapes,
//! errors Agent's `{"error": "..."}`.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use vario_sdk::{Attributes, Client, DecideOptions, Decision, DecisionSource};

use crate::agent_auth::AgentAuth;
use crate::error::ApiError;
use crate::state::{AppState, Hosted};

/// The header that names the environment, as Agent's.
pub const SDK_KEY_HEADER: &str = "x-optimizely-sdk-key";

/// An error in Agent's shape: status and message.
pub struct AgentError(pub(super) StatusCode, pub(super) String);

impl IntoResponse for AgentError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

pub(super) fn bad_request(message: impl Into<String>) -> AgentError {
    AgentError(StatusCode::BAD_REQUEST, message.into())
}

/// Agent's refusal of a body without a `userId`.
pub(super) fn require_user(user_id: &str) -> Result<(), AgentError> {
    if user_id.is_empty() { Err(bad_request("missing \"userId\" in request payload")) } else { Ok(()) }
}

/// Limits, timeouts and the memory budget answer in Vario's shape (as on every route);
/// what Agent itself would answer, in Agent's.
pub enum Refusal {
    /// What Agent answers.
    Agent(AgentError),
    /// What every route of Vario answers.
    Server(ApiError),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Agent(e) => e.into_response(),
            Self::Server(e) => e.into_response(),
        }
    }
}

impl From<AgentError> for Refusal {
    fn from(e: AgentError) -> Self {
        Self::Agent(e)
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Self::Server(e)
    }
}

/// The environment's client (and the hosted datafile's bytes).
pub(super) fn environment(app: &AppState, headers: &HeaderMap) -> Result<(Arc<Client>, axum::body::Bytes), Refusal> {
    let (sdk_key, hosted) = hosted(app, headers)?;
    let client = app.decisions().client(app, sdk_key, &hosted)?;
    Ok((client, hosted.bytes.clone()))
}

/// The SDK key a request names and its hosted datafile.
pub(super) fn hosted<'h>(app: &AppState, headers: &'h HeaderMap) -> Result<(&'h str, Arc<Hosted>), Refusal> {
    let sdk_key = headers
        .get(SDK_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| bad_request("missing required X-Optimizely-SDK-Key header"))?;
    app.agent_auth()
        .authorize_api(headers, sdk_key)
        .map_err(|e| AgentError(StatusCode::UNAUTHORIZED, e.to_string()))?;
    let hosted = app
        .hosted(sdk_key)
        .ok_or_else(|| AgentError(StatusCode::FORBIDDEN, format!("no datafile is hosted for SDK key {sdk_key:?}")))?;
    Ok((sdk_key, hosted))
}

/// `POST /oauth/token`: a token for a configured client (OAuth client credentials).
pub async fn oauth_token(State(app): State<AppState>, headers: HeaderMap, request: Body) -> Response {
    token_answer(&app, app.agent_auth(), &headers, request).await
}

/// A token from `auth` for the client credentials of a form body, or OAuth's refusal.
pub(crate) async fn token_answer(app: &AppState, auth: &AgentAuth, headers: &HeaderMap, request: Body) -> Response {
    let form = match app.read_body(headers, request, app.config().limits.max_form_bytes).await {
        Ok((form, _charge)) => form,
        Err(e) => return e.into_response(),
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    match auth.issue(content_type, &form) {
        Ok(issued) => (StatusCode::OK, Json(issued)).into_response(),
        Err(refused) => {
            let status = StatusCode::from_u16(refused.status).unwrap_or(StatusCode::UNAUTHORIZED);
            (status, Json(refused)).into_response()
        }
    }
}

/// A JSON body as Agent reads it: empty is an empty object; field names as sent.
pub(super) async fn body<T: for<'de> Deserialize<'de> + Default>(
    app: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<T, Refusal> {
    let (bytes, _charge) = app.read_body(headers, body, app.config().limits.max_evaluation_request_bytes).await?;
    if bytes.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| bad_request(format!("error parsing request body: {e}")).into())
}

pub(super) fn attributes(map: Option<Map<String, Value>>) -> Attributes {
    map.map(Attributes::from).unwrap_or_default()
}

/// `POST /v1/reset`: a fresh client for the environment, as Agent's (overrides, user
/// profiles and notification streams of the old one end); `{"result": true}`.
pub async fn reset(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, Refusal> {
    let (sdk_key, _) = hosted(&app, &headers)?;
    let (sdk_key, resetting) = (sdk_key.to_owned(), app.clone());
    tokio::task::spawn_blocking(move || resetting.decisions().reset(&sdk_key)).await.map_err(ApiError::internal)?;
    Ok((StatusCode::OK, Json(json!({"result": true}))).into_response())
}

/// `GET /health`: Agent's liveness answer (Vario's own, with storage state, is
/// `/healthz`).
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /v1/datafile`: the environment's datafile.
pub async fn datafile(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, Refusal> {
    let (_, bytes) = environment(&app, &headers)?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from(bytes)).into_response())
}

/// `GET /v1/config`: the environment's OptimizelyConfig, as the official SDKs'
/// `get_optimizely_config()` builds it.
pub async fn config(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, Refusal> {
    let (client, _) = environment(&app, &headers)?;
    let view = client.optimizely_config().ok_or_else(|| {
        AgentError(StatusCode::SERVICE_UNAVAILABLE, "the environment's datafile is not loaded yet".to_owned())
    })?;
    Ok((StatusCode::OK, Json(view.as_ref())).into_response())
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DecideBody {
    #[serde(default)]
    user_id: String,
    user_attributes: Option<Map<String, Value>>,
    #[serde(default)]
    decide_options: Vec<String>,
    #[serde(default)]
    forced_decisions: Vec<ForcedDecision>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ForcedDecision {
    flag_key: String,
    #[serde(default)]
    rule_key: Option<String>,
    variation_key: String,
}

/// `POST /v1/decide?keys=a&keys=b`: one decision for one key, a list for several or none
/// (then every flag).
pub async fn decide(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    request: Body,
) -> Result<Response, Refusal> {
    let (client, _) = environment(&app, &headers)?;
    let request: DecideBody = body(&app, &headers, request).await?;
    require_user(&request.user_id)?;
    let mut options = DecideOptions::NONE;
    for name in &request.decide_options {
        options |= DecideOptions::from_name(name).ok_or_else(|| bad_request(format!("invalid option: {name}")))?;
    }
    let keys: Vec<String> = form_values(query.as_deref().unwrap_or(""), "keys");
    let mut user = client.create_user_context(request.user_id.clone(), attributes(request.user_attributes));
    for forced in &request.forced_decisions {
        user.set_forced_decision(&forced.flag_key, forced.rule_key.as_deref(), &forced.variation_key);
    }
    let config = client.config();
    let render = |d: &Decision| decision_json(d, &user, config.as_deref());
    let answer = match keys.as_slice() {
        [key] => render(&user.decide(key, options)),
        [] => Value::Array(user.decide_all(options).iter().map(render).collect()),
        keys => {
            Value::Array(user.decide_for_keys(keys.iter().map(String::as_str), options).iter().map(render).collect())
        }
    };
    Ok((StatusCode::OK, Json(answer)).into_response())
}

/// The values of `name` in a query string, decoded, in order (`keys=a&keys=b`, or
/// `keys=a,b` as Agent's clients also send).
fn form_values(query: &str, name: &str) -> Vec<String> {
    form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == name)
        .flat_map(|(_, v)| v.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// Agent's `OptimizelyDecision` with its `isEveryoneElseVariation`.
fn decision_json(d: &Decision, user: &vario_sdk::UserContext, config: Option<&vario_sdk::ProjectConfig>) -> Value {
    let mut out = Map::new();
    out.insert("variationKey".into(), d.variation_key().unwrap_or_default().into());
    out.insert("enabled".into(), d.enabled().into());
    if !d.variables().is_empty() {
        out.insert("variables".into(), Value::Object(d.variables().clone()));
    }
    out.insert("ruleKey".into(), d.rule_key().unwrap_or_default().into());
    out.insert("flagKey".into(), d.flag_key().into());
    let attributes: Map<String, Value> = user.attributes().iter().map(|(k, v)| (k.to_owned(), v.to_json())).collect();
    out.insert("userContext".into(), json!({"userId": user.user_id(), "attributes": attributes}));
    out.insert("reasons".into(), d.reasons().into());
    out.insert("isEveryoneElseVariation".into(), everyone_else(d, config).into());
    Value::Object(out)
}

/// The flag's "Everyone Else" delivery rule decided (its key is its id, `default-…`).
fn everyone_else(d: &Decision, config: Option<&vario_sdk::ProjectConfig>) -> bool {
    let (Some(made), Some(config)) = (d.flag_decision(), config) else { return false };
    if made.source() != DecisionSource::Rollout {
        return false;
    }
    made.rule().is_some_and(|rule| {
        let rule = &config.experiments[rule];
        rule.key == rule.id && rule.key.starts_with("default-")
    })
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrackBody {
    #[serde(default)]
    user_id: String,
    user_attributes: Option<Map<String, Value>>,
    event_tags: Option<Map<String, Value>>,
}

/// The query of `POST /v1/track`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackQuery {
    event_key: Option<String>,
}

impl TrackQuery {
    /// The query naming `event_key`.
    pub fn new(event_key: Option<String>) -> Self {
        Self { event_key }
    }
}

/// `POST /v1/track?eventKey=...`: a conversion (an unknown event key is answered 200
/// with `error`, as Agent does, and nothing is sent).
pub async fn track(
    State(app): State<AppState>,
    Query(query): Query<TrackQuery>,
    headers: HeaderMap,
    request: Body,
) -> Result<Response, Refusal> {
    let (client, _) = environment(&app, &headers)?;
    let request: TrackBody = body(&app, &headers, request).await?;
    let event_key = query
        .event_key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| bad_request("missing required path parameter: eventKey"))?;
    let mut answer = json!({"userId": request.user_id, "eventKey": event_key});
    let known = client.config().is_some_and(|c| c.event_by_key(&event_key).is_some());
    if known {
        client.track(&event_key, &request.user_id, &attributes(request.user_attributes), request.event_tags.as_ref());
    } else {
        answer["error"] = format!("event with key {event_key:?} not found").into();
    }
    Ok((StatusCode::OK, Json(answer)).into_response())
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OverrideBody {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    experiment_key: String,
    #[serde(default)]
    variation_key: String,
}

/// `POST /v1/override`: forces a variation of an experiment for a user on this
/// environment's client (kept until the server stops); an empty `variationKey` removes it.
pub async fn override_variation(
    State(app): State<AppState>,
    headers: HeaderMap,
    request: Body,
) -> Result<Response, Refusal> {
    let (client, _) = environment(&app, &headers)?;
    let request: OverrideBody = body(&app, &headers, request).await?;
    if request.user_id.is_empty() {
        return Err(bad_request("userId cannot be empty").into());
    }
    if request.experiment_key.is_empty() {
        return Err(bad_request("experimentKey cannot be empty").into());
    }
    let (user, experiment) = (request.user_id.as_str(), request.experiment_key.as_str());
    let previous = client.get_forced_variation(experiment, user);
    let mut messages = Vec::new();
    if request.variation_key.is_empty() {
        client.set_forced_variation(experiment, user, None);
        messages.push(if previous.is_some() { "removing previous override" } else { "no pre-existing override" });
    } else {
        let config = client.config();
        let found = config.as_deref().and_then(|c| c.experiment_by_key(experiment).map(|e| &c.experiments[e]));
        match found {
            None => messages.push("experimentKey not found in configuration"),
            Some(e) if !e.variations.iter().any(|v| v.key == request.variation_key) => {
                messages.push("variationKey not found in configuration");
            }
            Some(_) => {}
        }
        if previous.is_some() {
            messages.push("updating previous override");
        }
        client.set_forced_variation(experiment, user, Some(&request.variation_key));
    }
    // Agent leaves its list nil when there is nothing to say, which Go writes `null`.
    let messages = if messages.is_empty() { Value::Null } else { json!(messages) };
    let answer = json!({
        "userId": user,
        "experimentKey": experiment,
        "variationKey": request.variation_key,
        "prevVariationKey": previous.unwrap_or_default(),
        "messages": messages,
    });
    Ok((StatusCode::OK, Json(answer)).into_response())
}
