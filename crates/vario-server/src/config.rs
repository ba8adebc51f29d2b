//! What the server can be told: limits on requests, write keys, storage tuning, browser
//! access. The CLI fills it from flags, `VARIO_*` variables and the TOML file; every table
//! here is a table of that file (`[events]`, `[limits]`, `[storage]`, `[cors]`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

/// Everything the server needs to start. Serialized (for the admin listener's
/// `/config`) without its secrets.
#[derive(Clone, Serialize)]
pub struct ServerConfig {
    /// Where the event log, the datafiles and the admin token live.
    pub data_dir: PathBuf,
    /// The admin token; when `None`, the one saved in the data directory, or a new one.
    #[serde(skip_serializing)]
    pub admin_token: Option<String>,
    /// Events API settings.
    pub events: EventsConfig,
    /// Request limits.
    pub limits: Limits,
    /// Event log tuning.
    pub storage: StorageConfig,
    /// Which web pages may call the public SDK routes from their browsers.
    pub cors: CorsConfig,
    /// Sign-in cookies and proxies.
    pub pages: PagesConfig,
    /// Optimizely Agent's API.
    pub agent: AgentConfig,
    /// After a shutdown signal, how long in-flight requests may take to finish.
    #[serde(rename = "shutdown_grace_seconds", serialize_with = "seconds")]
    pub shutdown_grace: Duration,
}

fn seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Only the names of what is secret (project ids of write keys).
fn keys_only<S: Serializer, V>(map: &BTreeMap<String, V>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(map.keys())
}

impl ServerConfig {
    /// Defaults for data directory `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            admin_token: None,
            events: EventsConfig::default(),
            limits: Limits::default(),
            storage: StorageConfig::default(),
            cors: CorsConfig::default(),
            pages: PagesConfig::default(),
            agent: AgentConfig::default(),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    /// Never prints a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("data_dir", &self.data_dir)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .field("events", &self.events)
            .field("limits", &self.limits)
            .field("storage", &self.storage)
            .field("cors", &self.cors)
            .field("pages", &self.pages)
            .field("agent", &self.agent)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish()
    }
}

/// `[events]`: who may send events.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Write key per project id. A batch for a project listed here must carry the key
    /// (`Authorization: Bearer KEY` or `X-Vario-Write-Key: KEY`).
    #[serde(serialize_with = "keys_only")]
    pub write_keys: BTreeMap<String, String>,
    /// Refuse batches for projects that have no write key.
    pub require_write_key: bool,
    /// Refuse (415) event bodies not sent as `Content-Type: application/json`. A web page
    /// can post `text/plain` to any server without asking it first; `application/json`
    /// from another site needs the server's CORS consent. Off by default:
    /// `navigator.sendBeacon` posts `text/plain`.
    pub require_json_content_type: bool,
}

impl std::fmt::Debug for EventsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsConfig")
            .field("write_keys", &self.write_keys.keys().collect::<Vec<_>>())
            .field("require_write_key", &self.require_write_key)
            .field("require_json_content_type", &self.require_json_content_type)
            .finish()
    }
}

/// `[limits]`: the largest requests accepted. Documented in `docs/http-api.md`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest event request body, compressed and decompressed: 3.5 MiB, Optimizely's
    /// limit for one event batch.
    pub max_body_bytes: usize,
    /// Most visitors in one batch.
    pub max_visitors: usize,
    /// Most events in one batch, over all visitors and snapshots.
    pub max_events: usize,
    /// Most attributes of one visitor.
    pub max_attributes: usize,
    /// Longest id, key, uuid, revision or client name/version, in bytes.
    pub max_id_bytes: usize,
    /// Longest `visitor_id`, in bytes.
    pub max_visitor_id_bytes: usize,
    /// Longest string attribute value, in bytes.
    pub max_attribute_value_bytes: usize,
    /// Largest `tags` object of one event, as JSON bytes.
    pub max_tags_bytes: usize,
    /// Largest datafile upload, compressed and decompressed (also a project API body).
    pub max_datafile_bytes: usize,
    /// Largest body of a form of the pages (sign-in, sign-out).
    pub max_form_bytes: usize,
    /// Largest body of a SQL query request.
    pub max_query_request_bytes: usize,
    /// Largest body of a flag evaluation request (OFREP): the evaluation context.
    pub max_evaluation_request_bytes: usize,
    /// Longest request target (path and query), in bytes: 414 past it.
    pub max_uri_bytes: usize,
    /// Largest request head (all header names and values), in bytes: 431 past it.
    pub max_header_bytes: usize,
    /// Seconds a connection may wait for a complete request head; also how long an idle
    /// keep-alive connection stays open.
    pub header_timeout_seconds: u64,
    /// Seconds a request body may take to arrive.
    pub body_timeout_seconds: u64,
    /// Most open client connections; further ones are answered 503 and closed. Lowered at
    /// start to the open-file limit less `reserved_file_descriptors`.
    pub max_connections: usize,
    /// Open files kept for storage (event log, uuid index, Parquet files being written,
    /// merged or queried), never used for client connections.
    pub reserved_file_descriptors: usize,
    /// Memory budget of the server: half of it bounds the request bodies being read,
    /// parsed and stored at once (503 `overloaded` past it), a quarter the queries.
    pub memory_budget_bytes: usize,
    /// Queries (SQL and results) running at once; more wait for their turn.
    pub max_concurrent_queries: usize,
    /// Seconds a query (SQL or results) may run, waiting for its turn included.
    pub query_timeout_seconds: u64,
    /// Most rows of a SQL query's answer.
    pub max_query_rows: usize,
    /// Wrong sign-in attempts one client address may make per minute (429 past it).
    pub sign_in_attempts_per_minute: u32,
}

impl Limits {
    /// Bytes of request bodies that may be in memory at once, each charged
    /// [`crate::budget::BYTES_PER_BODY_BYTE`] times its size.
    pub fn body_memory_bytes(&self) -> usize {
        self.memory_budget_bytes / 2
    }

    /// Memory one query may use (the DataFusion memory pool of each query).
    pub fn query_memory_bytes(&self) -> usize {
        self.memory_budget_bytes / 4 / self.max_concurrent_queries.max(1)
    }

    /// [`Limits::header_timeout_seconds`] as a duration.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_seconds)
    }

    /// [`Limits::body_timeout_seconds`] as a duration.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_seconds)
    }

    /// [`Limits::query_timeout_seconds`] as a duration.
    pub fn query_timeout(&self) -> Duration {
        Duration::from_secs(self.query_timeout_seconds)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 3_670_016,
            max_visitors: 10_000,
            max_events: 10_000,
            max_attributes: 1_000,
            max_id_bytes: 256,
            max_visitor_id_bytes: 1_024,
            max_attribute_value_bytes: 4_096,
            max_tags_bytes: 65_536,
            max_datafile_bytes: 16 * 1024 * 1024,
            max_form_bytes: 4 * 1024,
            max_query_request_bytes: 1024 * 1024,
            max_evaluation_request_bytes: 64 * 1024,
            max_uri_bytes: 8 * 1024,
            max_header_bytes: 32 * 1024,
            header_timeout_seconds: 10,
            body_timeout_seconds: 60,
            max_connections: 10_000,
            reserved_file_descriptors: 256,
            memory_budget_bytes: 1024 * 1024 * 1024,
            max_concurrent_queries: 2,
            query_timeout_seconds: 120,
            max_query_rows: 100_000,
            sign_in_attempts_per_minute: 10,
        }
    }
}

/// `[pages]`: the sign-in session of the pages behind TLS or a proxy.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PagesConfig {
    /// Mark the session cookie `Secure` always (the server is only reached over HTTPS).
    pub secure_cookies: bool,
    /// Believe `X-Forwarded-Proto` and `X-Forwarded-For` from the client: set only when
    /// a proxy in front of the server sets them. Then the cookie is `Secure` when the
    /// proxy says `https`, and sign-in attempts are counted per forwarded address.
    pub trust_proxy_headers: bool,
}

/// `[storage]`: event log tuning.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Stop accepting events (503) once the log reaches about this many bytes.
    pub max_bytes: Option<u64>,
    /// Batches that may wait for the writer before requests get 503 `overloaded`.
    pub queue_capacity: usize,
    /// Events one group commit takes at most.
    pub max_group_events: usize,
    /// While the log cannot be opened (say, a read-only directory), try again this often.
    pub reopen_interval_seconds: u64,
    /// Copy new events from the log into Parquet files this often (0: only at shutdown).
    pub compact_interval_seconds: u64,
    /// Delete compacted events from the log once they have been compacted this long
    /// (a query planned before the compaction may still be reading them from the log).
    pub prune_after_seconds: u64,
    /// Answer 503 `overloaded` while compaction is this many events behind the log
    /// (0: no limit), so a sustained overload stalls writers instead of growing the log
    /// until the disk is full.
    pub max_uncompacted_events: u64,
    /// Uuids of recent events the deduplication index keeps in memory before writing
    /// them out as a sorted run file (about 17 bytes each).
    pub uuid_memtable_keys: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        let store = vario_store::StoreOptions::default();
        Self {
            max_bytes: None,
            queue_capacity: store.queue_capacity,
            max_group_events: store.max_group_events,
            reopen_interval_seconds: 5,
            compact_interval_seconds: 10,
            prune_after_seconds: 60,
            max_uncompacted_events: 20_000_000,
            uuid_memtable_keys: store.uuid_memtable_keys,
        }
    }
}

/// `[cors]`: which web pages (origins) may load datafiles and send events from a browser.
/// Only the public SDK routes answer cross-origin requests, never with credentials.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// `["*"]` (any page; the default, as the routes carry no credentials), a list of
    /// origins such as `https://shop.example.com` or `http://localhost:3000`, or `[]` for
    /// no page at all. A request from a browser with any other `Origin` is refused (403).
    pub allowed_origins: Vec<String>,
    /// How long a browser may keep a preflight answer (Chromium keeps it 2 hours at most).
    pub max_age_seconds: u64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self { allowed_origins: vec!["*".to_owned()], max_age_seconds: 7200 }
    }
}

/// `[agent]`: Optimizely Agent's API (`/v1/decide`, `/v1/activate`, ...).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// Users whose bucketing each environment remembers in memory (Agent's in-memory
    /// user profile service): a user keeps their variation while traffic allocation
    /// changes, and `/v1/lookup` and `/v1/save` read and write these profiles. Past it,
    /// the user stored first is forgotten first. 0 turns profiles off; then lookup and
    /// save answer 500, as Agent without a profile service.
    pub user_profiles: usize,
    /// Serve `/v1/notifications/event-stream` (Agent's `enableNotifications`). Off by
    /// default, as in Agent: the stream shows every user's decisions and attributes to
    /// whoever holds the SDK key.
    pub notifications: bool,
    /// Notification streams open at once, over every environment; past it, 503 with
    /// `Retry-After`. Each also holds one of `max_connections`.
    pub max_notification_streams: usize,
    /// Agent's JWT auth (`[agent.auth]`); off without HMAC secrets.
    pub auth: AgentAuthConfig,
    /// Agent's admin listener (`[agent.admin]`).
    pub admin: AgentAdminConfig,
}

/// `[agent.admin]`: Agent's admin routes (`/config`, `/info`, `/metrics`,
/// `/oauth/token` for admin tokens) on a listener of their own, as Agent serves them on
/// its admin port, so that they can stay off the network the API faces.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentAdminConfig {
    /// Where to listen (Agent's is port 8088); none: no admin listener.
    pub listen: Option<std::net::SocketAddr>,
    /// Tokens the admin routes ask for (`[agent.admin.auth]`, with the `admin` claim);
    /// off without HMAC secrets. Its clients need no `sdk_keys`.
    pub auth: AgentAuthConfig,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            user_profiles: 100_000,
            notifications: false,
            max_notification_streams: 2_000,
            auth: AgentAuthConfig::default(),
            admin: AgentAdminConfig::default(),
        }
    }
}

/// `[agent.auth]`: Agent's JWT auth, with Agent's settings (secrets and hashes in
/// standard base64, as Agent's configuration has them).
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentAuthConfig {
    /// Secrets that tokens may be signed with (HS256/384/512); the first signs the
    /// tokens `POST /oauth/token` issues. Empty: no token is asked for.
    #[serde(skip_serializing)]
    pub hmac_secrets: Vec<String>,
    /// How long issued tokens are valid.
    pub ttl_seconds: u64,
    /// Who may ask `POST /oauth/token` for a token, and for which environments.
    pub clients: Vec<AgentClientConfig>,
}

impl Default for AgentAuthConfig {
    fn default() -> Self {
        Self { hmac_secrets: Vec::new(), ttl_seconds: 1800, clients: Vec::new() }
    }
}

impl std::fmt::Debug for AgentAuthConfig {
    /// Never prints a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentAuthConfig")
            .field("hmac_secrets", &self.hmac_secrets.len())
            .field("ttl_seconds", &self.ttl_seconds)
            .field("clients", &self.clients.iter().map(|c| &c.id).collect::<Vec<_>>())
            .finish()
    }
}

/// One `[[agent.auth.clients]]` entry: OAuth client credentials.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentClientConfig {
    /// The `client_id`.
    pub id: String,
    /// The base64 of the bcrypt hash of the secret's bytes (the client sends the base64
    /// of the bytes as `client_secret`), as Agent's `generate_secret` makes them.
    #[serde(skip_serializing)]
    pub secret_hash: String,
    /// The environments its tokens open.
    pub sdk_keys: Vec<String>,
}
