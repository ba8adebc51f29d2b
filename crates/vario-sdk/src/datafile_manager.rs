//! Keeping a client's datafile current: polling `{base_url}/datafiles/{sdk_key}.json` on a
//! background thread, with ETags, backoff on errors and an authenticated variant.
//!
//! The manager never installs a config itself: it calls `on_update` with each new,
//! validated config, and the client swaps it in atomically. So the manager knows nothing
//! of clients, and a client that is not polling needs none of it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use vario_datafile::ProjectConfig;

use crate::http_dispatcher::{agent, drain, header};

/// Optimizely's CDN, where public datafiles live.
pub const DEFAULT_CDN_BASE_URL: &str = "https://cdn.optimizely.com";
/// Optimizely's URL template for datafiles that need an access token.
pub const DEFAULT_AUTHENTICATED_URL_TEMPLATE: &str = "https://config.optimizely.com/datafiles/auth/{sdk_key}.json";
/// How often the datafile is fetched unless configured (Optimizely's 5 minutes).
pub const DEFAULT_POLLING_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// How long one fetch may take unless configured.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait after a failed fetch unless configured.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// The longest wait after failed fetches unless configured.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5 * 60);
/// The largest datafile accepted; beyond it the response is an error (a datafile that size
/// would not be one a client should hold in memory anyway).
pub const MAX_DATAFILE_BYTES: u64 = 64 * 1024 * 1024;

/// Where and how often a [`PollingDatafileManager`] fetches the datafile.
///
/// ```
/// use std::time::Duration;
/// use vario_sdk::DatafileManagerOptions;
///
/// let options = DatafileManagerOptions::new("my-sdk-key").interval(Duration::from_secs(60));
/// assert_eq!(options.url(), "https://cdn.optimizely.com/datafiles/my-sdk-key.json");
/// let options = options.access_token("t0ken");
/// assert_eq!(options.url(), "https://config.optimizely.com/datafiles/auth/my-sdk-key.json");
/// ```
#[derive(Clone)]
pub struct DatafileManagerOptions {
    sdk_key: String,
    base_url: Option<String>,
    url_template: Option<String>,
    access_token: Option<String>,
    interval: Duration,
    timeout: Duration,
    backoff_base: Duration,
    max_backoff: Duration,
    initial_datafile: Option<String>,
}

impl DatafileManagerOptions {
    /// Polls the datafile of `sdk_key` on Optimizely's CDN every 5 minutes.
    pub fn new(sdk_key: impl Into<String>) -> Self {
        Self {
            sdk_key: sdk_key.into(),
            base_url: None,
            url_template: None,
            access_token: None,
            interval: DEFAULT_POLLING_INTERVAL,
            timeout: DEFAULT_FETCH_TIMEOUT,
            backoff_base: DEFAULT_BACKOFF_BASE,
            max_backoff: DEFAULT_MAX_BACKOFF,
            initial_datafile: None,
        }
    }

    /// Fetches `{base_url}/datafiles/{sdk_key}.json` (a trailing `/` on `base_url` is
    /// ignored).
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// Fetches this URL, with `{sdk_key}` replaced by the SDK key; wins over
    /// [`Self::base_url`].
    pub fn url_template(mut self, template: impl Into<String>) -> Self {
        self.url_template = Some(template.into());
        self
    }

    /// Sends `Authorization: Bearer {token}`. Without a base URL or template, the
    /// datafile then comes from Optimizely's authenticated endpoint
    /// ([`DEFAULT_AUTHENTICATED_URL_TEMPLATE`]).
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.access_token = Some(token.into());
        self
    }

    /// Time between successful fetches (default 5 minutes; at least 1 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Limit of one fetch, connecting included (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// After failures the wait is `base · 2^(failures-1)`, capped at `max` and jittered
    /// to between half and all of that (defaults 1 s and 5 minutes). Failures are
    /// transport errors, non-2xx/304 answers and rejected datafiles.
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff_base = base.max(Duration::from_millis(1));
        self.max_backoff = max.max(self.backoff_base);
        self
    }

    /// A datafile to use until the first successful fetch (for example one bundled with
    /// the application). Invalid text is logged and ignored.
    pub fn initial_datafile(mut self, datafile: impl Into<String>) -> Self {
        self.initial_datafile = Some(datafile.into());
        self
    }

    /// The SDK key.
    pub fn sdk_key(&self) -> &str {
        &self.sdk_key
    }

    /// The URL that is polled.
    pub fn url(&self) -> String {
        if let Some(template) = &self.url_template {
            return template.replace("{sdk_key}", &self.sdk_key);
        }
        match (&self.base_url, &self.access_token) {
            (Some(base), _) => format!("{}/datafiles/{}.json", base.trim_end_matches('/'), self.sdk_key),
            (None, Some(_)) => DEFAULT_AUTHENTICATED_URL_TEMPLATE.replace("{sdk_key}", &self.sdk_key),
            (None, None) => format!("{DEFAULT_CDN_BASE_URL}/datafiles/{}.json", self.sdk_key),
        }
    }

    /// The polling interval.
    pub fn polling_interval(&self) -> Duration {
        self.interval
    }

    /// The wait after `failures` consecutive failures, before jitter.
    fn backoff_ceiling(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.backoff_base.saturating_mul(1 << doublings).min(self.max_backoff)
    }
}

impl std::fmt::Debug for DatafileManagerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential and the initial datafile can be megabytes: neither is
        // printed.
        f.debug_struct("DatafileManagerOptions")
            .field("url", &self.url())
            .field("access_token", &self.access_token.as_ref().map(|_| "<set>"))
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("backoff_base", &self.backoff_base)
            .field("max_backoff", &self.max_backoff)
            .field("initial_datafile", &self.initial_datafile.as_ref().map(String::len))
            .finish()
    }
}

/// What a [`PollingDatafileManager`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DatafileStats {
    /// Requests that got an HTTP answer (any status).
    pub fetches: u64,
    /// `304 Not Modified` answers.
    pub not_modified: u64,
    /// Configs handed to `on_update` (the initial datafile included).
    pub updates: u64,
    /// 200 answers whose datafile had the revision already installed.
    pub unchanged: u64,
    /// Datafiles that failed to load (the last good config stayed).
    pub rejected: u64,
    /// Fetches without a usable answer: transport errors and statuses other than 2xx/304.
    pub errors: u64,
}

/// Fetches a datafile on a background thread and hands each new config to a callback.
///
/// - Every interval it GETs [`DatafileManagerOptions::url`], with `If-None-Match` set to
///   the last accepted `ETag`; `304` means nothing changed.
/// - A datafile that fails [`ProjectConfig::from_json`] is rejected with a warning; the
///   last good config stays. One with the revision already installed is not installed
///   again.
/// - Failures back off exponentially with jitter (see [`DatafileManagerOptions::backoff`]).
/// - `on_update` runs on the polling thread; a panic in it is caught and logged.
///
/// Dropping the manager stops it.
///
/// ```no_run
/// use std::time::Duration;
/// use vario_sdk::{DatafileManagerOptions, PollingDatafileManager};
///
/// let manager = PollingDatafileManager::start(DatafileManagerOptions::new("my-sdk-key"), |config| {
///     println!("datafile revision {}", config.revision);
/// });
/// if !manager.wait_for_first(Duration::from_secs(5)) {
///     eprintln!("no datafile yet; deciding returns the no-decision answer meanwhile");
/// }
/// ```
pub struct PollingDatafileManager {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: Option<ThreadId>,
    url: String,
}

/// What the polling thread and the handle share.
struct Shared {
    state: Mutex<State>,
    /// Signalled on stop, on each install, and when the thread changes phase.
    changed: Condvar,
}

#[derive(Default)]
struct State {
    stopped: bool,
    phase: Phase,
    current: Option<Arc<ProjectConfig>>,
    stats: DatafileStats,
}

/// What the polling thread is doing; `stop` needs to know whether joining it is quick.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between requests (or about to start one): it sees a stop at once.
    #[default]
    Waiting,
    /// In an HTTP request: it sees a stop only when the request ends.
    Fetching,
    /// In `on_update`.
    Installing,
    /// Gone.
    Exited,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every unlock, and `on_update` runs unlocked, so a
        // poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands `config` to `on_update` unless stopped; true when it was handed over.
    fn install(&self, config: Arc<ProjectConfig>, on_update: &(dyn Fn(Arc<ProjectConfig>) + Send + Sync)) -> bool {
        {
            let mut state = self.lock();
            if state.stopped {
                return false;
            }
            state.phase = Phase::Installing;
        }
        let revision = config.revision.clone();
        if catch_unwind(AssertUnwindSafe(|| on_update(Arc::clone(&config)))).is_err() {
            tracing::error!(revision, "datafile update listener panicked; the polling goes on");
        }
        let mut state = self.lock();
        state.current = Some(config);
        state.stats.updates += 1;
        state.phase = Phase::Waiting;
        self.changed.notify_all();
        true
    }
}

impl PollingDatafileManager {
    /// Starts polling. The initial datafile of `options`, if valid, is handed to
    /// `on_update` before this returns; the first fetch starts at once.
    pub fn start(
        options: DatafileManagerOptions,
        on_update: impl Fn(Arc<ProjectConfig>) + Send + Sync + 'static,
    ) -> Self {
        let shared = Arc::new(Shared { state: Mutex::new(State::default()), changed: Condvar::new() });
        let url = options.url();
        let on_update: Box<dyn Fn(Arc<ProjectConfig>) + Send + Sync> = Box::new(on_update);

        if let Some(text) = &options.initial_datafile {
            match ProjectConfig::from_json(text) {
                Ok(config) => {
                    warn_odd_fields(&config);
                    shared.install(Arc::new(config), &*on_update);
                }
                Err(error) => {
                    tracing::warn!(%error, "initial datafile rejected; waiting for the first fetch");
                    shared.lock().stats.rejected += 1;
                }
            }
        }

        let poller = Poller::new(options, Arc::clone(&shared), on_update);
        let spawned = thread::Builder::new().name("vario-datafile".to_owned()).spawn(move || poller.run());
        let (thread, thread_id) = match spawned {
            Ok(handle) => {
                let id = handle.thread().id();
                (Some(handle), Some(id))
            }
            Err(error) => {
                // No thread means no updates; the client keeps whatever config it has.
                tracing::error!(%error, "could not start the datafile polling thread");
                shared.lock().phase = Phase::Exited;
                (None, None)
            }
        };
        Self { shared, thread: Mutex::new(thread), thread_id, url }
    }

    /// Waits until a config has been handed to `on_update` (and `on_update` returned),
    /// at most `timeout`; true if one has. True at once when the initial datafile was
    /// valid.
    pub fn wait_for_first(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.shared.lock();
        // After a stop there is nothing to wait for, except an install already under way.
        while state.current.is_none() && (!state.stopped || state.phase == Phase::Installing) {
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                break;
            }
            state = self.shared.changed.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        state.current.is_some()
    }

    /// The config most recently handed to `on_update`.
    pub fn current(&self) -> Option<Arc<ProjectConfig>> {
        self.shared.lock().current.clone()
    }

    /// The URL being polled.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Counters of what happened so far.
    pub fn stats(&self) -> DatafileStats {
        self.shared.lock().stats
    }

    /// Whether [`Self::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.shared.lock().stopped
    }

    /// Stops polling; idempotent. Returns promptly: a sleeping thread wakes and ends at
    /// once; a thread in the middle of a request is left to end by itself when the request
    /// does (within the fetch timeout) and installs nothing. Once `stop` returns,
    /// `on_update` is not running and will not be called again.
    pub fn stop(&self) {
        let joinable = {
            let mut state = self.shared.lock();
            state.stopped = true;
            self.shared.changed.notify_all();
            // Called from `on_update` itself, waiting for the install to finish would wait
            // forever.
            let on_worker = Some(thread::current().id()) == self.thread_id;
            while state.phase == Phase::Installing && !on_worker {
                state = self.shared.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
            }
            !on_worker && state.phase != Phase::Fetching
        };
        let handle = self.thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(handle) = handle
            && joinable
        {
            // The thread only has to notice `stopped`: no request and no install is on.
            let _ = handle.join();
        }
        // Otherwise the handle is dropped: the thread ends by itself.
    }
}

impl Drop for PollingDatafileManager {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for PollingDatafileManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("PollingDatafileManager")
            .field("url", &self.url)
            .field("stopped", &state.stopped)
            .field("revision", &state.current.as_ref().map(|c| c.revision.as_str()))
            .field("stats", &state.stats)
            .finish()
    }
}

/// What one fetch came to.
enum Outcome {
    /// A new config to install.
    New(Arc<ProjectConfig>),
    /// 304, or a 200 with the revision already installed.
    Same,
    /// The datafile did not load.
    Rejected,
    /// No usable answer.
    Failed,
}

/// The polling thread's own state.
struct Poller {
    options: DatafileManagerOptions,
    url: String,
    agent: ureq::Agent,
    authorization: Option<(ureq::http::HeaderName, ureq::http::HeaderValue)>,
    shared: Arc<Shared>,
    on_update: Box<dyn Fn(Arc<ProjectConfig>) + Send + Sync>,
    /// The ETag of the last datafile accepted (installed or already installed).
    etag: Option<String>,
    failures: u32,
}

impl Poller {
    fn new(
        options: DatafileManagerOptions,
        shared: Arc<Shared>,
        on_update: Box<dyn Fn(Arc<ProjectConfig>) + Send + Sync>,
    ) -> Self {
        let authorization = options.access_token.as_ref().and_then(|token| {
            header("Authorization", &format!("Bearer {token}"))
                .inspect_err(|_| tracing::error!("datafile access token is not a valid header value; not sending it"))
                .ok()
        });
        Self {
            url: options.url(),
            agent: agent(options.timeout, true),
            authorization,
            options,
            shared,
            on_update,
            etag: None,
            failures: 0,
        }
    }

    fn run(mut self) {
        loop {
            {
                let mut state = self.shared.lock();
                if state.stopped {
                    break;
                }
                state.phase = Phase::Fetching;
            }
            let outcome = self.fetch();
            let ok = match outcome {
                Outcome::New(config) => {
                    if !self.shared.install(config, &*self.on_update) {
                        break;
                    }
                    true
                }
                Outcome::Same => true,
                Outcome::Rejected | Outcome::Failed => false,
            };
            self.failures = if ok { 0 } else { self.failures.saturating_add(1) };
            let delay = if ok { self.options.interval } else { self.backoff() };

            let deadline = Instant::now().checked_add(delay);
            let mut state = self.shared.lock();
            if state.phase == Phase::Fetching {
                state.phase = Phase::Waiting;
                // `stop` may be waiting to learn whether it can join.
                self.shared.changed.notify_all();
            }
            while !state.stopped {
                let left = match deadline {
                    Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                    None => Duration::MAX,
                };
                if left.is_zero() {
                    break;
                }
                state = self.shared.changed.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
            }
        }
        self.shared.lock().phase = Phase::Exited;
        self.shared.changed.notify_all();
    }

    /// The wait after the current run of failures: between half and all of the ceiling,
    /// so that many clients failing together do not retry together.
    fn backoff(&self) -> Duration {
        let ceiling = self.options.backoff_ceiling(self.failures);
        ceiling.mul_f64(0.5 + fastrand::f64() * 0.5)
    }

    fn fetch(&mut self) -> Outcome {
        let mut request = self.agent.get(&self.url);
        if let Some(etag) = &self.etag {
            request = request.header("If-None-Match", etag);
        }
        if let Some((name, value)) = &self.authorization {
            request = request.header(name.clone(), value.clone());
        }
        let mut response = match request.call() {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(url = self.url, %error, "datafile fetch failed");
                self.shared.lock().stats.errors += 1;
                return Outcome::Failed;
            }
        };
        let status = response.status().as_u16();
        self.shared.lock().stats.fetches += 1;
        if status == 304 {
            drain(response.body_mut());
            self.shared.lock().stats.not_modified += 1;
            return Outcome::Same;
        }
        if !response.status().is_success() {
            drain(response.body_mut());
            tracing::warn!(url = self.url, status, "datafile fetch answered an error status");
            self.shared.lock().stats.errors += 1;
            return Outcome::Failed;
        }
        let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let text = match response.body_mut().with_config().limit(MAX_DATAFILE_BYTES).read_to_string() {
            Ok(text) => text,
            Err(error) => {
                tracing::warn!(url = self.url, %error, "datafile body could not be read");
                self.shared.lock().stats.errors += 1;
                return Outcome::Failed;
            }
        };
        let config = match ProjectConfig::from_json(&text) {
            Ok(config) => config,
            Err(error) => {
                // The ETag is not kept: a later fetch gets the body again, in case the bad
                // copy came from a broken cache.
                tracing::warn!(url = self.url, %error, "fetched datafile rejected; keeping the last good one");
                self.shared.lock().stats.rejected += 1;
                return Outcome::Rejected;
            }
        };
        self.etag = etag;
        let mut state = self.shared.lock();
        if state.current.as_ref().is_some_and(|current| current.revision == config.revision) {
            state.stats.unchanged += 1;
            return Outcome::Same;
        }
        drop(state);
        tracing::info!(url = self.url, revision = config.revision, "new datafile");
        warn_odd_fields(&config);
        Outcome::New(Arc::new(config))
    }
}

/// Logs, once per loaded datafile, each field it was loaded with although the field does
/// not have the format's type (the datafile still serves everything else).
pub(crate) fn warn_odd_fields(config: &ProjectConfig) {
    for warning in &config.warnings {
        tracing::warn!(revision = config.revision, %warning, "datafile field loaded leniently");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let o = DatafileManagerOptions::new("K1");
        assert_eq!(o.url(), "https://cdn.optimizely.com/datafiles/K1.json");
        assert_eq!(o.clone().base_url("http://127.0.0.1:9/").url(), "http://127.0.0.1:9/datafiles/K1.json");
        assert_eq!(o.clone().access_token("t").url(), "https://config.optimizely.com/datafiles/auth/K1.json");
        assert_eq!(o.clone().access_token("t").base_url("http://h").url(), "http://h/datafiles/K1.json");
        assert_eq!(o.clone().base_url("http://h").url_template("http://x/{sdk_key}/df").url(), "http://x/K1/df");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let o = DatafileManagerOptions::new("k").backoff(Duration::from_millis(100), Duration::from_secs(1));
        let ms = |n| o.backoff_ceiling(n).as_millis();
        assert_eq!([ms(1), ms(2), ms(3), ms(4), ms(5), ms(100), ms(u32::MAX)], [100, 200, 400, 800, 1000, 1000, 1000]);
    }

    #[test]
    fn debug_hides_the_token() {
        let o = DatafileManagerOptions::new("k").access_token("secret-token");
        assert!(!format!("{o:?}").contains("secret-token"));
    }
}
