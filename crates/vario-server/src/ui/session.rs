//! Sign-in sessions of the pages: a random id in an `HttpOnly; SameSite=Strict` cookie,
//! kept in memory only (a restart signs everyone out, which is the safe default).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

/// Name of the session cookie.
pub const COOKIE: &str = "vario_session";

/// How long a session lasts after sign-in.
const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// At most this many live sessions; signing in beyond it drops the oldest, so repeated
/// sign-ins cannot grow memory without bound.
const MAX_SESSIONS: usize = 1_000;

/// The live sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    // Keyed by the SHA-256 of the id: a lookup's timing then says nothing about which
    // ids exist.
    live: Mutex<HashMap<[u8; 32], Instant>>,
}

/// Why no session could be made.
#[derive(Debug, thiserror::Error)]
#[error("no random numbers for a session id: {0}")]
pub struct NoRandomness(String);

impl Sessions {
    /// Starts a session; its id, for the cookie.
    pub fn create(&self) -> Result<String, NoRandomness> {
        use std::fmt::Write as _;
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| NoRandomness(e.to_string()))?;
        let id = bytes.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|_, expires| *expires > now);
        if live.len() >= MAX_SESSIONS
            && let Some(oldest) = live.iter().min_by_key(|(_, expires)| **expires).map(|(k, _)| *k)
        {
            live.remove(&oldest);
        }
        live.insert(digest(&id), now + LIFETIME);
        Ok(id)
    }

    /// Whether the request carries the cookie of a live session.
    pub fn valid(&self, headers: &HeaderMap) -> bool {
        let Some(id) = cookie(headers) else { return false };
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.get(&digest(id)).is_some_and(|expires| *expires > Instant::now())
    }

    /// Ends the request's session, if any.
    pub fn end(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers) {
            self.live.lock().unwrap_or_else(PoisonError::into_inner).remove(&digest(id));
        }
    }
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// The session id of the `Cookie` headers, if any.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
}

/// `Set-Cookie` value that stores `id`; `Secure` when the client speaks HTTPS (the
/// server itself speaks plain HTTP: TLS is a proxy's, see `[pages]` in the config).
pub fn set_cookie(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}", LIFETIME.as_secs())
}

/// `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}")
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn a_created_session_is_valid_until_it_ends() {
        let sessions = Sessions::default();
        let id = sessions.create().unwrap();
        let headers = with_cookie(&format!("other=1; {COOKIE}={id}"));
        assert!(sessions.valid(&headers));
        assert!(!sessions.valid(&with_cookie(&format!("{COOKIE}={id}x"))));
        assert!(!sessions.valid(&HeaderMap::new()));
        sessions.end(&headers);
        assert!(!sessions.valid(&headers));
    }

    #[test]
    fn sessions_are_bounded() {
        let sessions = Sessions::default();
        for _ in 0..MAX_SESSIONS + 5 {
            sessions.create().unwrap();
        }
        assert!(sessions.live.lock().unwrap().len() <= MAX_SESSIONS);
    }
}
