//! The pages: sign-in, overview, project pages, results pages and explain, rendered on
//! the server from the same data as the API. Every page and its data needs a session
//! (sign-in with the admin token); without one, pages redirect to the sign-in form and
//! data answers 401. Styles are compiled into the binary; the pages load nothing else.

mod chart;
mod explain_page;
mod html;
mod project_page;
mod results_page;
pub mod session;
mod throttle;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Form, Router};

use crate::auth::secrets_equal;
use crate::error::{ApiError, Code};
use crate::state::AppState;
use html::{Nav, esc, page, respond};
use session::Sessions;
use throttle::SignInThrottle;

/// The stylesheet of every page.
const CSS: &str = include_str!("assets/ui.css");

/// The routes of the pages, sharing one set of sessions; `sign_ins_per_minute` wrong
/// sign-in attempts per client address.
pub fn router(sign_ins_per_minute: u32) -> Router<AppState> {
    let sessions = Arc::new(Sessions::default());
    let throttle = Arc::new(SignInThrottle::new(sign_ins_per_minute));
    let protected = Router::new()
        .route("/ui", get(project_page::overview))
        .route("/ui/projects/{project}", get(project_page::project_page))
        .route("/ui/experiments/{key}", get(results_page::results_page))
        .route("/ui/experiments/{key}/results.csv", get(results_page::results_csv))
        .route("/ui/experiments/{key}/results.json", get(results_page::results_json))
        .route("/ui/explain", get(explain_page::explain_page))
        .layer(middleware::from_fn(require_session));
    Router::new()
        .route("/", get(home))
        .route("/ui/login", get(login_form).post(login))
        .route("/ui/logout", axum::routing::post(logout))
        .route("/ui/assets/ui.css", get(css))
        .merge(protected)
        .layer(Extension(sessions))
        .layer(Extension(throttle))
}

/// Data endpoints answer 401 without a session; pages send the browser to sign in.
async fn require_session(Extension(sessions): Extension<Arc<Sessions>>, request: Request, next: Next) -> Response {
    if sessions.valid(request.headers()) {
        return next.run(request).await;
    }
    let path = request.uri().path();
    if path.ends_with(".csv") || path.ends_with(".json") {
        return ApiError::new(Code::Unauthorized, "sign in at /ui/login first (or use the API with the admin token)")
            .into_response();
    }
    let target = request.uri().path_and_query().map_or("/ui", |p| p.as_str());
    Redirect::to(&format!("/ui/login?next={}", html::url_encode(target))).into_response()
}

/// `GET /`: the overview when signed in, else the sign-in form.
async fn home(Extension(sessions): Extension<Arc<Sessions>>, headers: HeaderMap) -> Redirect {
    Redirect::to(if sessions.valid(&headers) { "/ui" } else { "/ui/login" })
}

async fn css() -> Response {
    let mut response = CSS.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

/// Where to go after signing in: only a path of the pages, never another site, and
/// only visible ASCII (anything else cannot be a `Location` header as it stands).
fn safe_next(next: Option<&str>) -> &str {
    next.filter(|n| {
        n.starts_with("/ui") && !n.starts_with("//") && !n.contains('\\') && n.bytes().all(|b| b.is_ascii_graphic())
    })
    .unwrap_or("/ui")
}

/// Whether a state-changing form comes from the server's own pages: its `Origin` (or,
/// without one, `Sec-Fetch-Site`) must name this host. Requests with neither are not
/// from a browser that could carry another site's form.
fn same_origin(headers: &HeaderMap, trust_proxy: bool) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let host = (if trust_proxy { text("x-forwarded-host") } else { None }).or_else(|| text(header::HOST.as_str()));
    let origin = text(header::ORIGIN.as_str());
    // Browsers send `Origin: null` under some referrer policies; `Sec-Fetch-Site` then says.
    if let Some(origin) = origin.filter(|o| *o != "null") {
        let authority = origin.split_once("://").map(|(_, rest)| rest.trim_end_matches('/'));
        return matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h));
    }
    match text("sec-fetch-site") {
        Some(site) => site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none"),
        None => origin.is_none(),
    }
}

fn cross_site() -> Response {
    ApiError::new(Code::Forbidden, "this form was posted from another site (Origin does not match the server)")
        .into_response()
}

/// The client's address: the connection's, or the proxy's word for it when trusted.
fn client_address(headers: &HeaderMap, peer: Option<SocketAddr>, trust_proxy: bool) -> IpAddr {
    let forwarded = trust_proxy
        .then(|| headers.get("x-forwarded-for")?.to_str().ok()?.rsplit(',').next()?.trim().parse::<IpAddr>().ok())
        .flatten();
    forwarded.or(peer.map(|p| p.ip())).unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// Whether the session cookie gets `Secure`: always when configured, or when a trusted
/// proxy says the client speaks HTTPS.
fn secure_cookie(app: &AppState, headers: &HeaderMap) -> bool {
    let pages = &app.config().pages;
    pages.secure_cookies
        || (pages.trust_proxy_headers
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https")))
}

fn login_page(status: StatusCode, next: &str, problem: Option<&str>) -> Response {
    let problem = problem
        .map_or_else(String::new, |p| format!("<p class=\"notice error\" role=\"alert\" id=\"error\">{}</p>", esc(p)));
    let body = format!(
        "<div class=\"signin\"><h1>Sign in to Vario</h1>{problem}\
         <form method=\"post\" action=\"/ui/login\"><input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label>Admin token <input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"current-password\" required autofocus></label>\
         <div class=\"actions\"><button type=\"submit\" id=\"sign-in\">Sign in</button></div></form>\
         <p class=\"muted\">The token <code>vario serve</code> printed on its first start (or <code>DATA_DIR/admin-token</code>).</p></div>",
        esc(next)
    );
    respond(status, page("Sign in", Nav::None, &body))
}

async fn login_form(Query(params): Query<HashMap<String, String>>) -> Response {
    login_page(StatusCode::OK, safe_next(params.get("next").map(String::as_str)), None)
}

/// The sign-in form's fields.
#[derive(Debug, serde::Deserialize)]
struct Credentials {
    token: String,
    #[serde(default)]
    next: Option<String>,
}

async fn login(
    State(app): State<AppState>,
    Extension(sessions): Extension<Arc<Sessions>>,
    Extension(throttle): Extension<Arc<SignInThrottle>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Response {
    let trust_proxy = app.config().pages.trust_proxy_headers;
    if !same_origin(&headers, trust_proxy) {
        return cross_site();
    }
    let address = client_address(&headers, peer.map(|Extension(ConnectInfo(p))| p), trust_proxy);
    if !throttle.allow(address) {
        return ApiError::new(Code::RateLimited, "too many wrong sign-in attempts from this address; wait a minute")
            .into_response();
    }
    let next = safe_next(form.next.as_deref());
    if !secrets_equal(form.token.trim(), app.admin_token()) {
        throttle.failed(address);
        tracing::debug!(%address, "page sign-in refused: wrong token");
        return login_page(StatusCode::UNAUTHORIZED, next, Some("That is not the admin token."));
    }
    let id = match sessions.create() {
        Ok(id) => id,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let mut response = Redirect::to(next).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session::set_cookie(&id, secure_cookie(&app, &headers))) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

async fn logout(
    State(app): State<AppState>,
    Extension(sessions): Extension<Arc<Sessions>>,
    headers: HeaderMap,
) -> Response {
    if !same_origin(&headers, app.config().pages.trust_proxy_headers) {
        return cross_site();
    }
    sessions.end(&headers);
    let mut response = Redirect::to("/ui/login").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session::clear_cookie(secure_cookie(&app, &headers))) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}
