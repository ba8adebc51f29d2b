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

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
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

/// The stylesheet of every page.
const CSS: &str = include_str!("assets/ui.css");

/// The routes of the pages, sharing one set of sessions.
pub fn router() -> Router<AppState> {
    let sessions = Arc::new(Sessions::default());
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

/// Where to go after signing in: only a path of the pages, never another site.
fn safe_next(next: Option<&str>) -> &str {
    next.filter(|n| n.starts_with("/ui") && !n.starts_with("//") && !n.contains('\\')).unwrap_or("/ui")
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
    Form(form): Form<Credentials>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    if !secrets_equal(form.token.trim(), app.admin_token()) {
        tracing::info!("page sign-in refused: wrong token");
        return login_page(StatusCode::UNAUTHORIZED, next, Some("That is not the admin token."));
    }
    let id = match sessions.create() {
        Ok(id) => id,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let mut response = Redirect::to(next).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session::set_cookie(&id)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

async fn logout(Extension(sessions): Extension<Arc<Sessions>>, headers: HeaderMap) -> Response {
    sessions.end(&headers);
    let mut response = Redirect::to("/ui/login").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session::clear_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}
