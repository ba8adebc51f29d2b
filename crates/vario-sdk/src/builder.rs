//! Building a [`Client`]: where the config comes from, where events go, and the
//! pluggable services.

use std::sync::{Arc, OnceLock};

use crate::current::CurrentConfig;
use vario_datafile::ProjectConfig;
use vario_events::EventDispatcher;

use crate::client::{Client, EventSink, Inner, Loaded};
use crate::datafile_manager::{DatafileManagerOptions, PollingDatafileManager};
use crate::error::SdkError;
use crate::forced::ForcedVariationStore;
use crate::http_dispatcher::HttpEventDispatcher;
use crate::notification::NotificationCenter;
use crate::options::DecideOptions;
use crate::processor::{EventProcessor, EventProcessorConfig};
use crate::profile::UserProfileService;

/// How events reach the dispatcher.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Delivery {
    /// Queued and sent in batches by a background thread (the default).
    Batched(EventProcessorConfig),
    /// Sent by the calling thread, one event per request, before the call returns.
    Immediate,
}

/// Builds a [`Client`]. See [`Client::builder`].
pub struct ClientBuilder {
    config: Option<Arc<ProjectConfig>>,
    datafile_text: Option<String>,
    polling: Option<DatafileManagerOptions>,
    profiles: Option<Box<dyn UserProfileService>>,
    dispatcher: Option<Arc<dyn EventDispatcher>>,
    delivery: Delivery,
    default_options: DecideOptions,
    notifications: NotificationCenter,
}

impl ClientBuilder {
    pub(crate) fn new() -> Self {
        Self {
            config: None,
            datafile_text: None,
            polling: None,
            profiles: None,
            dispatcher: None,
            delivery: Delivery::Batched(EventProcessorConfig::default()),
            default_options: DecideOptions::NONE,
            notifications: NotificationCenter::new(),
        }
    }

    /// Sets the config from datafile JSON; fails when the datafile is invalid.
    pub fn datafile(mut self, json: &str) -> Result<Self, SdkError> {
        let config = ProjectConfig::from_json(json)?;
        crate::datafile_manager::warn_odd_fields(&config);
        self.config = Some(Arc::new(config));
        self.datafile_text = Some(json.to_owned());
        Ok(self)
    }

    /// Sets an already-loaded config.
    pub fn config(mut self, config: Arc<ProjectConfig>) -> Self {
        self.config = Some(config);
        self
    }

    /// Keeps the config up to date by polling `{base}/datafiles/{sdk_key}.json` from
    /// Optimizely's CDN (see [`ClientBuilder::datafile_polling`] for other servers).
    /// Events then default to HTTP delivery to the event endpoint.
    pub fn sdk_key(self, sdk_key: impl Into<String>) -> Self {
        self.datafile_polling(DatafileManagerOptions::new(sdk_key))
    }

    /// Keeps the config up to date by polling, with full control over the URL, interval,
    /// access token and backoff. A datafile given with [`ClientBuilder::datafile`] is used
    /// until the first fetch succeeds.
    pub fn datafile_polling(mut self, options: DatafileManagerOptions) -> Self {
        self.polling = Some(options);
        self
    }

    /// Sets the user profile service (sticky bucketing).
    pub fn user_profile_service(mut self, service: impl UserProfileService + 'static) -> Self {
        self.profiles = Some(Box::new(service));
        self
    }

    /// Sets where events go. Without a dispatcher (and without polling, which implies the
    /// HTTP dispatcher) no event is built or sent.
    pub fn event_dispatcher(mut self, dispatcher: impl EventDispatcher + 'static) -> Self {
        self.dispatcher = Some(Arc::new(dispatcher));
        self
    }

    /// Batching settings: batch size, flush interval, queue capacity, close timeout,
    /// retries, and the optional spool directory (the default is batching with
    /// [`EventProcessorConfig::default`]).
    pub fn event_processor(mut self, config: EventProcessorConfig) -> Self {
        self.delivery = Delivery::Batched(config);
        self
    }

    /// Sends each event from the calling thread before the call returns, with no queue,
    /// batching or retries (for tools and tests that need each event at once).
    pub fn immediate_events(mut self) -> Self {
        self.delivery = Delivery::Immediate;
        self
    }

    /// Options added to every decide call.
    pub fn default_decide_options(mut self, options: DecideOptions) -> Self {
        self.default_options = options;
        self
    }

    /// Uses this notification center (listeners may be added before the client starts,
    /// e.g. to see the first config update).
    pub fn notification_center(mut self, notifications: NotificationCenter) -> Self {
        self.notifications = notifications;
        self
    }

    /// Starts the client: the event processor thread and the datafile polling thread,
    /// when configured. Without a config it runs in "not configured" mode until one
    /// arrives: every API answers the no-decision value and no event is sent.
    pub fn build(self) -> Result<Client, SdkError> {
        let dispatcher = match (self.dispatcher, &self.polling) {
            (Some(d), _) => Some(d),
            (None, Some(_)) => Some(Arc::new(HttpEventDispatcher::new()) as Arc<dyn EventDispatcher>),
            (None, None) => None,
        };
        let sink = match (dispatcher, self.delivery) {
            (None, _) => EventSink::Off,
            (Some(d), Delivery::Immediate) => EventSink::Immediate(d),
            (Some(d), Delivery::Batched(config)) => {
                EventSink::Batched(EventProcessor::start(config, d, self.notifications.clone())?)
            }
        };
        let inner = Arc::new(Inner {
            loaded: CurrentConfig::new(self.config.map(Loaded::new)),
            forced: ForcedVariationStore::default(),
            profiles: self.profiles,
            sink,
            default_options: self.default_options,
            notifications: self.notifications,
            datafile_manager: OnceLock::new(),
        });
        if let Some(mut options) = self.polling {
            if let Some(text) = self.datafile_text {
                options = options.initial_datafile(text);
            }
            // A weak reference: the client owns the manager, which must not keep it alive.
            let weak = Arc::downgrade(&inner);
            let manager = PollingDatafileManager::start(options, move |config| {
                if let Some(inner) = weak.upgrade() {
                    inner.install(config);
                }
            });
            let _ = inner.datafile_manager.set(manager);
        }
        Ok(Client { inner })
    }
}
