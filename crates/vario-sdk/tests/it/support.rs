//! Small hand-written datafiles, a client wired to an in-memory event collector, and a
//! user profile service that records its calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use vario_events::CollectingDispatcher;
use vario_sdk::{Attributes, Client, ClientBuilder, ProfileServiceError, UserContext, UserProfile, UserProfileService};

pub(crate) mod server;

/// A datafile under construction (account `12001`, project `12002`, revision `42`).
#[derive(Clone)]
pub(crate) struct Df(pub(crate) Value);

impl Df {
    /// The minimal valid datafile, with every optional list present and empty.
    pub(crate) fn new() -> Self {
        Self(json!({
            "version": "4", "accountId": "12001", "projectId": "12002", "revision": "42",
            "groups": [], "experiments": [], "events": [], "audiences": [], "attributes": [],
            "typedAudiences": [], "featureFlags": [], "rollouts": []
        }))
    }

    /// Appends `item` to the top-level list `key`.
    pub(crate) fn push(mut self, key: &str, item: Value) -> Self {
        self.0[key].as_array_mut().unwrap_or_else(|| panic!("{key} is not a list")).push(item);
        self
    }

    /// Sets the top-level `key`.
    pub(crate) fn set(mut self, key: &str, value: Value) -> Self {
        self.0[key] = value;
        self
    }

    pub(crate) fn experiment(self, e: Value) -> Self {
        self.push("experiments", e)
    }

    pub(crate) fn flag(self, f: Value) -> Self {
        self.push("featureFlags", f)
    }

    pub(crate) fn rollout(self, r: Value) -> Self {
        self.push("rollouts", r)
    }

    pub(crate) fn group(self, g: Value) -> Self {
        self.push("groups", g)
    }

    pub(crate) fn typed_audience(self, id: &str, conditions: Value) -> Self {
        self.push("typedAudiences", json!({"id": id, "name": id, "conditions": conditions}))
    }

    /// A legacy audience: the conditions are stored as a JSON string.
    pub(crate) fn legacy_audience(self, id: &str, conditions: Value) -> Self {
        self.push("audiences", json!({"id": id, "name": id, "conditions": conditions.to_string()}))
    }

    pub(crate) fn attribute(self, id: &str, key: &str) -> Self {
        self.push("attributes", json!({"id": id, "key": key}))
    }

    pub(crate) fn event(self, id: &str, key: &str) -> Self {
        self.push("events", json!({"id": id, "key": key, "experimentIds": []}))
    }

    pub(crate) fn text(&self) -> String {
        self.0.to_string()
    }

    /// A client with an event collector.
    pub(crate) fn client(&self) -> Harness {
        self.client_with(|b| b)
    }

    /// A client with an event collector and whatever `configure` adds.
    pub(crate) fn client_with(&self, configure: impl FnOnce(ClientBuilder) -> ClientBuilder) -> Harness {
        let sink = Arc::new(CollectingDispatcher::new());
        let builder = Client::builder().datafile(&self.text()).expect("test datafile must load");
        // Immediate delivery: each test looks at the events right after the call.
        let client = configure(builder.event_dispatcher(Arc::clone(&sink)).immediate_events())
            .build()
            .expect("test client must start");
        Harness { client, sink }
    }
}

/// A client and the events it dispatched.
pub(crate) struct Harness {
    pub(crate) client: Client,
    pub(crate) sink: Arc<CollectingDispatcher>,
}

impl Harness {
    /// The event batches dispatched since the last call, as wire JSON.
    pub(crate) fn events(&self) -> Vec<Value> {
        self.sink
            .take()
            .iter()
            .map(|e| serde_json::from_slice(&e.to_json_bytes()).expect("event body is JSON"))
            .collect()
    }

    /// Exactly one event batch, as wire JSON.
    pub(crate) fn one_event(&self) -> Value {
        let mut events = self.events();
        assert_eq!(events.len(), 1, "expected exactly one event: {events:#?}");
        events.remove(0)
    }

    pub(crate) fn user(&self, id: &str, attributes: Value) -> UserContext {
        self.client.create_user_context(id, attrs(attributes))
    }

    /// `get_variation` as a plain key.
    pub(crate) fn variation(&self, experiment: &str, user: &str, attributes: Value) -> Option<String> {
        self.client.get_variation(experiment, user, &attrs(attributes)).map(|v| v.key().to_owned())
    }

    /// `activate` as a plain key.
    pub(crate) fn activate(&self, experiment: &str, user: &str, attributes: Value) -> Option<String> {
        self.client.activate(experiment, user, &attrs(attributes)).map(|v| v.key().to_owned())
    }
}

/// Attributes from a JSON object, in its key order.
pub(crate) fn attrs(v: Value) -> Attributes {
    match v {
        Value::Object(map) => Attributes::from(map),
        Value::Null => Attributes::new(),
        other => panic!("attributes must be an object, got {other}"),
    }
}

/// JSON object → map (event tags).
pub(crate) fn map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(map) => map,
        other => panic!("expected an object, got {other}"),
    }
}

/// A running experiment with no audiences and no whitelist. `variations` are
/// `(id, key, featureEnabled)`, `traffic` is `(entityId, endOfRange)`.
pub(crate) fn experiment(id: &str, key: &str, variations: &[(&str, &str, bool)], traffic: &[(&str, i64)]) -> Value {
    json!({
        "id": id, "key": key, "layerId": format!("{id}0"), "status": "Running",
        "audienceIds": [], "forcedVariations": {},
        "variations": variations.iter().map(|(id, key, on)| json!({"id": id, "key": key, "featureEnabled": on})).collect::<Vec<_>>(),
        "trafficAllocation": traffic.iter().map(|(e, end)| json!({"entityId": e, "endOfRange": end})).collect::<Vec<_>>(),
    })
}

/// `experiment` with one more field set.
pub(crate) fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

/// The experiment of bucketing.md §11: id `1886780721`, variations `a` (id `A`, enabled)
/// and `b` (id `B`, disabled) split 5000/10000.
pub(crate) fn split_experiment(key: &str) -> Value {
    experiment("1886780721", key, &[("A", "a", true), ("B", "b", false)], &[("A", 5000), ("B", 10000)])
}

pub(crate) fn flag(id: &str, key: &str, experiment_ids: &[&str], rollout_id: &str, variables: Value) -> Value {
    json!({"id": id, "key": key, "experimentIds": experiment_ids, "rolloutId": rollout_id, "variables": variables})
}

pub(crate) fn rollout(id: &str, rules: Vec<Value>) -> Value {
    json!({"id": id, "experiments": rules})
}

/// A delivery rule whose variations are all served to the whole traffic of the first.
pub(crate) fn rule(id: &str, key: &str, rollout_id: &str, variations: &[(&str, &str, bool)], end: i64) -> Value {
    with(experiment(id, key, variations, &[(variations[0].0, end)]), "layerId", json!(rollout_id))
}

/// Everything a [`Profiles`] service saw.
#[derive(Default)]
pub(crate) struct ProfileLog {
    pub(crate) store: HashMap<String, UserProfile>,
    pub(crate) lookups: Vec<String>,
    pub(crate) saves: Vec<UserProfile>,
}

/// A user profile service that keeps profiles in memory and records every call.
#[derive(Clone, Default)]
pub(crate) struct Profiles(pub(crate) Arc<Mutex<ProfileLog>>);

impl Profiles {
    /// A service already holding `user`'s map of experiment id → variation id.
    pub(crate) fn with(user: &str, entries: &[(&str, &str)]) -> Self {
        let p = Self::default();
        let map = entries.iter().map(|(e, v)| ((*e).to_owned(), (*v).to_owned())).collect();
        p.log().store.insert(user.to_owned(), UserProfile { user_id: user.to_owned(), experiment_bucket_map: map });
        p
    }

    pub(crate) fn log(&self) -> std::sync::MutexGuard<'_, ProfileLog> {
        self.0.lock().unwrap()
    }

    pub(crate) fn lookups(&self) -> usize {
        self.log().lookups.len()
    }

    pub(crate) fn saves(&self) -> Vec<UserProfile> {
        self.log().saves.clone()
    }

    pub(crate) fn stored(&self, user: &str) -> Option<HashMap<String, String>> {
        self.log().store.get(user).map(|p| p.experiment_bucket_map.clone())
    }
}

impl UserProfileService for Profiles {
    fn lookup(&self, user_id: &str) -> Result<Option<UserProfile>, ProfileServiceError> {
        let mut log = self.log();
        log.lookups.push(user_id.to_owned());
        Ok(log.store.get(user_id).cloned())
    }

    fn save(&self, profile: &UserProfile) -> Result<(), ProfileServiceError> {
        let mut log = self.log();
        log.saves.push(profile.clone());
        log.store.insert(profile.user_id.clone(), profile.clone());
        Ok(())
    }
}

/// The first (only) visitor's decision of an impression batch.
pub(crate) fn decision_of(batch: &Value) -> &Value {
    &batch["visitors"][0]["snapshots"][0]["decisions"][0]
}

/// The first (only) visitor's snapshot event.
pub(crate) fn event_of(batch: &Value) -> &Value {
    &batch["visitors"][0]["snapshots"][0]["events"][0]
}
