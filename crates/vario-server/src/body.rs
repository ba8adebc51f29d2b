//! Reading request bodies within limits: the raw body, then its `Content-Encoding`.
//! Both steps stop at the limit, so neither a huge upload nor a gzip bomb can make the
//! server hold more than the limit in memory.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use flate2::read::MultiGzDecoder;
use http_body_util::BodyExt;

use crate::error::{ApiError, Code};

/// Reads the whole body, refusing (413) one over `limit` bytes.
///
/// An oversized body is still read and dropped up to [`DRAIN_FACTOR`] times the limit
/// before the 413, so an ordinary client that is still sending sees the answer instead of
/// a reset connection; beyond that the connection is dropped.
pub async fn read(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    // A client that trickles its body must not hold a connection and a buffer forever.
    tokio::time::timeout(BODY_TIMEOUT, read_within(headers, body, limit)).await.map_err(|_| {
        ApiError::new(Code::RequestTimeout, format!("the request body took longer than {BODY_TIMEOUT:?} to arrive"))
    })?
}

/// Longest time a request body may take to arrive.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

async fn read_within(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let drain_limit = (limit as u64).saturating_mul(DRAIN_FACTOR);
    if declared.is_some_and(|n| n > drain_limit) {
        return Err(too_large("the request body", limit));
    }
    let mut body = body;
    let mut kept = Vec::with_capacity(declared.map_or(0, |n| n.min(limit as u64) as usize));
    let mut seen: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| ApiError::new(Code::MalformedJson, format!("the request body could not be read: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        seen += data.len() as u64;
        if seen > drain_limit {
            break;
        }
        if seen <= limit as u64 {
            kept.extend_from_slice(&data);
        }
    }
    if seen > limit as u64 {
        return Err(too_large("the request body", limit));
    }
    Ok(Bytes::from(kept))
}

/// How far past the limit a refused body is still read (see [`read`]).
pub const DRAIN_FACTOR: u64 = 4;

/// Undoes `Content-Encoding` (none, `identity` or `gzip`), refusing (413) a body that
/// decompresses to more than `limit` bytes.
pub fn decode(headers: &HeaderMap, raw: Bytes, limit: usize) -> Result<Bytes, ApiError> {
    let encoding = match headers.get(header::CONTENT_ENCODING) {
        None => return Ok(raw),
        Some(v) => v.to_str().unwrap_or("?").trim().to_ascii_lowercase(),
    };
    match encoding.as_str() {
        "" | "identity" => Ok(raw),
        "gzip" | "x-gzip" => gunzip(&raw, limit),
        other => Err(ApiError::new(
            Code::UnsupportedEncoding,
            format!("Content-Encoding {other:?} is not supported; send gzip or no encoding"),
        )),
    }
}

fn gunzip(raw: &[u8], limit: usize) -> Result<Bytes, ApiError> {
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(limit));
    // One byte past the limit tells "over" from "exactly at".
    let mut decoder = MultiGzDecoder::new(raw).take(limit as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| ApiError::new(Code::BadGzip, format!("the gzip body could not be decompressed: {e}")))?;
    if out.len() > limit {
        return Err(too_large("the decompressed request body", limit));
    }
    Ok(Bytes::from(out))
}

fn too_large(what: &str, limit: usize) -> ApiError {
    ApiError::new(Code::PayloadTooLarge, format!("{what} is over the limit of {limit} bytes"))
}
