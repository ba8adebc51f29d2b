//! The request a dispatcher sends for one batch (events.md §1).

use std::borrow::Cow;
use std::sync::OnceLock;

use crate::model::EventBatch;
use crate::user_event::UserEvent;
use crate::write;
use crate::{CLIENT_NAME, CLIENT_VERSION};

/// The only method the event endpoint takes.
pub const HTTP_VERB: &str = "POST";
/// The headers of every event request.
pub const HEADERS: &[(&str, &str)] = &[("Content-Type", "application/json")];

/// One POST of one batch, as handed to an [`crate::EventDispatcher`].
///
/// A batch made from [`UserEvent`]s holds its body as JSON (their visitors' JSON,
/// joined): sending it writes nothing. [`LogEvent::params`] reads the body back into
/// the wire model when asked.
#[derive(Clone)]
pub struct LogEvent {
    /// The endpoint, chosen by the region of the batch's first event.
    pub url: Cow<'static, str>,
    /// Always `POST`.
    pub http_verb: &'static str,
    /// `Content-Type: application/json`.
    pub headers: &'static [(&'static str, &'static str)],
    body: Body,
}

#[derive(Clone)]
enum Body {
    /// A batch's JSON, its number of visitors, and its model once read back.
    Json { json: Vec<u8>, events: usize, params: OnceLock<EventBatch> },
    /// A batch given as a model (written when its JSON is asked for).
    Model(EventBatch),
}

impl LogEvent {
    /// A POST of `params` to `url`.
    pub fn new(url: impl Into<Cow<'static, str>>, params: EventBatch) -> Self {
        Self { url: url.into(), http_verb: HTTP_VERB, headers: HEADERS, body: Body::Model(params) }
    }

    /// The request for a batch of `events`; `None` for no events.
    pub fn from_events(events: &[UserEvent]) -> Option<Self> {
        Some(Self::batch_of(events.first()?, events))
    }

    /// The batch of `events`, whose first is `first` (its envelope and url).
    fn batch_of(first: &UserEvent, events: &[UserEvent]) -> Self {
        let envelope = first.envelope();
        let size = events.iter().map(|e| e.visitor_json().len() + 1).sum::<usize>();
        let mut json = Vec::with_capacity(256 + size);
        write::batch_open(
            &mut json,
            &write::Header {
                account_id: &envelope.account_id,
                project_id: &envelope.project_id,
                revision: &envelope.revision,
                client_name: CLIENT_NAME,
                client_version: CLIENT_VERSION,
                anonymize_ip: &envelope.anonymize_ip,
                enrich_decisions: true,
            },
        );
        for (i, event) in events.iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            json.extend_from_slice(event.visitor_json());
        }
        write::batch_close(&mut json);
        let body = Body::Json { json, events: events.len(), params: OnceLock::new() };
        Self { url: Cow::Borrowed(first.url()), http_verb: HTTP_VERB, headers: HEADERS, body }
    }

    /// [`LogEvent::from_events`] taking the events by value.
    pub fn from_owned_events(events: Vec<UserEvent>) -> Option<Self> {
        Self::from_events(&events)
    }

    /// The body as the wire model (read back from the JSON on first use).
    pub fn params(&self) -> &EventBatch {
        match &self.body {
            Body::Model(params) => params,
            Body::Json { json, params, .. } => params.get_or_init(|| read_batch(json)),
        }
    }

    /// The number of events (visitors) in the batch.
    pub fn event_count(&self) -> usize {
        match &self.body {
            Body::Json { events, .. } => *events,
            Body::Model(params) => params.visitors.len(),
        }
    }

    /// The JSON body, borrowed when the batch holds it as JSON.
    pub fn json(&self) -> Cow<'_, [u8]> {
        match &self.body {
            Body::Json { json, .. } => Cow::Borrowed(json),
            Body::Model(params) => Cow::Owned(params.to_json_bytes()),
        }
    }

    /// The JSON body.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        self.json().into_owned()
    }

    /// The JSON body, without copying it.
    pub fn into_json_bytes(self) -> Vec<u8> {
        match self.body {
            Body::Json { json, .. } => json,
            Body::Model(params) => params.to_json_bytes(),
        }
    }

    /// The JSON body as text.
    pub fn to_json_string(&self) -> String {
        String::from_utf8(self.to_json_bytes()).unwrap_or_default()
    }
}

/// The model of a batch JSON written by this crate. It always reads back; should it not
/// (a bug), an empty batch stands in rather than a panic.
fn read_batch(json: &[u8]) -> EventBatch {
    serde_json::from_slice(json).unwrap_or_else(|_| EventBatch {
        account_id: Default::default(),
        project_id: Default::default(),
        revision: Default::default(),
        client_name: Default::default(),
        client_version: Default::default(),
        anonymize_ip: serde_json::Value::Bool(false),
        enrich_decisions: false,
        visitors: Vec::new(),
    })
}

/// Equal when they send the same request.
impl PartialEq for LogEvent {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url
            && self.http_verb == other.http_verb
            && self.headers == other.headers
            && self.json() == other.json()
    }
}

impl std::fmt::Debug for LogEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogEvent")
            .field("url", &self.url)
            .field("http_verb", &self.http_verb)
            .field("body", &String::from_utf8_lossy(&self.json()))
            .finish()
    }
}

impl From<UserEvent> for LogEvent {
    /// The request for a batch of one event (batch size 1).
    fn from(event: UserEvent) -> Self {
        Self::batch_of(&event, std::slice::from_ref(&event))
    }
}
