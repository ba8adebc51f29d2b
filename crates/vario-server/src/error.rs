//! Errors: [`ServerError`] for starting and running the server, [`ApiError`] for the one
//! JSON error shape every endpoint answers with:
//! `{"error": {"code": "...", "message": "...", "path": "..."}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use vario_store::StoreError;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory or a file in it.
    #[error("{0}")]
    Storage(#[from] StoreError),
    /// A file of the data directory, with its path in the message.
    #[error("{message}: {source}")]
    Io {
        /// What was being done.
        message: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A setting that cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Every error code of the API; also the `reason` label of the rejection metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// The body is not JSON.
    MalformedJson,
    /// A field has the wrong type, is missing, or has a value that is not allowed.
    InvalidField,
    /// A string is longer than its limit.
    TooLong,
    /// Too many visitors, events or attributes.
    TooMany,
    /// The body (or what it decompresses to) is over the limit.
    PayloadTooLarge,
    /// A `Content-Encoding` other than gzip or identity.
    UnsupportedEncoding,
    /// The body did not arrive in time.
    RequestTimeout,
    /// The gzip body is damaged.
    BadGzip,
    /// Missing or wrong write key or admin token.
    Unauthorized,
    /// A datafile that `vario datafile validate` would refuse.
    InvalidDatafile,
    /// An SDK key that cannot name an environment.
    InvalidSdkKey,
    /// SQL that does not parse or plan, or is not a single read-only query.
    InvalidQuery,
    /// No such resource.
    NotFound,
    /// The path exists with other methods.
    MethodNotAllowed,
    /// The storage cannot be written (disk full, read-only directory, I/O error).
    StorageUnavailable,
    /// Too many batches waiting for the disk.
    Overloaded,
    /// The server is stopping.
    ShuttingDown,
    /// A bug.
    Internal,
    /// The change is based on an old revision, or creates what exists.
    Conflict,
    /// A browser request from an origin, or with a method or header, that `[cors]` does
    /// not allow on that route.
    CorsRefused,
    /// A request HTTP could not make sense of (a bad header value, say).
    BadRequest,
    /// A `Content-Type` the endpoint does not take.
    UnsupportedMediaType,
    /// The request target is longer than its limit.
    UriTooLong,
    /// The request head is larger than its limit.
    HeadersTooLarge,
    /// A state-changing form posted from another site.
    Forbidden,
    /// Too many attempts from one client; wait for `Retry-After`.
    RateLimited,
    /// A query went past its memory, time or row limit.
    QueryLimit,
}

impl Code {
    /// Every code, in a fixed order (metrics index by it).
    pub const ALL: [Self; 27] = [
        Self::MalformedJson,
        Self::InvalidField,
        Self::TooLong,
        Self::TooMany,
        Self::PayloadTooLarge,
        Self::UnsupportedEncoding,
        Self::RequestTimeout,
        Self::BadGzip,
        Self::Unauthorized,
        Self::InvalidDatafile,
        Self::InvalidSdkKey,
        Self::InvalidQuery,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::StorageUnavailable,
        Self::Overloaded,
        Self::ShuttingDown,
        Self::Internal,
        Self::Conflict,
        Self::CorsRefused,
        Self::BadRequest,
        Self::UnsupportedMediaType,
        Self::UriTooLong,
        Self::HeadersTooLarge,
        Self::Forbidden,
        Self::RateLimited,
        Self::QueryLimit,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed_json",
            Self::InvalidField => "invalid_field",
            Self::TooLong => "too_long",
            Self::TooMany => "too_many",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedEncoding => "unsupported_encoding",
            Self::RequestTimeout => "request_timeout",
            Self::BadGzip => "bad_gzip",
            Self::Unauthorized => "unauthorized",
            Self::InvalidDatafile => "invalid_datafile",
            Self::InvalidSdkKey => "invalid_sdk_key",
            Self::InvalidQuery => "invalid_query",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::StorageUnavailable => "storage_unavailable",
            Self::Overloaded => "overloaded",
            Self::ShuttingDown => "shutting_down",
            Self::Internal => "internal",
            Self::Conflict => "conflict",
            Self::CorsRefused => "cors_refused",
            Self::BadRequest => "bad_request",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UriTooLong => "uri_too_long",
            Self::HeadersTooLarge => "headers_too_large",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::QueryLimit => "query_limit",
        }
    }

    /// The HTTP status of the code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::MalformedJson
            | Self::InvalidField
            | Self::TooLong
            | Self::TooMany
            | Self::BadGzip
            | Self::InvalidDatafile
            | Self::InvalidSdkKey
            | Self::InvalidQuery
            | Self::BadRequest
            | Self::QueryLimit => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedEncoding => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::StorageUnavailable | Self::Overloaded | Self::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Conflict => StatusCode::CONFLICT,
            Self::CorsRefused => StatusCode::FORBIDDEN,
        }
    }
}

/// An error answer: status from the code, body in the one JSON shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// What went wrong, for programs.
    pub code: Code,
    /// What went wrong, for people.
    pub message: String,
    /// JSON path of the offending field, e.g. `visitors[0].snapshots[0].events[0].timestamp`.
    pub path: Option<String>,
}

impl ApiError {
    /// An error without a field path.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), path: None }
    }

    /// An error about the field at `path`.
    pub fn at(code: Code, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), path: Some(path.into()) }
    }

    /// The error for a status some layer below the handlers answered with (an
    /// extractor's rejection, a body limit), keeping its text as the message.
    pub fn for_status(status: StatusCode, message: impl Into<String>) -> Self {
        let code = match status {
            StatusCode::NOT_FOUND => Code::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Code::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Code::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Code::UnsupportedMediaType,
            StatusCode::URI_TOO_LONG => Code::UriTooLong,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => Code::HeadersTooLarge,
            StatusCode::REQUEST_TIMEOUT => Code::RequestTimeout,
            StatusCode::UNAUTHORIZED => Code::Unauthorized,
            StatusCode::FORBIDDEN => Code::Forbidden,
            StatusCode::CONFLICT => Code::Conflict,
            StatusCode::TOO_MANY_REQUESTS => Code::RateLimited,
            StatusCode::SERVICE_UNAVAILABLE => Code::Overloaded,
            s if s.is_server_error() => Code::Internal,
            StatusCode::UNPROCESSABLE_ENTITY => Code::InvalidField,
            _ => Code::BadRequest,
        };
        Self::new(code, message)
    }

    /// A bug: logged in full here, a generic message for the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(Code::Internal, "internal server error; the details are in the server log")
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable { .. } => {
                tracing::warn!(error = %error, "storage unavailable");
                Self::new(Code::StorageUnavailable, error.to_string())
            }
            StoreError::Overloaded { .. } => Self::new(Code::Overloaded, error.to_string()),
            StoreError::Closed => Self::new(Code::ShuttingDown, "the server is shutting down; retry shortly"),
            StoreError::InvalidEvent { path, message } => Self::at(Code::InvalidField, path, message),
            StoreError::InvalidKey(message) => Self::new(Code::InvalidSdkKey, message),
            StoreError::Internal(_) => Self::internal(error),
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            Body { error: Inner { code: self.code.as_str(), message: &self.message, path: self.path.as_deref() } };
        let json = serde_json::to_vec(&body).unwrap_or_else(|_| br#"{"error":{"code":"internal"}}"#.to_vec());
        let mut response = (self.code.status(), [(header::CONTENT_TYPE, "application/json")], json).into_response();
        let headers = response.headers_mut();
        match self.code {
            // Clients that honour it (Go, JS SDKs back off anyway) come back shortly.
            Code::Overloaded | Code::StorageUnavailable | Code::ShuttingDown => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Code::RateLimited => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            }
            Code::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        // The code rides along for the metrics layer (rejections by reason).
        response.extensions_mut().insert(self.code);
        response
    }
}
