//! `POST /v1/activate`: Agent's legacy decisions for experiments and features, as
//! Agent's `Decision` objects (`userId`, `experimentKey`, `featureKey`, `variationKey`,
//! `type`, `variables`, `enabled`, `error`).
//!
//! The query chooses what is decided: `experimentKey` and `featureKey` name keys (an
//! unknown one answers a decision with `error`, not a failed request), `type=experiment`
//! and `type=feature` add every experiment or every flag. `disableTracking=true` decides
//! without impressions; `enabled=true|false` keeps only the decisions that are (not)
//! enabled.

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use vario_sdk::{Attributes, Client, DecideOptions, UserContext};

use super::agent::{AgentError, Refusal, attributes, bad_request, body, environment, require_user};
use crate::state::AppState;

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivateBody {
    #[serde(default)]
    user_id: String,
    user_attributes: Option<Map<String, Value>>,
}

/// What one requested key is decided as.
#[derive(Clone, Copy)]
enum Wanted {
    Experiment,
    Feature,
    UnknownExperiment,
    UnknownFeature,
}

/// The keys to decide, in the order first named; naming a key again re-decides what it
/// is (a flag and an experiment of one key are one entry, the later naming wins, as in
/// Agent).
#[derive(Default)]
struct Plan(Vec<(String, Wanted)>);

impl Plan {
    fn set(&mut self, key: &str, wanted: Wanted) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = wanted,
            None => self.0.push((key.to_owned(), wanted)),
        }
    }
}

/// The handler.
pub async fn activate(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    request: Body,
) -> Result<Response, Refusal> {
    let (client, _) = environment(&app, &headers)?;
    let request: ActivateBody = body(&app, &headers, request).await?;
    require_user(&request.user_id)?;
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()).into_owned().collect();
    let values = |name: &'static str| params.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str());
    let first = |name: &'static str| values(name).next();

    let view = client.optimizely_config().ok_or_else(|| {
        AgentError(StatusCode::SERVICE_UNAVAILABLE, "the environment's datafile is not loaded yet".to_owned())
    })?;
    let mut plan = Plan::default();
    for kind in values("type") {
        match kind {
            "experiment" => view.experiments_map.keys().for_each(|k| plan.set(k, Wanted::Experiment)),
            "feature" => view.features_map.keys().for_each(|k| plan.set(k, Wanted::Feature)),
            other => return Err(bad_request(format!("type {other:?} not supported")).into()),
        }
    }
    for key in values("experimentKey") {
        let known = view.experiments_map.contains_key(key);
        plan.set(key, if known { Wanted::Experiment } else { Wanted::UnknownExperiment });
    }
    for key in values("featureKey") {
        let known = view.features_map.contains_key(key);
        plan.set(key, if known { Wanted::Feature } else { Wanted::UnknownFeature });
    }

    let tracking = first("disableTracking") != Some("true");
    let only = match first("enabled") {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    let attributes = attributes(request.user_attributes);
    let user = Decider {
        client: &client,
        user_id: &request.user_id,
        context: client.create_user_context(request.user_id.as_str(), attributes.clone()),
        attributes,
    };
    let decisions: Vec<Value> = plan
        .0
        .iter()
        .map(|(key, wanted)| user.decide(key, *wanted, tracking))
        .filter(|d| only.is_none_or(|enabled| d["enabled"] == enabled))
        .collect();
    Ok((StatusCode::OK, Json(Value::Array(decisions))).into_response())
}

/// One user, decided for every key of the plan.
struct Decider<'a> {
    client: &'a Client,
    user_id: &'a str,
    attributes: Attributes,
    context: UserContext,
}

/// Agent's `Decision`: `variables` only when there are some, `error` only on one.
#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Decision<'a> {
    user_id: &'a str,
    experiment_key: &'a str,
    feature_key: &'a str,
    variation_key: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Map::is_empty")]
    variables: Map<String, Value>,
    enabled: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    error: &'static str,
}

impl Decider<'_> {
    fn decide(&self, key: &str, wanted: Wanted, tracking: bool) -> Value {
        let user_id = self.user_id;
        let answer = match wanted {
            Wanted::Experiment => {
                let variation = if tracking {
                    self.client.activate(key, user_id, &self.attributes)
                } else {
                    self.client.get_variation(key, user_id, &self.attributes)
                };
                let variation_key = variation.as_ref().map_or("", |v| v.key());
                let d = Decision {
                    user_id,
                    experiment_key: key,
                    variation_key,
                    kind: "experiment",
                    enabled: !variation_key.is_empty(),
                    ..Decision::default()
                };
                serde_json::to_value(d)
            }
            Wanted::Feature => {
                let options = if tracking { DecideOptions::NONE } else { DecideOptions::DISABLE_DECISION_EVENT };
                let made = self.context.decide(key, options);
                let (rule_key, variation_key) = (
                    made.rule_key().unwrap_or_default().to_owned(),
                    made.variation_key().unwrap_or_default().to_owned(),
                );
                let enabled = made.enabled();
                let d = Decision {
                    user_id,
                    experiment_key: &rule_key,
                    feature_key: key,
                    variation_key: &variation_key,
                    kind: "feature",
                    variables: made.into_variables(),
                    enabled,
                    ..Decision::default()
                };
                serde_json::to_value(d)
            }
            Wanted::UnknownExperiment => serde_json::to_value(Decision {
                user_id,
                experiment_key: key,
                error: "experimentKey not found",
                ..Decision::default()
            }),
            Wanted::UnknownFeature => serde_json::to_value(Decision {
                user_id,
                feature_key: key,
                error: "featureKey not found",
                ..Decision::default()
            }),
        };
        // Strings, booleans and a JSON map: serializing cannot fail.
        answer.unwrap_or_default()
    }
}
