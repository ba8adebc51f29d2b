//! The client: configuration, shared state, and the legacy experiment and flag APIs.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Map, Value};
use vario_core::{Attributes, FlagDecision, ProfileState, User, decide_flag, experiment_variation};
use vario_datafile::{OptimizelyConfig, ProjectConfig, VariableType, VariationRef};
use vario_events::{EventDispatcher, EventFactory};

use crate::builder::ClientBuilder;
use crate::current::CurrentConfig;
use crate::datafile_manager::{DatafileStats, PollingDatafileManager};
use crate::decision_notice;
use crate::error::SdkError;
use crate::events::{self, ImpressionOf};
use crate::forced::ForcedVariationStore;
use crate::notification::{ConfigUpdateNotification, NotificationCenter};
use crate::options::DecideOptions;
use crate::processor::{CloseReport, EventProcessor, EventStats};
use crate::profile::{UserProfile, UserProfileService};
use crate::user_context::UserContext;

/// An SDK client. Cheap to clone (all clones share one state); safe to share
/// between threads.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) loaded: CurrentConfig,
    pub(crate) forced: ForcedVariationStore,
    pub(crate) profiles: Option<Box<dyn UserProfileService>>,
    pub(crate) sink: EventSink,
    pub(crate) default_options: DecideOptions,
    pub(crate) notifications: NotificationCenter,
    pub(crate) datafile_manager: OnceLock<PollingDatafileManager>,
}

/// Where built events go.
pub(crate) enum EventSink {
    /// No dispatcher: no event is even built.
    Off,
    /// Dispatched by the calling thread.
    Immediate(Arc<dyn EventDispatcher>),
    /// Queued for the background processor.
    Batched(EventProcessor),
}

impl EventSink {
    pub(crate) fn is_off(&self) -> bool {
        matches!(self, Self::Off)
    }
}

impl Inner {
    /// Installs a new config; calls already running finish with the old one.
    pub(crate) fn install(&self, config: Arc<ProjectConfig>) {
        let revision = config.revision.clone();
        let previous = self.loaded.swap(Loaded::new(config));
        self.notifications.notify_with(|| ConfigUpdateNotification {
            revision,
            previous_revision: previous.map(|p| p.config.revision.clone()),
        });
    }
}

/// A config together with what is derived from it once (the event factory, and the
/// OptimizelyConfig view when first asked for).
pub(crate) struct Loaded {
    pub(crate) config: Arc<ProjectConfig>,
    pub(crate) events: Arc<EventFactory>,
    /// Shared by every handle on this config.
    pub(crate) view: Arc<OnceLock<Arc<OptimizelyConfig>>>,
}

impl Loaded {
    pub(crate) fn new(config: Arc<ProjectConfig>) -> Arc<Self> {
        Arc::new(Self { events: Arc::new(EventFactory::new(&config)), config, view: Arc::default() })
    }

    /// Another handle on the same config and event factory, with a reference count of
    /// its own (see `current`).
    pub(crate) fn handle(&self) -> Arc<Self> {
        Arc::new(Self {
            config: Arc::clone(&self.config),
            events: Arc::clone(&self.events),
            view: Arc::clone(&self.view),
        })
    }
}

/// A variation chosen for a user; holds the config it came from, so it outlives
/// config updates.
#[derive(Clone)]
pub struct DecidedVariation {
    loaded: Arc<Loaded>,
    at: VariationRef,
}

impl DecidedVariation {
    /// The variation key.
    pub fn key(&self) -> &str {
        &self.loaded.config.variation(self.at).key
    }

    /// The variation id.
    pub fn id(&self) -> &str {
        &self.loaded.config.variation(self.at).id
    }

    /// The experiment (or rule) key.
    pub fn experiment_key(&self) -> &str {
        &self.loaded.config.experiments[self.at.experiment].key
    }

    /// Whether the variation turns its flag on.
    pub fn feature_enabled(&self) -> bool {
        self.loaded.config.variation(self.at).feature_enabled
    }
}

impl std::fmt::Debug for DecidedVariation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecidedVariation")
            .field("experiment", &self.experiment_key())
            .field("key", &self.key())
            .finish()
    }
}

impl PartialEq<&str> for DecidedVariation {
    fn eq(&self, other: &&str) -> bool {
        self.key() == *other
    }
}

impl Client {
    /// A builder: no config, no profile service, no event dispatcher, batched delivery
    /// once a dispatcher is set.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A client for a datafile, with the defaults of [`Client::builder`].
    pub fn from_datafile(json: &str) -> Result<Self, SdkError> {
        Self::builder().datafile(json)?.build()
    }

    /// The current config, if any.
    pub fn config(&self) -> Option<Arc<ProjectConfig>> {
        self.loaded().map(|l| l.config.clone())
    }

    /// The OptimizelyConfig view of the current config, as the official SDKs'
    /// `get_optimizely_config()` answers it; `None` until a config is loaded. Built once
    /// per config. Serialized with serde it is the body of Optimizely Agent's
    /// `GET /v1/config`.
    pub fn optimizely_config(&self) -> Option<Arc<OptimizelyConfig>> {
        let loaded = self.loaded()?;
        Some(Arc::clone(loaded.view.get_or_init(|| Arc::new(loaded.config.optimizely_config()))))
    }

    pub(crate) fn loaded(&self) -> Option<Arc<Loaded>> {
        self.inner.loaded.load()
    }

    /// Replaces the config; calls already running finish with the old one.
    pub fn set_config(&self, config: Arc<ProjectConfig>) {
        self.inner.install(config);
    }

    /// Waits until a config is installed (from polling), up to `timeout`; whether there
    /// is one.
    pub fn wait_for_config(&self, timeout: Duration) -> bool {
        if self.inner.loaded.is_some() {
            return true;
        }
        match self.inner.datafile_manager.get() {
            Some(manager) => manager.wait_for_first(timeout) && self.inner.loaded.is_some(),
            None => false,
        }
    }

    /// The notification center: add listeners for decisions, impressions, tracks, sent
    /// and failed batches, config updates.
    pub fn notification_center(&self) -> &NotificationCenter {
        &self.inner.notifications
    }

    /// Sends every queued event now and waits for the outcome.
    pub fn flush(&self) {
        if let EventSink::Batched(processor) = &self.inner.sink {
            processor.flush();
        }
    }

    /// Stops polling, then spools what cannot be delivered in time, delivers what it can
    /// (within the close timeout) and stops the event thread: see
    /// [`EventProcessor::close`]. When it returns the process may exit. Later events are
    /// dropped and counted. Idempotent; dropping the last clone of the client does the
    /// same. Without batched delivery the report is empty.
    pub fn close(&self) -> CloseReport {
        if let Some(manager) = self.inner.datafile_manager.get() {
            manager.stop();
        }
        match &self.inner.sink {
            EventSink::Batched(processor) => processor.close(),
            _ => CloseReport::default(),
        }
    }

    /// Event delivery counters (batched delivery only).
    pub fn event_stats(&self) -> Option<EventStats> {
        match &self.inner.sink {
            EventSink::Batched(processor) => Some(processor.stats()),
            _ => None,
        }
    }

    /// Datafile polling counters (polling only).
    pub fn datafile_stats(&self) -> Option<DatafileStats> {
        self.inner.datafile_manager.get().map(PollingDatafileManager::stats)
    }

    /// A user context for the decide API.
    pub fn create_user_context(&self, user_id: impl Into<String>, attributes: Attributes) -> UserContext {
        UserContext::new(self.clone(), user_id.into(), attributes)
    }

    /// The user's variation in an experiment, with an impression event when there is one.
    pub fn activate(&self, experiment_key: &str, user_id: &str, attributes: &Attributes) -> Option<DecidedVariation> {
        let variation = self.get_variation(experiment_key, user_id, attributes)?;
        events::send_impression(self, &variation.loaded, user_id, attributes, ImpressionOf::Activate(variation.at));
        Some(variation)
    }

    /// The user's variation in an experiment (top-level, grouped, or a rollout rule's
    /// key), without sending an event.
    pub fn get_variation(
        &self,
        experiment_key: &str,
        user_id: &str,
        attributes: &Attributes,
    ) -> Option<DecidedVariation> {
        let loaded = self.loaded()?;
        let experiment = loaded.config.experiment_by_key(experiment_key)?;
        let forced = self.inner.forced.view();
        let mut user = User::new(user_id, attributes);
        user.forced_variations = forced.for_user(user_id);
        let mut profile = self.lookup_profile(user_id, DecideOptions::NONE);
        let (at, _) = experiment_variation(&loaded.config, experiment, &user, profile.as_mut(), &mut ());
        self.save_profile(user_id, profile);
        decision_notice::experiment(self, &loaded.config, experiment, at, user_id, attributes);
        Some(DecidedVariation { at: at?, loaded })
    }

    /// Sends a conversion event for `event_key` (nothing when the key is unknown).
    pub fn track(&self, event_key: &str, user_id: &str, attributes: &Attributes, tags: Option<&Map<String, Value>>) {
        let Some(loaded) = self.loaded() else { return };
        events::send_conversion(self, &loaded, event_key, user_id, attributes, tags);
    }

    /// Forces `variation_key` for the user in an experiment (`None` clears it). False when
    /// the experiment or the variation is unknown.
    pub fn set_forced_variation(&self, experiment_key: &str, user_id: &str, variation_key: Option<&str>) -> bool {
        let Some(config) = self.config() else { return false };
        let Some(e) = config.experiment_by_key(experiment_key) else { return false };
        let exp = &config.experiments[e];
        match variation_key {
            None => {
                self.inner.forced.clear(user_id, &exp.id);
                true
            }
            Some(key) => match exp.variation_by_key(key).filter(|_| !key.is_empty()) {
                Some(v) => {
                    self.inner.forced.set(user_id, &exp.id, &exp.variations[v].id);
                    true
                }
                None => false,
            },
        }
    }

    /// The variation forced for the user in an experiment, whatever the experiment's status.
    pub fn get_forced_variation(&self, experiment_key: &str, user_id: &str) -> Option<String> {
        let config = self.config()?;
        let exp = &config.experiments[config.experiment_by_key(experiment_key)?];
        let id = self.inner.forced.get(user_id, &exp.id)?;
        exp.variation_by_id(&id).map(|v| exp.variations[v].key.clone())
    }

    /// Whether the flag is on for the user (sends an impression per decisions.md §7).
    pub fn is_feature_enabled(&self, flag_key: &str, user_id: &str, attributes: &Attributes) -> bool {
        let Some(loaded) = self.loaded() else { return false };
        let Some(flag) = loaded.config.flag_by_key(flag_key) else { return false };
        let decision = self.legacy_flag_decision(&loaded.config, flag, user_id, attributes);
        events::send_legacy_flag_impression(self, &loaded, user_id, attributes, &decision);
        decision_notice::feature(self, &loaded.config, &decision, user_id, attributes);
        decision.enabled
    }

    /// Keys of the flags that are on for the user, in datafile order (with the impressions
    /// of [`Client::is_feature_enabled`] for each flag).
    pub fn get_enabled_features(&self, user_id: &str, attributes: &Attributes) -> Vec<String> {
        let Some(loaded) = self.loaded() else { return Vec::new() };
        (0..loaded.config.flags.len())
            .filter(|&flag| {
                let decision = self.legacy_flag_decision(&loaded.config, flag, user_id, attributes);
                events::send_legacy_flag_impression(self, &loaded, user_id, attributes, &decision);
                decision_notice::feature(self, &loaded.config, &decision, user_id, attributes);
                decision.enabled
            })
            .map(|flag| loaded.config.flags[flag].key.clone())
            .collect()
    }

    /// A variable's typed value for the user (no event).
    pub fn get_feature_variable(
        &self,
        flag_key: &str,
        variable_key: &str,
        user_id: &str,
        attributes: &Attributes,
    ) -> Option<Value> {
        self.typed_variable(flag_key, variable_key, None, user_id, attributes)
    }

    /// A boolean variable's value; `None` when the variable has another type.
    pub fn get_feature_variable_boolean(
        &self,
        flag: &str,
        variable: &str,
        user_id: &str,
        attributes: &Attributes,
    ) -> Option<bool> {
        self.typed_variable(flag, variable, Some(VariableType::Boolean), user_id, attributes)?.as_bool()
    }

    /// A double variable's value; `None` when the variable has another type.
    pub fn get_feature_variable_double(
        &self,
        flag: &str,
        variable: &str,
        user_id: &str,
        attributes: &Attributes,
    ) -> Option<f64> {
        self.typed_variable(flag, variable, Some(VariableType::Double), user_id, attributes)?.as_f64()
    }

    /// An integer variable's value; `None` when the variable has another type.
    pub fn get_feature_variable_integer(
        &self,
        flag: &str,
        variable: &str,
        user_id: &str,
        attributes: &Attributes,
    ) -> Option<i64> {
        self.typed_variable(flag, variable, Some(VariableType::Integer), user_id, attributes)?.as_i64()
    }

    /// A string variable's value; `None` when the variable has another type.
    pub fn get_feature_variable_string(
        &self,
        flag: &str,
        variable: &str,
        user_id: &str,
        attributes: &Attributes,
    ) -> Option<String> {
        match self.typed_variable(flag, variable, Some(VariableType::String), user_id, attributes)? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A JSON variable's value; `None` when the variable has another type.
    pub fn get_feature_variable_json(
        &self,
        flag: &str,
        variable: &str,
        user_id: &str,
        attributes: &Attributes,
    ) -> Option<Value> {
        self.typed_variable(flag, variable, Some(VariableType::Json), user_id, attributes)
    }

    /// Every variable of the flag with its typed value for the user (no event).
    pub fn get_all_feature_variables(
        &self,
        flag_key: &str,
        user_id: &str,
        attributes: &Attributes,
    ) -> Option<Map<String, Value>> {
        let config = self.config()?;
        let flag = config.flag_by_key(flag_key)?;
        let decision = self.legacy_flag_decision(&config, flag, user_id, attributes).with_truthy_enabled(&config);
        let values = variables_map(&config, &decision);
        decision_notice::all_variables(self, &config, &decision, &values, user_id, attributes);
        Some(values)
    }

    fn typed_variable(
        &self,
        flag_key: &str,
        variable_key: &str,
        expected: Option<VariableType>,
        user_id: &str,
        attributes: &Attributes,
    ) -> Option<Value> {
        let config = self.config()?;
        let flag = config.flag_by_key(flag_key)?;
        let variable = config.flags[flag].variable_by_key(variable_key)?;
        if expected.is_some_and(|t| t != config.flags[flag].variables[variable].kind) {
            return None;
        }
        let decision = self.legacy_flag_decision(&config, flag, user_id, attributes).with_truthy_enabled(&config);
        decision_notice::variable(self, &config, &decision, variable, user_id, attributes);
        Some(decision.variable_value(&config, variable).clone()).filter(|v| !v.is_null())
    }

    /// A flag decision for the legacy APIs: no forced decisions, profile read and saved.
    fn legacy_flag_decision(
        &self,
        config: &ProjectConfig,
        flag: usize,
        user_id: &str,
        attributes: &Attributes,
    ) -> FlagDecision {
        let forced = self.inner.forced.view();
        let mut user = User::new(user_id, attributes);
        user.forced_variations = forced.for_user(user_id);
        let mut profile = self.lookup_profile(user_id, DecideOptions::NONE);
        let decision = decide_flag(config, flag, &user, profile.as_mut(), &mut ());
        self.save_profile(user_id, profile);
        decision
    }

    /// The user's profile state for one call, unless there is no service or it is ignored.
    #[inline]
    pub(crate) fn lookup_profile(&self, user_id: &str, options: DecideOptions) -> Option<ProfileState> {
        // Inlined down to this test: most clients have no profile service.
        let service = self.inner.profiles.as_deref()?;
        if options.contains(DecideOptions::IGNORE_USER_PROFILE_SERVICE) {
            return None;
        }
        Some(Self::read_profile(service, user_id))
    }

    fn read_profile(service: &dyn UserProfileService, user_id: &str) -> ProfileState {
        let bucket_map = match service.lookup(user_id) {
            Ok(Some(profile)) => profile.experiment_bucket_map.into_iter().collect(),
            Ok(None) => Default::default(),
            Err(error) => {
                tracing::warn!(user_id, %error, "user profile lookup failed; deciding without the stored profile");
                Default::default()
            }
        };
        ProfileState { bucket_map, changed: false }
    }

    /// Saves the profile when the call recorded something.
    #[inline]
    pub(crate) fn save_profile(&self, user_id: &str, profile: Option<ProfileState>) {
        if let (Some(service), Some(profile)) = (self.inner.profiles.as_deref(), profile)
            && profile.changed
        {
            Self::write_profile(service, user_id, profile);
        }
    }

    fn write_profile(service: &dyn UserProfileService, user_id: &str, profile: ProfileState) {
        let profile = UserProfile {
            user_id: user_id.to_owned(),
            experiment_bucket_map: profile.bucket_map.into_iter().collect(),
        };
        if let Err(error) = service.save(&profile) {
            tracing::warn!(user_id, %error, "user profile save failed");
        }
    }
}

/// All variables of a decision's flag with their typed values.
pub(crate) fn variables_map(config: &ProjectConfig, decision: &FlagDecision) -> Map<String, Value> {
    config.flags[decision.flag]
        .variables
        .iter()
        .enumerate()
        .map(|(i, var)| (var.key.clone(), decision.variable_value(config, i).clone()))
        .collect()
}
