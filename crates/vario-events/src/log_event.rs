//! The request a dispatcher sends for one batch (events.md §1).

use std::borrow::Cow;

use crate::model::EventBatch;
use crate::user_event::UserEvent;

/// The only method the event endpoint takes.
pub const HTTP_VERB: &str = "POST";
/// The headers of every event request.
pub const HEADERS: &[(&str, &str)] = &[("Content-Type", "application/json")];

/// One POST of one batch, as handed to an [`crate::EventDispatcher`].
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    /// The endpoint, chosen by the region of the batch's first event.
    pub url: Cow<'static, str>,
    /// Always `POST`.
    pub http_verb: &'static str,
    /// The body.
    pub params: EventBatch,
    /// `Content-Type: application/json`.
    pub headers: &'static [(&'static str, &'static str)],
}

impl LogEvent {
    /// A POST of `params` to `url`.
    pub fn new(url: impl Into<Cow<'static, str>>, params: EventBatch) -> Self {
        Self { url: url.into(), http_verb: HTTP_VERB, params, headers: HEADERS }
    }

    /// The request for a batch of `events`; `None` for no events. Copies the visitors;
    /// see [`LogEvent::from_owned_events`].
    pub fn from_events(events: &[UserEvent]) -> Option<Self> {
        let url = events.first()?.url();
        Some(Self::new(url, EventBatch::from_events(events)?))
    }

    /// [`LogEvent::from_events`] without copying the visitors.
    pub fn from_owned_events(events: Vec<UserEvent>) -> Option<Self> {
        let url = events.first()?.url();
        Some(Self::new(url, EventBatch::from_owned_events(events)?))
    }

    /// The JSON body.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        self.params.to_json_bytes()
    }

    /// The JSON body as text.
    pub fn to_json_string(&self) -> String {
        self.params.to_json_string()
    }
}

impl From<UserEvent> for LogEvent {
    /// The request for a batch of one event (batch size 1).
    fn from(event: UserEvent) -> Self {
        let url = event.url();
        let envelope = event.shared_envelope().clone();
        Self::new(url, EventBatch::with_envelope(&envelope, vec![event.into_visitor()]))
    }
}
