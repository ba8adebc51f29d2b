//! The decide API: a user context and the decisions it makes (decisions.md §6).

use std::sync::{Arc, OnceLock};

use smol_str::SmolStr;

use serde_json::{Map, Value};
use vario_core::{AttributeValue, Attributes, FlagDecision, ForcedDecisions, ProfileState, Reason, User, decide_flag};
use vario_datafile::ProjectConfig;

use crate::client::{Client, Loaded, variables_map};
use crate::decision_notice;
use crate::events;
use crate::notification::NotificationKind;
use crate::options::DecideOptions;

/// A user with attributes and forced decisions, bound to a client.
#[derive(Clone)]
pub struct UserContext {
    client: Client,
    // Shared, so that events queued from this context need not copy them.
    user_id: SmolStr,
    attributes: Arc<Attributes>,
    forced_decisions: ForcedDecisions,
}

/// Why a decision has no flag behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecisionError {
    /// The client has no valid config yet.
    NotConfigured,
    /// The datafile has no flag with this key.
    UnknownFlag,
}

/// One flag's decision for a user. Variables are cast when the datafile loads and
/// collected into a map only when [`Decision::variables`] is first called.
#[derive(Clone)]
pub struct Decision {
    outcome: Result<(Arc<Loaded>, FlagDecision), (String, DecisionError)>,
    exclude_variables: bool,
    variables: OnceLock<Map<String, Value>>,
    trace: Vec<Reason>,
    report_error: bool,
}

impl Decision {
    #[inline(always)]
    fn made(loaded: Arc<Loaded>, decision: FlagDecision, trace: Vec<Reason>, options: DecideOptions) -> Self {
        Self {
            outcome: Ok((loaded, decision)),
            exclude_variables: options.contains(DecideOptions::EXCLUDE_VARIABLES),
            variables: OnceLock::new(),
            trace,
            report_error: true,
        }
    }

    fn failed(flag_key: &str, error: DecisionError, report_error: bool) -> Self {
        Self {
            outcome: Err((flag_key.to_owned(), error)),
            exclude_variables: true,
            variables: OnceLock::new(),
            trace: Vec::new(),
            report_error,
        }
    }

    /// The flag key asked for.
    pub fn flag_key(&self) -> &str {
        match &self.outcome {
            Ok((loaded, d)) => &loaded.config.flags[d.flag].key,
            Err((key, _)) => key,
        }
    }

    /// Whether the flag is on.
    pub fn enabled(&self) -> bool {
        self.outcome.as_ref().is_ok_and(|(_, d)| d.enabled)
    }

    /// The chosen variation's key.
    pub fn variation_key(&self) -> Option<&str> {
        let (loaded, d) = self.outcome.as_ref().ok()?;
        d.variation(&loaded.config).map(|v| v.key.as_str())
    }

    /// The key of the experiment, delivery rule or holdout that decided (`None` for a
    /// flag-level forced decision or no decision).
    pub fn rule_key(&self) -> Option<&str> {
        let (loaded, d) = self.outcome.as_ref().ok()?;
        d.rule_key(&loaded.config)
    }

    /// The flag's variables and their typed values (empty with `EXCLUDE_VARIABLES`).
    pub fn variables(&self) -> &Map<String, Value> {
        self.variables.get_or_init(|| match &self.outcome {
            Ok((loaded, d)) if !self.exclude_variables => variables_map(&loaded.config, d),
            _ => Map::new(),
        })
    }

    /// The variables, taken out of the decision: no copy when they were collected
    /// already, and none kept when they were not.
    pub fn into_variables(mut self) -> Map<String, Value> {
        if let Some(variables) = self.variables.take() {
            return variables;
        }
        match &self.outcome {
            Ok((loaded, d)) if !self.exclude_variables => variables_map(&loaded.config, d),
            _ => Map::new(),
        }
    }

    /// One variable's typed value (`None` for an unknown key or with `EXCLUDE_VARIABLES`).
    pub fn variable(&self, key: &str) -> Option<&Value> {
        let (loaded, d) = self.outcome.as_ref().ok().filter(|_| !self.exclude_variables)?;
        let i = loaded.config.flags[d.flag].variable_by_key(key)?;
        Some(d.variable_value(&loaded.config, i))
    }

    /// The experiment (or holdout) id and variation id behind the decision, as reported
    /// in notifications.
    pub(crate) fn wire_ids(&self) -> (Option<String>, Option<String>) {
        let Ok((loaded, d)) = &self.outcome else { return (None, None) };
        let config = &loaded.config;
        let experiment = match d.holdout(config) {
            Some(h) => Some(h.id.clone()),
            None => d.rule().map(|e| config.experiments[e].id.clone()),
        };
        (experiment, d.variation(config).map(|v| v.id.clone()))
    }

    /// The engine's decision, with machine-readable source and reason.
    pub fn flag_decision(&self) -> Option<&FlagDecision> {
        self.outcome.as_ref().ok().map(|(_, d)| d)
    }

    /// Why there is no flag behind this decision.
    pub fn error(&self) -> Option<&DecisionError> {
        self.outcome.as_ref().err().map(|(_, e)| e)
    }

    /// Every decision step, when the call had `INCLUDE_REASONS`.
    pub fn trace(&self) -> &[Reason] {
        &self.trace
    }

    /// The reasons as sentences: errors always, decision steps with `INCLUDE_REASONS`.
    pub fn reasons(&self) -> Vec<String> {
        match &self.outcome {
            Err((_, DecisionError::NotConfigured)) if self.report_error => {
                vec!["Optimizely SDK not configured properly yet.".to_owned()]
            }
            Err((key, DecisionError::UnknownFlag)) if self.report_error => {
                vec![format!("No flag was found for key \"{key}\".")]
            }
            Err(_) => Vec::new(),
            Ok((loaded, _)) => self.trace.iter().map(|r| r.describe(&loaded.config)).collect(),
        }
    }
}

impl std::fmt::Debug for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decision")
            .field("flag_key", &self.flag_key())
            .field("enabled", &self.enabled())
            .field("variation_key", &self.variation_key())
            .field("rule_key", &self.rule_key())
            .field("variables", self.variables())
            .field("reasons", &self.reasons())
            .finish()
    }
}

impl UserContext {
    pub(crate) fn new(client: Client, user_id: String, attributes: Attributes) -> Self {
        Self {
            client,
            user_id: SmolStr::from(user_id),
            attributes: Arc::new(attributes),
            forced_decisions: ForcedDecisions::default(),
        }
    }

    /// The user id.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The attributes.
    pub fn attributes(&self) -> &Attributes {
        &self.attributes
    }

    /// Sets one attribute.
    pub fn set_attribute(&mut self, key: impl AsRef<str>, value: impl Into<AttributeValue>) {
        Arc::make_mut(&mut self.attributes).insert(key, value);
    }

    /// Forces `variation_key` for a flag (`rule_key: None`) or one of its rules.
    pub fn set_forced_decision(&mut self, flag_key: &str, rule_key: Option<&str>, variation_key: &str) -> bool {
        self.forced_decisions.set(flag_key, rule_key, variation_key);
        true
    }

    /// The forced variation key for a flag or rule.
    pub fn get_forced_decision(&self, flag_key: &str, rule_key: Option<&str>) -> Option<&str> {
        self.forced_decisions.get(flag_key, rule_key)
    }

    /// Removes a forced decision; false when there was none.
    pub fn remove_forced_decision(&mut self, flag_key: &str, rule_key: Option<&str>) -> bool {
        self.forced_decisions.remove(flag_key, rule_key)
    }

    /// Removes every forced decision.
    pub fn remove_all_forced_decisions(&mut self) -> bool {
        self.forced_decisions.clear();
        true
    }

    /// Sends a conversion event for this user.
    pub fn track_event(&self, event_key: &str, tags: Option<&Map<String, Value>>) {
        self.client.track(event_key, &self.user_id, &self.attributes, tags);
    }

    /// Decides one flag. `ENABLED_FLAGS_ONLY` has no effect here.
    pub fn decide(&self, flag_key: &str, options: DecideOptions) -> Decision {
        let options = options | self.client.inner.default_options;
        let Some(loaded) = self.client.loaded() else {
            return Decision::failed(flag_key, DecisionError::NotConfigured, true);
        };
        let Some(flag) = loaded.config.flag_by_key(flag_key) else {
            return Decision::failed(flag_key, DecisionError::UnknownFlag, true);
        };
        let mut profile = self.client.lookup_profile(&self.user_id, options);
        let (decision, trace, dispatched) = self.decide_one(&loaded, flag, options, profile.as_mut());
        if self.client.inner.notifications.has_listeners(NotificationKind::Decision) {
            let decision = Decision::made(loaded, decision, trace, options);
            self.notify(&decision, dispatched);
            self.client.save_profile(&self.user_id, profile);
            return decision;
        }
        self.client.save_profile(&self.user_id, profile);
        // Built as the returned value: a `Decision` bound to a local first is copied out
        // (about 200 bytes, a `memcpy` call) on every decide.
        Decision::made(loaded, decision, trace, options)
    }

    /// Decides each flag in `keys`, in order, with one profile lookup and save. Unknown
    /// keys give an error decision, kept even with `ENABLED_FLAGS_ONLY`.
    pub fn decide_for_keys<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k str>,
        options: DecideOptions,
    ) -> Vec<Decision> {
        let options = options | self.client.inner.default_options;
        let Some(loaded) = self.client.loaded() else { return Vec::new() };
        let mut profile = self.client.lookup_profile(&self.user_id, options);
        let mut decisions = Vec::new();
        for key in keys {
            let decision = match loaded.config.flag_by_key(key) {
                Some(flag) => {
                    let (decision, trace, dispatched) = self.decide_one(&loaded, flag, options, profile.as_mut());
                    let decision = Decision::made(Arc::clone(&loaded), decision, trace, options);
                    self.notify(&decision, dispatched);
                    decision
                }
                None => Decision::failed(key, DecisionError::UnknownFlag, false),
            };
            if !options.contains(DecideOptions::ENABLED_FLAGS_ONLY) || decision.enabled() || decision.error().is_some()
            {
                decisions.push(decision);
            }
        }
        self.client.save_profile(&self.user_id, profile);
        decisions
    }

    /// Decides every flag, in datafile order.
    pub fn decide_all(&self, options: DecideOptions) -> Vec<Decision> {
        let Some(loaded) = self.client.loaded() else { return Vec::new() };
        self.decide_for_keys(loaded.config.flags.iter().map(|f| f.key.as_str()), options)
    }

    /// One flag's decision, with its trace (empty without `INCLUDE_REASONS`) and whether
    /// an impression was sent. The caller builds the [`Decision`] and notifies.
    #[inline(always)]
    fn decide_one(
        &self,
        loaded: &Arc<Loaded>,
        flag: usize,
        options: DecideOptions,
        profile: Option<&mut ProfileState>,
    ) -> (FlagDecision, Vec<Reason>, bool) {
        let config: &ProjectConfig = &loaded.config;
        let forced = self.client.inner.forced.view();
        let mut user = User::new(&self.user_id, &self.attributes);
        user.forced_decisions = &self.forced_decisions;
        user.forced_variations = forced.for_user(&self.user_id);
        let mut trace = Vec::new();
        let decision = if options.contains(DecideOptions::INCLUDE_REASONS) {
            decide_flag(config, flag, &user, profile, &mut trace)
        } else {
            decide_flag(config, flag, &user, profile, &mut ())
        }
        .with_truthy_enabled(config);
        drop(forced);
        let sends = decision.source() != vario_core::DecisionSource::Rollout || config.send_flag_decisions;
        let sends = sends && !options.contains(DecideOptions::DISABLE_DECISION_EVENT);
        let sink_on = !self.client.inner.sink.is_off();
        if sends && sink_on {
            events::send_context_impression(&self.client, loaded, &self.user_id, &self.attributes, &decision);
        }
        (decision, trace, sends && sink_on)
    }

    /// The DECISION notification of a decide call, if anyone listens.
    fn notify(&self, decision: &Decision, dispatched: bool) {
        decision_notice::flag(&self.client, decision, dispatched, &self.user_id, &self.attributes);
    }
}
