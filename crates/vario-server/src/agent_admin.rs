//! Agent's admin routes, on the listener of `[agent.admin] listen` (Agent's admin port):
//! `GET /config` (the server's settings, secrets left out), `GET /info` (name, version,
//! uptime), `GET /metrics` (Prometheus text, as Agent with `metricsType: prometheus`),
//! and `POST /oauth/token` for admin tokens. With `[agent.admin.auth]` secrets, the
//! three GET routes need a token with the `admin` claim. Every answer carries Agent's
//! `Author`, `App-Name` and `App-Version` headers.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::state::AppState;

/// What `/info` and the headers call the server.
const APP_NAME: &str = "vario";
const AUTHOR: &str = "Vario";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The admin service.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/config", get(config))
        .route("/info", get(info))
        .route("/metrics", get(metrics))
        .route("/oauth/token", post(oauth_token))
        .fallback(|| async { (StatusCode::NOT_FOUND, Json(json!({"error": "no such admin endpoint"}))) })
        .layer(axum::extract::DefaultBodyLimit::max(state.config().limits.max_form_bytes))
        .layer(middleware::from_fn(app_headers))
        .with_state(state)
}

async fn app_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert("author", HeaderValue::from_static(AUTHOR));
    headers.insert("app-name", HeaderValue::from_static(APP_NAME));
    headers.insert("app-version", HeaderValue::from_static(VERSION));
    response
}

/// Refused without an admin token (when tokens are asked for): 401 in Agent's shape.
struct NotAdmin(String);

impl IntoResponse for NotAdmin {
    fn into_response(self) -> Response {
        (StatusCode::UNAUTHORIZED, Json(json!({"error": self.0}))).into_response()
    }
}

fn authorize(app: &AppState, headers: &HeaderMap) -> Result<(), NotAdmin> {
    app.admin_auth().authorize_admin(headers).map_err(|e| NotAdmin(e.to_string()))
}

/// `GET /config`: the settings the server runs with, without secrets (the admin token,
/// HMAC secrets and client secret hashes are left out; write keys show only their
/// project ids).
async fn config(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize(&app, &headers) {
        return refused.into_response();
    }
    Json(app.config()).into_response()
}

/// `GET /info`: Agent's `{version, author, app_name, uptime, host}`; `host` from the
/// `HOST` environment variable, left out when unset.
async fn info(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize(&app, &headers) {
        return refused.into_response();
    }
    let mut info = json!({
        "version": VERSION,
        "author": AUTHOR,
        "app_name": APP_NAME,
        "uptime": go_duration(app.uptime()),
    });
    if let Some(host) = std::env::var("HOST").ok().filter(|h| !h.is_empty()) {
        info["host"] = Value::String(host);
    }
    Json(info).into_response()
}

/// `GET /metrics`: the server's metrics, as on the main listener.
async fn metrics(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize(&app, &headers) {
        return refused.into_response();
    }
    crate::routes::health::metrics(State(app)).await
}

/// `POST /oauth/token`: an admin token (claim `admin: true`) for a client of
/// `[agent.admin.auth]`.
async fn oauth_token(State(app): State<AppState>, headers: HeaderMap, request: Body) -> Response {
    crate::routes::agent::token_answer(&app, app.admin_auth(), &headers, request).await
}

/// A duration as Go's `Duration.String()` writes it (`1h2m3.5s`, `45.25s`, `12ms`), the
/// way Agent's `/info` gives its uptime.
fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trim(nanos as f64 / 1e3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim(nanos as f64 / 1e6));
    }
    let total = d.as_secs();
    let (hours, minutes) = (total / 3600, total % 3600 / 60);
    let seconds = (total % 60) as f64 + f64::from(d.subsec_nanos()) / 1e9;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{}s", trim(seconds)));
    out
}

/// Up to nine decimals, without trailing zeros.
fn trim(x: f64) -> String {
    let s = format!("{x:.9}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptimes_read_as_gos_durations() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_millis(12)), "12ms");
        assert_eq!(go_duration(Duration::from_millis(45_250)), "45.25s");
        assert_eq!(go_duration(Duration::from_millis(3_723_500)), "1h2m3.5s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_secs(120)), "2m0s");
    }
}
