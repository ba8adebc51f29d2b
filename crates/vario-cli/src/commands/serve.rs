//! `vario serve`: the Events API, datafile hosting, health and metrics, from one
//! command with no configuration. Settings come from, in order of precedence: flags,
//! `VARIO_*` environment variables ([`mod@env`]), the TOML file of `--config`, defaults.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use vario_server::{
    AgentConfig, AppState, CorsConfig, EventsConfig, Limits, PagesConfig, ServerConfig, StorageConfig, TokenSource,
};

/// Every environment variable `vario serve` reads. Each one stands for the flag of the
/// same name; a flag given on the command line wins.
pub mod env {
    /// Address and port to listen on (`--listen`), e.g. `0.0.0.0:8080`.
    pub const LISTEN: &str = "VARIO_LISTEN";
    /// Data directory (`--data-dir`): event log, datafiles, admin token.
    pub const DATA_DIR: &str = "VARIO_DATA_DIR";
    /// TOML configuration file (`--config`).
    pub const CONFIG: &str = "VARIO_CONFIG";
    /// The admin token (`--admin-token`); prefer this variable to the flag, which other
    /// users of the machine can see in the process list.
    pub const ADMIN_TOKEN: &str = "VARIO_ADMIN_TOKEN";
    /// Write keys as `PROJECT_ID=KEY`, comma-separated (`--write-key`).
    pub const WRITE_KEYS: &str = "VARIO_WRITE_KEYS";
    /// `true` to refuse events of projects without a write key (`--require-write-key`).
    pub const REQUIRE_WRITE_KEY: &str = "VARIO_REQUIRE_WRITE_KEY";
    /// Origins of the web pages that may call the SDK routes, comma-separated
    /// (`--cors-origin`); `*` for any.
    pub const CORS_ORIGINS: &str = "VARIO_CORS_ORIGINS";
    /// Log filter (`--log`): a level (`info`, `debug`) or `target=level` pairs.
    pub const LOG: &str = "VARIO_LOG";
}

/// Listening address without any configuration: this machine only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// How long blocking work left over at shutdown may delay the exit.
const SHUTDOWN_LEFTOVERS: Duration = Duration::from_secs(2);

/// Data directory without any configuration, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "vario-data";

/// `vario serve` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address and port to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = env::LISTEN, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Directory of the event log, datafiles and admin token [default: ./vario-data].
    #[arg(long, env = env::DATA_DIR, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML file with further settings (sections events, limits, storage, cors, pages, agent; see docs/http-api.md).
    #[arg(long, env = env::CONFIG, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Token for the admin API; without one, a token is generated and kept in the data directory.
    #[arg(long, env = env::ADMIN_TOKEN, value_name = "TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// A project's write key, required on its events (repeatable).
    #[arg(long = "write-key", env = env::WRITE_KEYS, value_name = "PROJECT_ID=KEY", value_delimiter = ',', hide_env_values = true)]
    pub write_keys: Vec<String>,
    /// Refuse events of projects that have no write key.
    #[arg(long, env = env::REQUIRE_WRITE_KEY)]
    pub require_write_key: bool,
    /// Origin of a web page that may load datafiles and send events from the browser,
    /// like `https://shop.example.com` (repeatable; replaces `[cors] allowed_origins`) [default: *, any].
    #[arg(long = "cors-origin", env = env::CORS_ORIGINS, value_name = "ORIGIN", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Log filter, e.g. `info` or `info,vario_store=debug` [default: info].
    #[arg(long, env = env::LOG, value_name = "FILTER")]
    pub log: Option<String>,
}

/// The TOML file: the flags' settings plus the `[events]`, `[limits]`, `[storage]`,
/// `[cors]`, `[pages]` and `[agent]` tables of the server. Unknown keys are errors, so a typo does not go unnoticed.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    admin_token: Option<String>,
    log: Option<String>,
    shutdown_grace_seconds: Option<u64>,
    events: EventsConfig,
    limits: Limits,
    storage: StorageConfig,
    cors: CorsConfig,
    pages: PagesConfig,
    agent: AgentConfig,
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str::<FileConfig>(&text)
                .with_context(|| format!("invalid configuration file {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    init_logging(args.log.as_deref().or(file.log.as_deref()).unwrap_or("info"))?;

    let listen = match args.listen.or(file.listen) {
        Some(listen) => listen,
        None => DEFAULT_LISTEN.parse().context("default listen address")?,
    };
    let mut config = ServerConfig::new(args.data_dir.or(file.data_dir).unwrap_or_else(|| DEFAULT_DATA_DIR.into()));
    config.admin_token = args.admin_token.or(file.admin_token);
    config.events = file.events;
    config.events.write_keys.extend(parse_write_keys(&args.write_keys)?);
    config.events.require_write_key |= args.require_write_key;
    config.limits = file.limits;
    config.storage = file.storage;
    config.cors = file.cors;
    let cors_origins: Vec<String> =
        args.cors_origins.iter().map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect();
    if !cors_origins.is_empty() {
        config.cors.allowed_origins = cors_origins;
    }
    config.pages = file.pages;
    config.agent = file.agent;
    if let Some(seconds) = file.shutdown_grace_seconds {
        config.shutdown_grace = Duration::from_secs(seconds);
    }

    // Connections and storage both need file descriptors; the soft limit is often far
    // below what the system allows this process.
    vario_server::listener::raise_open_file_limit();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the runtime")?;
    let (state, token_source) = AppState::open(config)?;
    match token_source {
        TokenSource::Generated(path) => eprintln!(
            "vario serve: admin token (kept in {}, shown only this once): {}",
            path.display(),
            state.admin_token()
        ),
        TokenSource::Ephemeral => eprintln!(
            "vario serve: admin token for this run only (the data directory is not writable): {}",
            state.admin_token()
        ),
        TokenSource::Configured | TokenSource::Saved(_) => {}
    }
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(listen))
        .with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr().context("listening address")?;
    // SIGTERM and SIGINT are handled from here on, before anyone is told to connect.
    let shutdown = {
        let _runtime = runtime.enter();
        vario_server::shutdown_signal()
    };
    // One line on stdout that scripts (and tests) can wait for; logs go to stderr.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "vario serve: listening on http://{bound}")?;
    stdout.flush()?;
    let served = runtime.block_on(vario_server::serve(listener, state, shutdown));
    // Everything accepted is on disk now. A blocking task still running (a cancelled
    // query finishing its step) must not keep the process alive.
    runtime.shutdown_timeout(SHUTDOWN_LEFTOVERS);
    served?;
    Ok(ExitCode::SUCCESS)
}

fn parse_write_keys(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((project, key)) if !project.trim().is_empty() && !key.trim().is_empty() => {
                Ok((project.trim().to_owned(), key.trim().to_owned()))
            }
            _ => {
                anyhow::bail!("a write key is given as PROJECT_ID=KEY, not {:?}", pair.split('=').next().unwrap_or(""))
            }
        })
        .collect()
}

fn init_logging(filter: &str) -> anyhow::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let targets: tracing_subscriber::filter::Targets =
        filter.parse().with_context(|| format!("invalid log filter {filter:?}"))?;
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(false))
        .with(targets)
        .try_init()
        .context("logging was already set up")
}
