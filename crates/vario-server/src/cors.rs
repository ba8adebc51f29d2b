//! CORS on the public SDK routes (datafiles, Events API): what lets a web page on another
//! origin load its datafile and send its events with the official browser SDKs.
//!
//! A route opts in with [`public`]; the admin API and the pages never do, so no page of
//! another origin can read their answers. No answer carries
//! `Access-Control-Allow-Credentials`: these routes take no cookies, so any origin (`*`)
//! is a safe default.
//!
//! A request whose `Origin` is outside `[cors] allowed_origins` is refused with 403
//! `cors_refused` and no CORS headers, preflight or not: the page sees a CORS error, and
//! a `text/plain` POST (what `navigator.sendBeacon` sends a string as), which a browser
//! sends without a preflight, stores nothing.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use crate::config::CorsConfig;
use crate::error::{ApiError, Code, ServerError};

/// Request headers a page may send besides the CORS-safelisted ones: the body's type and
/// encoding, a write key, and the conditional headers of datafile polling.
const ALLOWED_HEADERS: [&str; 7] = [
    "content-type",
    "content-encoding",
    "authorization",
    "x-vario-write-key",
    "x-api-key",
    "if-none-match",
    "if-modified-since",
];
/// Safelisted request headers a browser may still name in a preflight.
const SAFELISTED_HEADERS: [&str; 3] = ["accept", "accept-language", "content-language"];
/// Response headers a page may read besides the safelisted ones (`Last-Modified` is one):
/// an SDK that revalidates with `If-None-Match` needs the `ETag`.
const EXPOSED_HEADERS: &str = "ETag";
/// Everything a preflight answer depends on, for caches between browser and server.
const PREFLIGHT_VARY: &str = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

/// The allow-list, checked and ready to answer with.
#[derive(Debug)]
pub struct Cors {
    origins: Origins,
    max_age: HeaderValue,
}

#[derive(Debug)]
enum Origins {
    Any,
    /// Lowercase `scheme://host[:port]` (or `null`); empty: no page may call.
    Listed(Vec<String>),
}

impl Cors {
    /// Checks `[cors]`: every origin is `*` alone, `null`, or `scheme://host[:port]`.
    pub fn new(config: &CorsConfig) -> Result<Self, ServerError> {
        let invalid = |message: String| ServerError::Config(format!("cors.allowed_origins: {message}"));
        let origins = if config.allowed_origins.iter().any(|o| o.trim() == "*") {
            if config.allowed_origins.len() > 1 {
                return Err(invalid("\"*\" allows every origin; list it alone".into()));
            }
            Origins::Any
        } else {
            Origins::Listed(
                config.allowed_origins.iter().map(|o| origin(o).map_err(invalid)).collect::<Result<_, _>>()?,
            )
        };
        let max_age = HeaderValue::from(config.max_age_seconds);
        Ok(Self { origins, max_age })
    }

    /// Allows no origin: what the router falls back to if the settings were not checked.
    fn none() -> Self {
        Self { origins: Origins::Listed(Vec::new()), max_age: HeaderValue::from_static("0") }
    }

    /// [`Cors::new`] for settings [`crate::AppState::open`] has already checked.
    pub(crate) fn checked(config: &CorsConfig) -> Arc<Self> {
        Arc::new(Self::new(config).unwrap_or_else(|_| Self::none()))
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        match &self.origins {
            Origins::Any => true,
            Origins::Listed(list) => {
                origin.to_str().is_ok_and(|origin| list.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin)))
            }
        }
    }

    /// What every answer of a public route carries; with `*` also answers without an
    /// `Origin`, so a shared cache keeps one answer that serves every page.
    fn decorate(&self, headers: &mut HeaderMap, origin: Option<&HeaderValue>) {
        match (&self.origins, origin) {
            (Origins::Any, _) => {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            }
            (Origins::Listed(_), origin) => {
                headers.append(header::VARY, HeaderValue::from_static("Origin"));
                let Some(origin) = origin else { return };
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            }
        }
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
    }
}

/// `text` as a lowercase origin, or why it is none.
fn origin(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text == "null" {
        // Sandboxed frames and file:// pages send this.
        return Ok(text.to_owned());
    }
    let valid = text.split_once("://").is_some_and(|(scheme, host)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            && !host.is_empty()
            && !host.contains(|c: char| matches!(c, '/' | '?' | '#' | '@' | '*') || c.is_whitespace())
    });
    if !valid {
        return Err(format!(
            "{text:?} is not an origin: give scheme, host and port only, like \"https://shop.example.com\" or \"http://localhost:3000\""
        ));
    }
    Ok(text.to_ascii_lowercase())
}

/// The CORS of one route: the allow-list and the methods a page may use on it.
#[derive(Debug)]
struct RoutePolicy {
    cors: Arc<Cors>,
    methods: Vec<Method>,
    allow_methods: HeaderValue,
}

/// Opens `route` to web pages of the allowed origins for `methods`: answers their
/// preflights and adds the CORS headers to its answers. Only public routes that take no
/// credentials may use it (the SDK routes; later, public decision routes).
pub fn public<S>(route: MethodRouter<S>, cors: &Arc<Cors>, methods: &[Method]) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    let names: Vec<&str> = methods.iter().map(Method::as_str).collect();
    let policy = Arc::new(RoutePolicy {
        cors: Arc::clone(cors),
        methods: methods.to_vec(),
        allow_methods: HeaderValue::from_str(&names.join(", ")).unwrap_or_else(|_| HeaderValue::from_static("GET")),
    });
    route
        // Preflights are answered by the layer; any other OPTIONS is refused as before.
        .options(|| async { ApiError::new(Code::MethodNotAllowed, "this endpoint does not take that method") })
        .layer(middleware::from_fn_with_state(policy, apply))
}

async fn apply(State(policy): State<Arc<RoutePolicy>>, request: Request, next: Next) -> Response {
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
        let mut response = next.run(request).await;
        policy.cors.decorate(response.headers_mut(), None);
        return response;
    };
    if request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        return preflight(&policy, &origin, request.headers());
    }
    if !policy.cors.allows(&origin) {
        let mut refused = refusal(&origin_refused(&origin));
        if matches!(policy.cors.origins, Origins::Listed(_)) {
            refused.headers_mut().append(header::VARY, HeaderValue::from_static("Origin"));
        }
        return refused;
    }
    let mut response = next.run(request).await;
    policy.cors.decorate(response.headers_mut(), Some(&origin));
    response
}

/// The answer to `OPTIONS` with `Access-Control-Request-Method`: 204 with what the page
/// may do, or 403 naming what it may not.
fn preflight(policy: &RoutePolicy, origin: &HeaderValue, headers: &HeaderMap) -> Response {
    let refused = |message: String| {
        let mut response = refusal(&message);
        response.headers_mut().insert(header::VARY, HeaderValue::from_static(PREFLIGHT_VARY));
        response
    };
    if !policy.cors.allows(origin) {
        return refused(origin_refused(origin));
    }
    let requested = headers.get(header::ACCESS_CONTROL_REQUEST_METHOD).and_then(|m| m.to_str().ok()).unwrap_or("");
    if !policy.methods.iter().any(|m| m.as_str() == requested) {
        return refused(format!(
            "a page may not send {requested:?} here; this endpoint takes {}",
            policy.allow_methods.to_str().unwrap_or_default()
        ));
    }
    let names = headers.get_all(header::ACCESS_CONTROL_REQUEST_HEADERS).iter().flat_map(|v| {
        v.to_str().unwrap_or("\u{fffd}").split(',').map(|n| n.trim().to_ascii_lowercase()).collect::<Vec<_>>()
    });
    for name in names.filter(|n| !n.is_empty()) {
        if !ALLOWED_HEADERS.contains(&name.as_str()) && !SAFELISTED_HEADERS.contains(&name.as_str()) {
            return refused(format!(
                "a page may not send the header {name:?} here; allowed: {}",
                ALLOWED_HEADERS.join(", ")
            ));
        }
    }
    let mut response = axum::http::StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    let allow_origin = match policy.cors.origins {
        Origins::Any => HeaderValue::from_static("*"),
        Origins::Listed(_) => origin.clone(),
    };
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, policy.allow_methods.clone());
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(allowed_headers()));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, policy.cors.max_age.clone());
    h.insert(header::VARY, HeaderValue::from_static(PREFLIGHT_VARY));
    response
}

/// [`ALLOWED_HEADERS`] as one header value.
const fn allowed_headers() -> &'static str {
    "Content-Type, Content-Encoding, Authorization, X-Vario-Write-Key, X-API-Key, If-None-Match, If-Modified-Since"
}

fn origin_refused(origin: &HeaderValue) -> String {
    format!("origin {:?} is not in [cors] allowed_origins", String::from_utf8_lossy(origin.as_bytes()))
}

fn refusal(message: &str) -> Response {
    ApiError::new(Code::CorsRefused, message).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(origins: &[&str]) -> CorsConfig {
        CorsConfig { allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(), ..CorsConfig::default() }
    }

    #[test]
    fn the_default_allows_every_origin() {
        let cors = Cors::new(&CorsConfig::default()).unwrap();
        assert!(cors.allows(&HeaderValue::from_static("https://anything.example")));
        assert!(cors.allows(&HeaderValue::from_static("null")));
    }

    #[test]
    fn listed_origins_match_exactly_ignoring_case() {
        let cors = Cors::new(&config(&["https://Shop.example.com", "http://localhost:3000"])).unwrap();
        assert!(cors.allows(&HeaderValue::from_static("https://shop.example.com")));
        assert!(cors.allows(&HeaderValue::from_static("http://localhost:3000")));
        for other in ["http://shop.example.com", "https://shop.example.com:8443", "http://localhost", "null"] {
            assert!(!cors.allows(&HeaderValue::from_static(other)), "{other}");
        }
    }

    #[test]
    fn an_empty_list_allows_no_origin() {
        let cors = Cors::new(&config(&[])).unwrap();
        assert!(!cors.allows(&HeaderValue::from_static("http://localhost:3000")));
    }

    #[test]
    fn what_is_no_origin_is_a_configuration_error() {
        for bad in ["https://shop.example.com/", "shop.example.com", "https://", "https://*.example.com", "*.example"] {
            let error = Cors::new(&config(&[bad])).unwrap_err().to_string();
            assert!(error.contains("is not an origin"), "{bad}: {error}");
        }
        let error = Cors::new(&config(&["*", "https://a.example"])).unwrap_err().to_string();
        assert!(error.contains("list it alone"), "{error}");
    }

    #[test]
    fn the_allowed_headers_value_names_every_allowed_header() {
        let value = allowed_headers().to_ascii_lowercase();
        let names: Vec<&str> = value.split(", ").collect();
        assert_eq!(names, ALLOWED_HEADERS);
    }
}
