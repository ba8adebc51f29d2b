//! Secrets: the admin token (always required on `/api/...`) and the per-project write
//! keys (required on events when configured). Compared in constant time.

use std::io::Write;
use std::path::{Path, PathBuf};

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::EventsConfig;
use crate::error::{ApiError, Code, ServerError};

/// File of the generated admin token inside the data directory (mode 0600).
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// The header that may carry a write key instead of `Authorization: Bearer`.
pub const WRITE_KEY_HEADER: &str = "x-vario-write-key";

/// Where the admin token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `--admin-token`, `VARIO_ADMIN_TOKEN` or the config file.
    Configured,
    /// Read from the data directory.
    Saved(PathBuf),
    /// Made now and saved in the data directory: print it once.
    Generated(PathBuf),
    /// Made now but the data directory is not writable: valid until the server stops.
    Ephemeral,
}

/// The admin token: the configured one, else the one saved in `data_dir`, else a new
/// random one saved there with owner-only permissions.
pub fn resolve_admin_token(configured: Option<&str>, data_dir: &Path) -> Result<(String, TokenSource), ServerError> {
    if let Some(token) = configured {
        if token.trim().len() < 16 {
            return Err(ServerError::Config("the admin token must be at least 16 characters".into()));
        }
        return Ok((token.trim().to_owned(), TokenSource::Configured));
    }
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= 16 => return Ok((text.trim().to_owned(), TokenSource::Saved(path))),
        Ok(_) => {
            return Err(ServerError::Config(format!(
                "{} holds no usable token; remove it to make a new one",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ServerError::Io { message: format!("cannot read {}", path.display()), source: e }),
    }
    let token = random_token()?;
    match save_token(&path, &token) {
        Ok(()) => Ok((token, TokenSource::Generated(path))),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot save the admin token; it lasts until the server stops");
            Ok((token, TokenSource::Ephemeral))
        }
    }
}

/// 32 random bytes, hex: 256 bits from the operating system's generator.
fn random_token() -> Result<String, ServerError> {
    use std::fmt::Write as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ServerError::Config(format!("no random numbers for a token: {e}")))?;
    let mut hex = String::from("vario_admin_");
    for b in bytes {
        let _ = write!(hex, "{b:02x}");
    }
    Ok(hex)
}

fn save_token(path: &Path, token: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // create_new: never overwrite a token another process saved meanwhile.
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(token.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Constant-time equality. Hashing first makes the time independent of the lengths too.
pub fn secrets_equal(given: &str, expected: &str) -> bool {
    Sha256::digest(given.as_bytes()).ct_eq(&Sha256::digest(expected.as_bytes())).into()
}

/// The bearer token of `Authorization`, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Requires the admin token as `Authorization: Bearer TOKEN`.
pub fn require_admin(headers: &HeaderMap, admin_token: &str) -> Result<(), ApiError> {
    match bearer(headers) {
        Some(given) if secrets_equal(given, admin_token) => Ok(()),
        Some(_) => Err(ApiError::new(Code::Unauthorized, "wrong admin token")),
        None => {
            Err(ApiError::new(Code::Unauthorized, "this endpoint needs the admin token: Authorization: Bearer TOKEN"))
        }
    }
}

/// Requires the write key of `project_id` when one is configured (or when every project
/// must have one).
pub fn require_write_key(headers: &HeaderMap, events: &EventsConfig, project_id: &str) -> Result<(), ApiError> {
    let Some(expected) = events.write_keys.get(project_id) else {
        if events.require_write_key {
            return Err(ApiError::at(
                Code::Unauthorized,
                "project_id",
                format!("project {project_id:?} has no write key configured, and this server requires one"),
            ));
        }
        return Ok(());
    };
    let given = headers.get(WRITE_KEY_HEADER).and_then(|v| v.to_str().ok()).map(str::trim).or_else(|| bearer(headers));
    match given {
        Some(given) if secrets_equal(given, expected) => Ok(()),
        Some(_) => Err(ApiError::new(Code::Unauthorized, format!("wrong write key for project {project_id:?}"))),
        None => Err(ApiError::new(
            Code::Unauthorized,
            format!("project {project_id:?} needs its write key: Authorization: Bearer KEY or X-Vario-Write-Key: KEY"),
        )),
    }
}
