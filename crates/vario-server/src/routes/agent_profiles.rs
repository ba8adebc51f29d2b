//! `POST /v1/lookup` and `POST /v1/save`: the user profiles an environment's deciding
//! client keeps (which variation each experiment gave a user), in Agent's shape:
//! `{"userId", "experimentBucketMap": {"<experiment id>": {"variation_id": "..."}}}`.
//! With profiles turned off (`[agent] user_profiles = 0`) both answer 500, as Agent
//! without a user profile service.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use vario_sdk::{InMemoryUserProfileService, UserProfile, UserProfileService};

use super::agent::{AgentError, Refusal, bad_request, body, hosted, require_user};
use crate::state::AppState;

/// The field of a bucket map entry that holds the variation id.
const VARIATION_ID: &str = "variation_id";

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileBody {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    experiment_bucket_map: Map<String, Value>,
}

fn profiles(app: &AppState, headers: &HeaderMap) -> Result<Arc<InMemoryUserProfileService>, Refusal> {
    let (sdk_key, hosted) = hosted(app, headers)?;
    app.decisions()
        .profiles(app, sdk_key, &hosted)?
        .ok_or_else(|| AgentError(StatusCode::INTERNAL_SERVER_ERROR, "no user profile service found".to_owned()).into())
}

async fn user(app: &AppState, headers: &HeaderMap, request: Body) -> Result<ProfileBody, Refusal> {
    let request: ProfileBody = body(app, headers, request).await?;
    require_user(&request.user_id)?;
    Ok(request)
}

fn internal(e: &dyn std::fmt::Display) -> Refusal {
    AgentError(StatusCode::INTERNAL_SERVER_ERROR, format!("user profile service: {e}")).into()
}

/// `POST /v1/lookup`: the user's profile (an empty map for a user never bucketed).
pub async fn lookup(State(app): State<AppState>, headers: HeaderMap, request: Body) -> Result<Response, Refusal> {
    let profiles = profiles(&app, &headers)?;
    let request = user(&app, &headers, request).await?;
    let profile = profiles.lookup(&request.user_id).map_err(|e| internal(&e))?.unwrap_or_default();
    let map: Map<String, Value> = profile
        .experiment_bucket_map
        .into_iter()
        .map(|(experiment, variation)| (experiment, json!({VARIATION_ID: variation})))
        .collect();
    Ok((StatusCode::OK, Json(json!({"userId": request.user_id, "experimentBucketMap": map}))).into_response())
}

/// `POST /v1/save`: replaces the user's profile; 200 with no body.
pub async fn save(State(app): State<AppState>, headers: HeaderMap, request: Body) -> Result<Response, Refusal> {
    let profiles = profiles(&app, &headers)?;
    let request = user(&app, &headers, request).await?;
    let mut experiment_bucket_map = HashMap::with_capacity(request.experiment_bucket_map.len());
    for (experiment, entry) in request.experiment_bucket_map {
        let Some(variation) = entry.get(VARIATION_ID).and_then(Value::as_str) else {
            let message =
                format!("experimentBucketMap[{experiment:?}] must be {{\"{VARIATION_ID}\": \"<variation id>\"}}");
            return Err(bad_request(message).into());
        };
        experiment_bucket_map.insert(experiment, variation.to_owned());
    }
    let profile = UserProfile { user_id: request.user_id, experiment_bucket_map };
    profiles.save(&profile).map_err(|e| internal(&e))?;
    Ok(StatusCode::OK.into_response())
}
