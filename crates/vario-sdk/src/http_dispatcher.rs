//! An [`EventDispatcher`] that POSTs each batch over HTTP(S) (events.md §1, §9).
//!
//! One `dispatch` call is one attempt: retrying, backing off and giving up belong to the
//! event processor, which sees the [`DispatchError`] (and its `retry_after`) and calls
//! `dispatch` again. Keeping the dispatcher single-shot means a slow or failing endpoint
//! never multiplies the time a caller can be held up by more than one request timeout.

use std::io::Write;
use std::time::{Duration, SystemTime};

use flate2::Compression;
use flate2::write::GzEncoder;
use ureq::http::{HeaderName, HeaderValue, Uri};
use vario_events::{DispatchError, EventDispatcher, LogEvent};

/// How long one request may take, connecting included, unless configured (the reference
/// SDK's 10 s).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of an error response's body that is read (and dropped) so the connection can
/// be reused; a larger body just costs the connection.
const DRAIN_LIMIT: u64 = 64 * 1024;

/// Why an HTTP component could not be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpConfigError {
    /// The URL does not parse or has no scheme/host.
    #[error("invalid url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header name or value is not valid HTTP.
    #[error("invalid http header {name:?}: {reason}")]
    InvalidHeader {
        /// The header name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Checks that `url` is an absolute http(s) URL.
pub(crate) fn check_url(url: &str) -> Result<(), HttpConfigError> {
    let invalid = |reason: String| HttpConfigError::InvalidUrl { url: url.to_owned(), reason };
    let uri: Uri = url.parse().map_err(|e: ureq::http::uri::InvalidUri| invalid(e.to_string()))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => return Err(invalid(format!("scheme {other:?} is not http or https"))),
        None => return Err(invalid("no scheme".to_owned())),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("no host".to_owned()));
    }
    Ok(())
}

/// A validated request header.
pub(crate) fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), HttpConfigError> {
    let invalid = |reason: String| HttpConfigError::InvalidHeader { name: name.to_owned(), reason };
    let parsed_name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(e.to_string()))?;
    let parsed_value = HeaderValue::from_str(value).map_err(|e| invalid(e.to_string()))?;
    Ok((parsed_name, parsed_value))
}

/// A blocking agent whose one timeout covers the whole exchange, and which hands back
/// 4xx/5xx responses instead of turning them into errors (their headers matter).
///
/// `follow_redirects: false` returns 3xx answers as they are: following a 301/302 turns a
/// POST into a GET without the body, whose 200 would pass for a delivered batch.
pub(crate) fn agent(timeout: Duration, follow_redirects: bool) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("vario-rust-sdk/", env!("CARGO_PKG_VERSION")));
    if !follow_redirects {
        config = config.max_redirects(0);
    }
    config.build().into()
}

/// `Retry-After` (RFC 9110 §10.2.3): delta-seconds or an HTTP-date; a date in the past
/// means "now". `None` when absent or unreadable.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long numbers saturate rather than being ignored: the server clearly
        // asked for a long wait.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Reads and drops what is left of a response body, so the pooled connection can serve
/// the next request; errors only cost the connection.
pub(crate) fn drain(body: &mut ureq::Body) {
    let _ = std::io::copy(&mut body.with_config().limit(DRAIN_LIMIT).reader(), &mut std::io::sink());
}

/// Sends event batches with HTTP POST: one attempt per [`EventDispatcher::dispatch`] call.
///
/// - 2xx → `Ok(())`;
/// - any other status → [`DispatchError::Status`], with `retry_after` read from a
///   `Retry-After` header (delta-seconds or HTTP-date);
/// - no answer (connection refused or reset, DNS, TLS, timeout) → [`DispatchError::Transport`].
///
/// Connections are kept alive and reused between calls. Safe to share between threads.
///
/// ```no_run
/// use std::time::Duration;
/// use vario_sdk::HttpEventDispatcher;
///
/// let dispatcher = HttpEventDispatcher::builder()
///     .endpoint("https://events.example.com/v1/events")
///     .timeout(Duration::from_secs(5))
///     .gzip(true)
///     .header("X-Api-Key", "secret")
///     .build()?;
/// # Ok::<(), vario_sdk::HttpConfigError>(())
/// ```
pub struct HttpEventDispatcher {
    agent: ureq::Agent,
    endpoint: Option<String>,
    gzip: bool,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
}

impl HttpEventDispatcher {
    /// A dispatcher with the defaults: each batch goes to its own `url` (Optimizely's
    /// logx endpoint for the datafile's region), 10 s timeout, no gzip, no extra headers.
    pub fn new() -> Self {
        Self {
            agent: agent(DEFAULT_REQUEST_TIMEOUT, false),
            endpoint: None,
            gzip: false,
            headers: Vec::new(),
            timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// Starts configuring a dispatcher.
    pub fn builder() -> HttpEventDispatcherBuilder {
        HttpEventDispatcherBuilder::default()
    }

    /// The endpoint override, if one is set.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether bodies are sent gzip-compressed.
    pub fn gzip(&self) -> bool {
        self.gzip
    }

    fn send(&self, url: &str, event: &LogEvent) -> Result<(), DispatchError> {
        let transport = |reason: String| DispatchError::Transport { url: url.to_owned(), reason };
        let json = event.to_json_bytes();
        let body = if self.gzip { gzip(&json).map_err(|e| transport(format!("gzip: {e}")))? } else { json };

        let mut request = self.agent.post(url);
        for (name, value) in event.headers {
            request = request.header(*name, *value);
        }
        if self.gzip {
            request = request.header("Content-Encoding", "gzip");
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }

        let mut response = request.send(&body[..]).map_err(|e| transport(e.to_string()))?;
        let status = response.status();
        let retry_after = if status.is_success() {
            None
        } else {
            response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()))
        };
        drain(response.body_mut());
        if status.is_success() {
            Ok(())
        } else {
            Err(DispatchError::Status { url: url.to_owned(), status: status.as_u16(), retry_after })
        }
    }
}

impl Default for HttpEventDispatcher {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for HttpEventDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values are left out: they are often credentials.
        f.debug_struct("HttpEventDispatcher")
            .field("endpoint", &self.endpoint)
            .field("gzip", &self.gzip)
            .field("timeout", &self.timeout)
            .field("headers", &self.headers.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

impl EventDispatcher for HttpEventDispatcher {
    fn dispatch(&self, event: &LogEvent) -> Result<(), DispatchError> {
        let url = self.endpoint.as_deref().unwrap_or(&event.url);
        self.send(url, event)
    }
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    // Event JSON is repetitive; the fast level already shrinks it several times over and
    // costs the background thread little.
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 4 + 64), Compression::fast());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// Configures an [`HttpEventDispatcher`]; see [`HttpEventDispatcher::builder`].
#[derive(Debug, Clone, Default)]
pub struct HttpEventDispatcherBuilder {
    endpoint: Option<String>,
    timeout: Option<Duration>,
    gzip: bool,
    headers: Vec<(String, String)>,
}

impl HttpEventDispatcherBuilder {
    /// Sends every batch to `url` instead of the batch's own `url` (for example a Vario
    /// server or a proxy).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Limits each request, connecting included (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Compresses bodies with gzip and says so with `Content-Encoding: gzip` (default
    /// off: Optimizely's endpoint is not documented to accept it).
    pub fn gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// Adds a header to every request (after `Content-Type`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The dispatcher; fails on an endpoint that is not an absolute http(s) URL or a
    /// header that is not valid HTTP.
    pub fn build(self) -> Result<HttpEventDispatcher, HttpConfigError> {
        if let Some(url) = &self.endpoint {
            check_url(url)?;
        }
        let headers = self.headers.iter().map(|(name, value)| header(name, value)).collect::<Result<_, _>>()?;
        let timeout = self.timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        Ok(HttpEventDispatcher {
            agent: agent(timeout, false),
            endpoint: self.endpoint,
            gzip: self.gzip,
            headers,
            timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("99999999999999999999999", now), Some(Duration::from_secs(u64::MAX)));
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn builder_validates() {
        assert!(HttpEventDispatcher::builder().endpoint("http://127.0.0.1:1/v1/events").build().is_ok());
        let err = HttpEventDispatcher::builder().endpoint("logx.optimizely.com/v1/events").build().unwrap_err();
        assert!(matches!(err, HttpConfigError::InvalidUrl { .. }), "{err}");
        let err = HttpEventDispatcher::builder().endpoint("ftp://example.com/x").build().unwrap_err();
        assert!(err.to_string().contains("ftp"), "{err}");
        let err = HttpEventDispatcher::builder().header("bad header", "x").build().unwrap_err();
        assert!(matches!(err, HttpConfigError::InvalidHeader { ref name, .. } if name == "bad header"), "{err}");
        let err = HttpEventDispatcher::builder().header("X-Ok", "line\nbreak").build().unwrap_err();
        assert!(matches!(err, HttpConfigError::InvalidHeader { .. }), "{err}");
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let body = br#"{"visitors": []}"#.repeat(50);
        let packed = gzip(&body).unwrap();
        assert!(packed.len() < body.len());
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut unpacked).unwrap();
        assert_eq!(unpacked, body);
    }
}
