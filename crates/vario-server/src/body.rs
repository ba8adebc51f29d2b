//! Reading request bodies within limits: the raw body, then its `Content-Encoding`.
//! Both steps stop at the limit and take their bytes from the server's memory budget
//! ([`crate::budget`]) before holding them, so neither a huge upload, a gzip bomb nor
//! many clients at once can make the server hold more than the budget.

use std::io::Read;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use flate2::read::MultiGzDecoder;
use http_body_util::BodyExt;

use crate::budget::Charge;
use crate::error::{ApiError, Code};

/// Reads the whole body, refusing (413) one over `limit` bytes, (408) one that takes
/// longer than `timeout`, and (503) one the memory budget has no room for: that one is
/// read on and dropped, never held, so its client sees the 503.
///
/// An oversized body is still read and dropped up to [`DRAIN_FACTOR`] times the limit
/// before the 413, so an ordinary client that is still sending sees the answer instead of
/// a reset connection; beyond that the connection is dropped.
pub async fn read(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
    charge: &mut Charge,
) -> Result<Bytes, ApiError> {
    // A client that trickles its body must not hold a connection and a buffer forever.
    tokio::time::timeout(timeout, read_within(headers, body, limit, charge)).await.map_err(|_| {
        ApiError::new(Code::RequestTimeout, format!("the request body took longer than {timeout:?} to arrive"))
    })?
}

async fn read_within(headers: &HeaderMap, body: Body, limit: usize, charge: &mut Charge) -> Result<Bytes, ApiError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let drain_limit = (limit as u64).saturating_mul(DRAIN_FACTOR);
    if declared.is_some_and(|n| n > drain_limit) {
        return Err(too_large("the request body", limit));
    }
    // A declared length is charged before anything is read; a chunked body as it comes.
    let declared_within = declared.filter(|n| *n <= limit as u64).map(|n| n as usize);
    let mut body = body;
    if let Some(n) = declared_within
        && let Err(overloaded) = charge.add(n)
    {
        discard(&mut body, n as u64).await;
        return Err(overloaded);
    }
    let mut kept = Vec::with_capacity(declared_within.unwrap_or(0));
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
            if declared_within.is_none()
                && let Err(overloaded) = charge.add(data.len())
            {
                discard(&mut body, drain_limit - seen).await;
                return Err(overloaded);
            }
            kept.extend_from_slice(&data);
        }
    }
    if seen > limit as u64 {
        return Err(too_large("the request body", limit));
    }
    Ok(Bytes::from(kept))
}

/// Reads and drops up to `bytes` more of `body` (holding none of it), so a client still
/// sending a refused body reads the answer instead of a reset connection.
async fn discard(body: &mut Body, bytes: u64) {
    let mut seen = 0u64;
    while seen < bytes {
        match body.frame().await {
            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len() as u64),
            _ => return,
        }
    }
}

/// How far past the limit a refused body is still read (see [`read`]).
pub const DRAIN_FACTOR: u64 = 4;

/// Undoes `Content-Encoding` (none, `identity` or `gzip`), refusing (413) a body that
/// decompresses to more than `limit` bytes.
pub fn decode(headers: &HeaderMap, raw: Bytes, limit: usize, charge: &mut Charge) -> Result<Bytes, ApiError> {
    let encoding = match headers.get(header::CONTENT_ENCODING) {
        None => return Ok(raw),
        Some(v) => v.to_str().unwrap_or("?").trim().to_ascii_lowercase(),
    };
    match encoding.as_str() {
        "" | "identity" => Ok(raw),
        "gzip" | "x-gzip" => gunzip(&raw, limit, charge),
        other => Err(ApiError::new(
            Code::UnsupportedEncoding,
            format!("Content-Encoding {other:?} is not supported; send gzip or no encoding"),
        )),
    }
}

/// Decompressed bytes taken from the budget per step.
const GUNZIP_STEP: usize = 64 * 1024;

fn gunzip(raw: &[u8], limit: usize, charge: &mut Charge) -> Result<Bytes, ApiError> {
    let mut out = Vec::new();
    // One byte past the limit tells "over" from "exactly at".
    let mut decoder = MultiGzDecoder::new(raw).take(limit as u64 + 1);
    let mut step = vec![0u8; GUNZIP_STEP];
    loop {
        let n = decoder
            .read(&mut step)
            .map_err(|e| ApiError::new(Code::BadGzip, format!("the gzip body could not be decompressed: {e}")))?;
        if n == 0 {
            break;
        }
        if out.len() + n > limit {
            return Err(too_large("the decompressed request body", limit));
        }
        charge.add(n)?;
        out.extend_from_slice(&step[..n]);
    }
    Ok(Bytes::from(out))
}

fn too_large(what: &str, limit: usize) -> ApiError {
    ApiError::new(Code::PayloadTooLarge, format!("{what} is over the limit of {limit} bytes"))
}
