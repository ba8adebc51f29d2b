//! Assembling user events into one batch (events.md §2) and writing it as JSON.

use smol_str::SmolStr;

use crate::model::{EventBatch, Visitor};
use crate::user_event::{Envelope, UserEvent};
use crate::write;
use crate::{CLIENT_NAME, CLIENT_VERSION};

impl EventBatch {
    /// The batch of `events` as the wire model, one visitor each in order, with the
    /// envelope of the first; `None` for no events. Reads each event's JSON back (a
    /// batch to send is [`crate::LogEvent::from_events`], which does not).
    pub fn from_events(events: &[UserEvent]) -> Option<Self> {
        let first = events.first()?;
        Some(Self::with_envelope(first.envelope(), events.iter().map(|e| e.visitor().clone()).collect()))
    }

    /// [`EventBatch::from_events`] without copying visitors already read back.
    pub fn from_owned_events(events: Vec<UserEvent>) -> Option<Self> {
        let envelope = events.first()?.shared_envelope().clone();
        Some(Self::with_envelope(&envelope, events.into_iter().map(UserEvent::into_visitor).collect()))
    }

    /// A batch of `visitors` under `envelope`, as this SDK sends it.
    pub fn with_envelope(envelope: &Envelope, visitors: Vec<Visitor>) -> Self {
        Self {
            account_id: envelope.account_id.clone(),
            project_id: envelope.project_id.clone(),
            revision: envelope.revision.clone(),
            client_name: SmolStr::new_static(CLIENT_NAME),
            client_version: SmolStr::new_static(CLIENT_VERSION),
            anonymize_ip: envelope.anonymize_ip.clone(),
            enrich_decisions: true,
            visitors,
        }
    }

    /// The JSON body (compact, keys in the reference order): the same bytes as
    /// `serde_json::to_vec(self)`, written faster.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        // Room for a typical visitor up front, so the writer rarely grows the buffer.
        let mut out = Vec::with_capacity(256 + 768 * self.visitors.len());
        write::batch(&mut out, self);
        out
    }

    /// The JSON body as text.
    pub fn to_json_string(&self) -> String {
        String::from_utf8(self.to_json_bytes()).unwrap_or_default()
    }
}
