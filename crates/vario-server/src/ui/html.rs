//! HTML building blocks of the pages: escaping, the page frame, number formats and
//! the page answers (with the headers every page gets).

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `text` with the five HTML-special characters escaped (safe in text and in quoted
/// attributes).
pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` percent-encoded for a URL query value or path segment.
pub(super) fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A query string (`?a=1&b=2`, escaped for an attribute) from the pairs with a value.
pub(super) fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| format!("{k}={}", url_encode(v))))
        .collect();
    if parts.is_empty() { String::new() } else { esc(&format!("?{}", parts.join("&"))) }
}

/// Which part of the site a page belongs to, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Nav {
    /// Overview, projects and experiments.
    Home,
    /// The explain page.
    Explain,
    /// Sign-in (no navigation).
    None,
}

/// A whole page: `title`, the navigation and `body`.
pub(super) fn page(title: &str, nav: Nav, body: &str) -> String {
    let mut links = String::new();
    if nav != Nav::None {
        let current = |n: Nav| if n == nav { " aria-current=\"page\"" } else { "" };
        let _ = write!(
            links,
            "<nav aria-label=\"Main\"><a href=\"/ui\"{}>Overview</a><a href=\"/ui/explain\"{}>Explain</a>\
             <form method=\"post\" action=\"/ui/logout\"><button type=\"submit\" class=\"link\">Sign out</button></form></nav>",
            current(Nav::Home),
            current(Nav::Explain)
        );
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Vario</title><link rel=\"stylesheet\" href=\"/ui/assets/ui.css\"></head>\
         <body><a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header class=\"top\"><a class=\"brand\" href=\"/ui\">Vario</a>{links}</header>\
         <main id=\"main\">{body}</main></body></html>",
        esc(title)
    )
}

/// An HTML answer with the headers of every page: never cached (they show live
/// numbers and sit behind a sign-in), never framed, only this server's assets.
pub(super) fn respond(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    secure(headers);
    response
}

/// Cache and framing headers for pages and their data.
pub(super) fn secure(headers: &mut axum::http::HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
}

/// An error page with a message for people.
pub(super) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"notice error\" role=\"alert\">{}</p><p><a href=\"/ui\">Back to the overview</a></p>",
        esc(title),
        esc(message)
    );
    respond(status, page(title, Nav::Home, &body))
}

/// An integer with thousands separators: `10,043`.
pub(super) fn int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A number for people: integers with separators, others with four significant digits.
pub(super) fn num(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        let sign = if x < 0.0 { "-" } else { "" };
        // The value is integral and below 1e15, so the conversion is exact.
        return format!("{sign}{}", int(x.abs() as u64));
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (3 - magnitude).clamp(0, 8) as usize;
    format!("{x:.decimals$}")
}

/// A share as a percentage with two decimals: `11.60%`.
pub(super) fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// A signed percentage: `+14.98%`.
pub(super) fn signed_pct(x: f64) -> String {
    format!("{:+.2}%", x * 100.0)
}

/// A signed number: `+0.0123`.
pub(super) fn signed_num(x: f64) -> String {
    let text = num(x);
    if x > 0.0 { format!("+{text}") } else { text }
}

/// A UTC date of Unix milliseconds: `2026-11-01` (`?` outside chrono's ±262,000 years).
pub(super) fn date(ms: i64) -> String {
    utc(ms, "%Y-%m-%d")
}

/// A UTC date and hour of Unix milliseconds: `2026-11-01 13:00`.
pub(super) fn date_hour(ms: i64) -> String {
    utc(ms, "%Y-%m-%d %H:00")
}

fn utc(ms: i64, format: &str) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| "?".to_owned(), |t| t.format(format).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_formats() {
        assert_eq!(esc("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(url_encode("browser=safari & co"), "browser%3Dsafari%20%26%20co");
        assert_eq!(int(10_043), "10,043");
        assert_eq!(int(999), "999");
        assert_eq!(num(1165.0), "1,165");
        assert_eq!(num(0.116_04), "0.1160");
        assert_eq!(num(4201.537), "4202");
        assert_eq!(pct(0.116), "11.60%");
        assert_eq!(signed_pct(0.1498), "+14.98%");
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_793_663_999_999), "2026-11-02");
        assert_eq!(date_hour(3_600_000 * 13), "1970-01-01 13:00");
    }
}
