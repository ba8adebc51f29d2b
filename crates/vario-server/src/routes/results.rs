//! `GET /api/v1/experiments/{key}/results` (admin token): the results document of
//! `vario results --format json`, with the same options as query parameters.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use vario_results::{
    Bound, Granularity, ResultsDocument, ResultsError, ResultsRequest, SegmentDoc, Window, find_config, parse_time,
};

use crate::auth::require_admin;
use crate::error::{ApiError, Code};
use crate::state::AppState;

/// The query parameters this endpoint understands.
const PARAMETERS: [&str; 9] =
    ["from", "to", "segment", "alpha", "baseline", "interval", "exclude_multiple_exposures", "sdk_key", "format"];

fn request(key: &str, params: &HashMap<String, String>) -> Result<(ResultsRequest, Option<String>), ApiError> {
    if let Some(unknown) = params.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
        return Err(ApiError::at(
            Code::InvalidField,
            unknown.clone(),
            format!("unknown parameter {unknown:?}; known: {}", PARAMETERS.join(", ")),
        ));
    }
    let field = |name: &'static str| move |e: ResultsError| ApiError::at(Code::InvalidField, name, e.to_string());
    let mut req = ResultsRequest::new(key);
    req.window = Window {
        from: params.get("from").map(|t| parse_time(t, Bound::Start)).transpose().map_err(field("from"))?,
        to: params.get("to").map(|t| parse_time(t, Bound::End)).transpose().map_err(field("to"))?,
    };
    if let Some(segment) = params.get("segment") {
        let (attribute, value) = segment.split_once('=').filter(|(a, _)| !a.trim().is_empty()).ok_or_else(|| {
            ApiError::at(Code::InvalidField, "segment", format!("{segment:?}: write ATTRIBUTE=VALUE"))
        })?;
        req.segment = Some(SegmentDoc { attribute: attribute.trim().to_owned(), value: value.to_owned() });
    }
    if let Some(alpha) = params.get("alpha") {
        req.alpha =
            alpha.parse().ok().filter(|a: &f64| *a > 0.0 && *a < 1.0).ok_or_else(|| {
                ApiError::at(Code::InvalidField, "alpha", format!("{alpha:?}: a number between 0 and 1"))
            })?;
    }
    req.baseline = params.get("baseline").cloned();
    req.granularity = match params.get("interval").map(String::as_str) {
        None | Some("day") => Granularity::Day,
        Some("hour") => Granularity::Hour,
        Some(other) => return Err(ApiError::at(Code::InvalidField, "interval", format!("{other:?}: day or hour"))),
    };
    req.exclude_multiple_exposures = match params.get("exclude_multiple_exposures").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::at(
                Code::InvalidField,
                "exclude_multiple_exposures",
                format!("{other:?}: true or false"),
            ));
        }
    };
    match params.get("format").map(String::as_str) {
        None | Some("json") => {}
        Some(other) => return Err(ApiError::at(Code::InvalidField, "format", format!("{other:?}: only json"))),
    }
    Ok((req, params.get("sdk_key").cloned()))
}

/// Answers the results document; 404 for an experiment no hosted datafile defines,
/// 400 naming the parameter for a bad option.
pub async fn get_results(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<ResultsDocument>, ApiError> {
    require_admin(&headers, app.admin_token())?;
    Ok(Json((*compute(&app, &key, &params).await?).clone()))
}

/// The results document of `key` for the query parameters `params` (also what the
/// results page shows).
pub(crate) async fn compute(
    app: &AppState,
    key: &str,
    params: &HashMap<String, String>,
) -> Result<Arc<ResultsDocument>, ApiError> {
    let (req, sdk_key) = request(key, params)?;
    let engine = app.results();
    // Dropped with this future when the client goes away: that cancels the scans.
    let (limits, _running) = app.query_limits().await?;
    // DataFusion runs on its own runtime in the blocking pool: long computations never
    // hold up the request threads.
    let answer = tokio::task::spawn_blocking(move || {
        limits.apply(|| {
            let config = find_config(engine.data_dir(), &req.experiment, sdk_key.as_deref(), None)?;
            engine.results(&config, &req, &|_| {})
        })
    })
    .await
    .map_err(ApiError::internal)?;
    match answer {
        Ok(doc) => Ok(doc),
        Err(e @ ResultsError::UnknownExperiment { .. }) => Err(ApiError::new(Code::NotFound, e.to_string())),
        Err(e @ (ResultsError::InvalidRequest(_) | ResultsError::Datafile(_))) => {
            Err(ApiError::new(Code::InvalidField, e.to_string()))
        }
        Err(ResultsError::Query(e)) => Err(crate::routes::query::query_error(e)),
        Err(ResultsError::Store(e)) => Err(e.into()),
        Err(e) => Err(ApiError::internal(e)),
    }
}
