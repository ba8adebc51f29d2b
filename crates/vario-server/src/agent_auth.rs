//! Optimizely Agent's optional JWT auth. With HMAC secrets configured
//! (`[agent.auth] hmac_secrets`), every Agent route that names an environment needs a
//! token signed with one of them (HS256, HS384 or HS512) that has not expired (`exp`)
//! and lists the request's SDK key in its `sdk_keys` claim; the admin routes need the
//! claim `admin: true`. `POST /oauth/token` issues such tokens to the configured clients
//! (OAuth client credentials, the secrets kept as bcrypt hashes), signed with the first
//! secret. Without secrets nothing is checked, as in Agent.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::AgentAuthConfig;
use crate::error::ServerError;

/// Agent's issuer claim.
const ISSUER: &str = "Optimizely";

/// The checked auth settings.
#[derive(Default)]
pub struct AgentAuth {
    secrets: Vec<Vec<u8>>,
    clients: Vec<Client>,
    ttl: Duration,
    // The admin listener's: its tokens carry `admin: true` instead of SDK keys.
    admin: bool,
}

struct Client {
    id: String,
    secret_hash: String,
    sdk_keys: Vec<String>,
}

/// Why a request is not let through: always 401, as Agent.
#[derive(Debug, thiserror::Error)]
pub enum Unauthorized {
    /// No token, or one that does not verify.
    #[error("unauthorized: {0}")]
    Token(String),
    /// `exp` has passed (or is missing).
    #[error("token expired")]
    Expired,
    /// The token has no `sdk_keys` list.
    #[error("invalid claims: sdk_keys not found, or have the wrong type")]
    NoSdkKeys,
    /// The token's `sdk_keys` do not list the request's SDK key.
    #[error("SDK key given in X-Optimizely-Sdk-Key header was not found in the SDK keys in this token's claims")]
    OtherSdkKey,
    /// An admin route with a token that is not an admin's.
    #[error("admin flag not set")]
    NotAdmin,
}

/// A refused `POST /oauth/token`, as OAuth words it.
#[derive(Debug, Serialize)]
pub struct TokenRefusal {
    /// The HTTP status.
    #[serde(skip)]
    pub status: u16,
    /// OAuth's error code.
    pub error: &'static str,
    /// What is wrong.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub error_description: String,
}

fn refusal(status: u16, error: &'static str, description: &str) -> TokenRefusal {
    TokenRefusal { status, error, error_description: description.to_owned() }
}

/// A token issued by `POST /oauth/token`.
#[derive(Debug, Serialize)]
pub struct Issued {
    /// The JWT.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: u64,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sdk_keys: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    admin: Option<serde_json::Value>,
}

fn decode_base64(what: &str, value: &str) -> Result<Vec<u8>, ServerError> {
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| ServerError::Config(format!("{what} is not standard base64: {e}")))
}

fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl AgentAuth {
    /// Checks the settings of `section` (`agent.auth` or, with `admin`, the admin
    /// listener's `agent.admin.auth`): secrets and hashes are base64, clients need a
    /// secret to sign with, and API clients name SDK keys (admin tokens open no
    /// environment).
    pub fn from_config(config: &AgentAuthConfig, section: &str, admin: bool) -> Result<Self, ServerError> {
        let secrets = config
            .hmac_secrets
            .iter()
            .enumerate()
            .map(|(i, s)| decode_base64(&format!("{section}.hmac_secrets[{i}]"), s))
            .collect::<Result<Vec<_>, _>>()?;
        if secrets.iter().any(Vec::is_empty) {
            return Err(ServerError::Config(format!("{section}.hmac_secrets: a secret is empty")));
        }
        let mut clients = Vec::with_capacity(config.clients.len());
        for (i, c) in config.clients.iter().enumerate() {
            let hash = decode_base64(&format!("{section}.clients[{i}].secret_hash"), &c.secret_hash)?;
            let secret_hash = String::from_utf8(hash).map_err(|_| {
                ServerError::Config(format!("{section}.clients[{i}].secret_hash is not the base64 of a bcrypt hash"))
            })?;
            if c.id.is_empty() || (!admin && c.sdk_keys.is_empty()) {
                let needs = if admin { "an id" } else { "an id and sdk_keys" };
                return Err(ServerError::Config(format!("{section}.clients[{i}] needs {needs}")));
            }
            clients.push(Client { id: c.id.clone(), secret_hash, sdk_keys: c.sdk_keys.clone() });
        }
        if !clients.is_empty() && secrets.is_empty() {
            return Err(ServerError::Config(format!("{section}.clients need {section}.hmac_secrets to sign tokens")));
        }
        Ok(Self { secrets, clients, ttl: Duration::from_secs(config.ttl_seconds), admin })
    }

    /// Whether tokens are checked at all.
    pub fn enabled(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// Lets a request for environment `sdk_key` through, or says why not.
    pub fn authorize_api(&self, headers: &HeaderMap, sdk_key: &str) -> Result<(), Unauthorized> {
        if !self.enabled() {
            return Ok(());
        }
        let claims = self.verify(headers)?;
        let keys = claims.sdk_keys.as_ref().and_then(serde_json::Value::as_array).ok_or(Unauthorized::NoSdkKeys)?;
        if keys.iter().any(|k| k.as_str() == Some(sdk_key)) { Ok(()) } else { Err(Unauthorized::OtherSdkKey) }
    }

    /// Lets a request to an admin route through, or says why not.
    pub fn authorize_admin(&self, headers: &HeaderMap) -> Result<(), Unauthorized> {
        if !self.enabled() {
            return Ok(());
        }
        let claims = self.verify(headers)?;
        if claims.admin == Some(serde_json::Value::Bool(true)) { Ok(()) } else { Err(Unauthorized::NotAdmin) }
    }

    fn verify(&self, headers: &HeaderMap) -> Result<Claims, Unauthorized> {
        let token = token(headers).ok_or_else(|| Unauthorized::Token("empty token".into()))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
        // `exp` is checked below, as Agent does (a token without one has expired).
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let mut last = String::from("invalid token");
        for secret in &self.secrets {
            match jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation) {
                Ok(data) => {
                    let exp = data.claims.exp.unwrap_or(0.0);
                    return if exp.floor() - now_seconds().floor() <= 0.0 {
                        Err(Unauthorized::Expired)
                    } else {
                        Ok(data.claims)
                    };
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(Unauthorized::Token(last))
    }

    /// `POST /oauth/token` with the form `grant_type=client_credentials&client_id=..&client_secret=..`
    /// (`content_type` the request's): an API token for the client's SDK keys, or, from
    /// the admin listener's auth, an admin token.
    pub fn issue(&self, content_type: Option<&str>, form: &[u8]) -> Result<Issued, TokenRefusal> {
        let form_type = content_type
            .and_then(|t| t.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if !form_type {
            let message = "Content-Type header value must be application/x-www-form-urlencoded";
            return Err(refusal(415, "invalid_request", message));
        }
        let field = |name: &str| {
            form_urlencoded::parse(form).find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap_or_default()
        };
        let (grant_type, client_id, client_secret) = (field("grant_type"), field("client_id"), field("client_secret"));
        if grant_type.is_empty() {
            return Err(refusal(400, "invalid_request", "grant_type missing from request body"));
        }
        if grant_type != "client_credentials" {
            return Err(refusal(400, "unsupported_grant_type", ""));
        }
        if client_id.is_empty() {
            return Err(refusal(401, "invalid_client", "client_id missing from request body"));
        }
        if client_secret.is_empty() {
            return Err(refusal(401, "invalid_client", "client_secret missing from request body"));
        }
        let invalid = || refusal(401, "invalid_client", "invalid client_id or client_secret");
        let client = self.clients.iter().find(|c| c.id == client_id).ok_or_else(invalid)?;
        // The secret is sent as the base64 of its bytes; the hash is of the bytes.
        let secret = base64::engine::general_purpose::STANDARD.decode(client_secret.trim()).map_err(|_| invalid())?;
        if !bcrypt::verify(&secret, &client.secret_hash).unwrap_or(false) {
            return Err(invalid());
        }
        let signing = self.secrets.first().ok_or_else(invalid)?;
        let exp = (now_seconds() + self.ttl.as_secs_f64()).floor();
        let claims = if self.admin {
            Claims { iss: Some(ISSUER.into()), exp: Some(exp), sdk_keys: None, admin: Some(true.into()) }
        } else {
            Claims {
                iss: Some(ISSUER.into()),
                exp: Some(exp),
                sdk_keys: Some(client.sdk_keys.clone().into()),
                admin: None,
            }
        };
        let access_token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(signing))
                .map_err(|e| refusal(500, "server_error", &e.to_string()))?;
        Ok(Issued { access_token, token_type: "bearer", expires_in: self.ttl.as_secs() })
    }
}

/// The token of a request: `Authorization: Bearer <token>` (or `JWT <token>`), else the
/// `Jwt` or `Auth` header, as Agent reads them.
fn token(headers: &HeaderMap) -> Option<&str> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    if let Some(value) = header("authorization") {
        let stripped = ["Bearer ", "bearer ", "JWT ", "jwt "].iter().find_map(|p| value.strip_prefix(p));
        return Some(stripped.unwrap_or(value).trim()).filter(|t| !t.is_empty());
    }
    header("jwt").or_else(|| header("auth"))
}
