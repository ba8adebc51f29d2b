//! One user's impression or conversion, ready to be batched: the visitor as it goes on
//! the wire plus the envelope of the config it was made from.

use std::sync::Arc;

use serde_json::Value;
use smol_str::SmolStr;
use vario_datafile::ProjectConfig;

use crate::event_uuid::EventUuid;
use crate::model::{SnapshotEvent, Visitor};

/// What a batch takes from its first event (events.md §2) and where it is sent (§1).
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Datafile `accountId`.
    pub account_id: SmolStr,
    /// Datafile `projectId`.
    pub project_id: SmolStr,
    /// Datafile `revision`.
    pub revision: SmolStr,
    /// Datafile `anonymizeIP`, verbatim.
    pub anonymize_ip: Value,
    /// The event endpoint of the datafile's region.
    pub url: &'static str,
}

impl Envelope {
    /// The envelope of events made from `config`.
    pub fn from_config(config: &ProjectConfig) -> Self {
        Self {
            account_id: SmolStr::new(&config.account_id),
            project_id: SmolStr::new(&config.project_id),
            revision: SmolStr::new(&config.revision),
            anonymize_ip: config.anonymize_ip.clone(),
            url: config.event_endpoint(),
        }
    }
}

/// An impression or a conversion of one user. Made by [`crate::EventFactory`]; its uuid
/// and timestamp are set at creation and may be replaced (tests, replay).
#[derive(Debug, Clone, PartialEq)]
pub struct UserEvent {
    envelope: Arc<Envelope>,
    visitor: Visitor,
}

impl UserEvent {
    /// Pairs a visitor with its envelope. The builders make visitors with exactly one
    /// snapshot holding exactly one event.
    pub(crate) fn new(envelope: Arc<Envelope>, visitor: Visitor) -> Self {
        Self { envelope, visitor }
    }

    /// The envelope of the config the event was made from.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The shared envelope.
    pub fn shared_envelope(&self) -> &Arc<Envelope> {
        &self.envelope
    }

    /// The visitor as sent.
    pub fn visitor(&self) -> &Visitor {
        &self.visitor
    }

    /// The visitor as sent, without copying.
    pub fn into_visitor(self) -> Visitor {
        self.visitor
    }

    /// The user id.
    pub fn user_id(&self) -> &str {
        &self.visitor.visitor_id
    }

    /// The snapshot event (the only one).
    pub fn event(&self) -> Option<&SnapshotEvent> {
        self.visitor.snapshots.first()?.events.first()
    }

    fn event_mut(&mut self) -> Option<&mut SnapshotEvent> {
        self.visitor.snapshots.first_mut()?.events.first_mut()
    }

    /// The event's uuid.
    pub fn uuid(&self) -> &str {
        self.event().map_or("", |e| e.uuid.as_str())
    }

    /// The event's timestamp, epoch milliseconds.
    pub fn timestamp(&self) -> i64 {
        self.event().map_or(0, |e| e.timestamp)
    }

    /// Whether this is an impression (it carries a decision).
    pub fn is_impression(&self) -> bool {
        self.visitor.snapshots.first().is_some_and(|s| s.decisions.is_some())
    }

    /// The endpoint a batch starting with this event goes to.
    pub fn url(&self) -> &'static str {
        self.envelope.url
    }

    /// Replaces the uuid.
    #[must_use]
    pub fn with_uuid(mut self, uuid: impl Into<SmolStr>) -> Self {
        if let Some(event) = self.event_mut() {
            event.uuid = EventUuid::from(uuid.into());
        }
        self
    }

    /// Replaces the timestamp (epoch milliseconds).
    #[must_use]
    pub fn with_timestamp(mut self, timestamp_ms: i64) -> Self {
        if let Some(event) = self.event_mut() {
            event.timestamp = timestamp_ms;
        }
        self
    }

    /// Whether this event may join a batch whose last event is `last` (events.md §8):
    /// same revision and project. Account, region and `anonymize_ip` are not compared.
    pub fn batches_with(&self, last: &Self) -> bool {
        let (a, b) = (&*self.envelope, &*last.envelope);
        Arc::ptr_eq(&self.envelope, &last.envelope) || (a.revision == b.revision && a.project_id == b.project_id)
    }
}
