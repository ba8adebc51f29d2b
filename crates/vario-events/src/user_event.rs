//! One user's impression or conversion, ready to be batched: the visitor as it goes on
//! the wire plus the envelope of the config it was made from.

use std::sync::{Arc, OnceLock};

use serde_json::Value;
use smol_str::SmolStr;
use vario_datafile::ProjectConfig;

use crate::event_uuid::EventUuid;
use crate::model::{SnapshotEvent, Visitor};
use crate::write;

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
///
/// It holds its visitor as the JSON that is sent: batches are that JSON joined, so an
/// event is written once, when it is made, and sending it builds nothing. The wire
/// model ([`Visitor`]) is read back from the JSON only when asked for
/// ([`UserEvent::visitor`]: notification listeners, tests).
#[derive(Clone)]
pub struct UserEvent {
    envelope: Arc<Envelope>,
    /// The visitor's compact JSON, exactly as sent.
    json: Vec<u8>,
    // What the JSON says that callers read often, kept so that reading it parses nothing.
    uuid: EventUuid,
    timestamp: i64,
    impression: bool,
    user_id: SmolStr,
    /// The model, once read back from `json` (or the one it was written from).
    visitor: OnceLock<Visitor>,
}

impl UserEvent {
    /// Pairs a visitor with its envelope. The builders make visitors with exactly one
    /// snapshot holding exactly one event.
    pub(crate) fn new(envelope: Arc<Envelope>, visitor: Visitor) -> Self {
        let mut json = Vec::with_capacity(512);
        write::visitor(&mut json, &visitor);
        let event = visitor.snapshots.first().and_then(|s| s.events.first());
        Self {
            uuid: event.map(|e| e.uuid.clone()).unwrap_or_default(),
            timestamp: event.map_or(0, |e| e.timestamp),
            impression: visitor.snapshots.first().is_some_and(|s| s.decisions.is_some()),
            user_id: visitor.visitor_id.clone(),
            envelope,
            json,
            visitor: OnceLock::from(visitor),
        }
    }

    /// An event whose visitor JSON was written directly (see `write::single_event_visitor`).
    pub(crate) fn rendered(envelope: Arc<Envelope>, json: Vec<u8>, event: RenderedEvent) -> Self {
        let RenderedEvent { uuid, timestamp, impression, user_id } = event;
        Self { envelope, json, uuid, timestamp, impression, user_id, visitor: OnceLock::new() }
    }

    /// The envelope of the config the event was made from.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The shared envelope.
    pub fn shared_envelope(&self) -> &Arc<Envelope> {
        &self.envelope
    }

    /// The visitor's JSON, exactly as sent.
    pub fn visitor_json(&self) -> &[u8] {
        &self.json
    }

    /// The visitor as sent (read back from its JSON on first use).
    pub fn visitor(&self) -> &Visitor {
        self.visitor.get_or_init(|| read_visitor(&self.json))
    }

    /// The visitor as sent, without copying when it was read already.
    pub fn into_visitor(self) -> Visitor {
        let Self { json, visitor, .. } = self;
        visitor.into_inner().unwrap_or_else(|| read_visitor(&json))
    }

    /// The user id.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The snapshot event (the only one).
    pub fn event(&self) -> Option<&SnapshotEvent> {
        self.visitor().snapshots.first()?.events.first()
    }

    /// The event's uuid.
    pub fn uuid(&self) -> &str {
        self.uuid.as_str()
    }

    /// The event's timestamp, epoch milliseconds.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// Whether this is an impression (it carries a decision).
    pub fn is_impression(&self) -> bool {
        self.impression
    }

    /// The endpoint a batch starting with this event goes to.
    pub fn url(&self) -> &'static str {
        self.envelope.url
    }

    /// Replaces the uuid.
    #[must_use]
    pub fn with_uuid(self, uuid: impl Into<SmolStr>) -> Self {
        let uuid = EventUuid::from(uuid.into());
        self.edited(|event| event.uuid = uuid)
    }

    /// Replaces the timestamp (epoch milliseconds).
    #[must_use]
    pub fn with_timestamp(self, timestamp_ms: i64) -> Self {
        self.edited(|event| event.timestamp = timestamp_ms)
    }

    /// The event with its snapshot event changed by `edit`, written again.
    fn edited(self, edit: impl FnOnce(&mut SnapshotEvent)) -> Self {
        let envelope = Arc::clone(&self.envelope);
        let mut visitor = self.into_visitor();
        if let Some(event) = visitor.snapshots.first_mut().and_then(|s| s.events.first_mut()) {
            edit(event);
        }
        Self::new(envelope, visitor)
    }

    /// Whether this event may join a batch whose last event is `last` (events.md §8):
    /// same revision and project. Account, region and `anonymize_ip` are not compared.
    pub fn batches_with(&self, last: &Self) -> bool {
        let (a, b) = (&*self.envelope, &*last.envelope);
        Arc::ptr_eq(&self.envelope, &last.envelope) || (a.revision == b.revision && a.project_id == b.project_id)
    }
}

/// What an event written directly says about itself (see [`UserEvent::rendered`]).
pub(crate) struct RenderedEvent {
    pub(crate) uuid: EventUuid,
    pub(crate) timestamp: i64,
    pub(crate) impression: bool,
    pub(crate) user_id: SmolStr,
}

/// Equal when they are sent the same way: same envelope, same visitor JSON.
impl PartialEq for UserEvent {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json && self.envelope == other.envelope
    }
}

impl std::fmt::Debug for UserEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserEvent")
            .field("envelope", &self.envelope)
            .field("visitor", &String::from_utf8_lossy(&self.json))
            .finish()
    }
}

/// The model of a visitor JSON written by this crate. It always reads back; should it
/// not (a bug), an empty visitor stands in rather than a panic.
fn read_visitor(json: &[u8]) -> Visitor {
    serde_json::from_slice(json).unwrap_or_else(|_| Visitor {
        snapshots: Vec::new(),
        attributes: Vec::new(),
        visitor_id: SmolStr::default(),
    })
}
