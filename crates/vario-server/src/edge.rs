//! What every request and answer passes through: the limits of the request head (414,
//! 431), the one JSON error shape for errors that layers below the handlers answer
//! (extractor rejections, body limits), and `Referrer-Policy`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use crate::error::{ApiError, Code};
use crate::state::AppState;

/// Longest text of a lower layer's error kept as the message.
const MESSAGE_BYTES: usize = 1024;

/// The middleware.
pub async fn edge(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let limits = &app.config().limits;
    let target = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    let mut response = if target > limits.max_uri_bytes {
        ApiError::new(
            Code::UriTooLong,
            format!("the request target is over the limit of {} bytes", limits.max_uri_bytes),
        )
        .into_response()
    } else if head_bytes(&request) > limits.max_header_bytes {
        ApiError::new(
            Code::HeadersTooLarge,
            format!("the request headers are over the limit of {} bytes", limits.max_header_bytes),
        )
        .into_response()
    } else {
        json_errors(next.run(request).await).await
    };
    // Links from the pages never tell other sites which page (or experiment) they came
    // from. (Not `no-referrer`: under it browsers send `Origin: null` on the server's own
    // forms.)
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

fn head_bytes(request: &Request) -> usize {
    request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum()
}

/// An error answer that is neither the JSON shape nor a page becomes the JSON shape.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || response.extensions().get::<Code>().is_some() {
        return response;
    }
    let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("text/html") || content_type.starts_with("application/json") {
        return response;
    }
    let (_, body) = response.into_parts();
    let text = match Body::new(http_body_util::Limited::new(body, MESSAGE_BYTES)).collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_lowercase() } else { text };
    ApiError::for_status(status, message).into_response()
}
