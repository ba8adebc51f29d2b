//! From decisions to events: which call sends which impression (decisions.md §7), and
//! the hand-off to the dispatcher. Building the payload is `vario-events`' job.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use smol_str::SmolStr;
use vario_core::{Attributes, DecisionSource, FlagDecision};
use vario_datafile::VariationRef;
use vario_events::{Impression, LogEvent, UserEvent};

use crate::client::{Client, EventSink, Loaded};
use crate::notification::{ActivateNotification, NotificationKind, TrackNotification};

/// What an impression reports.
pub(crate) enum ImpressionOf<'a> {
    /// `activate`: the experiment's variation, typed "experiment".
    Activate(VariationRef),
    /// A flag decision.
    Flag(&'a FlagDecision),
}

pub(crate) fn send_impression(
    client: &Client,
    loaded: &Loaded,
    user_id: &str,
    attributes: &Attributes,
    of: ImpressionOf<'_>,
) {
    if client.inner.sink.is_off() {
        return;
    }
    let (event, impression) = build_impression(loaded, user_id, attributes, &of, None);
    client.inner.notifications.notify_with(|| ActivateNotification {
        experiment_key: impression.experiment_key,
        user_id: user_id.to_owned(),
        attributes: attributes.clone(),
        variation_key: impression.variation_key,
        log_event: LogEvent::from(event.clone()),
    });
    deliver(client, event);
}

/// What the activate notification reports about an impression.
struct ImpressionSummary {
    experiment_key: String,
    variation_key: Option<String>,
}

fn build_impression(
    loaded: &Loaded,
    user_id: &str,
    attributes: &Attributes,
    of: &ImpressionOf<'_>,
    timestamp: Option<i64>,
) -> (UserEvent, ImpressionSummary) {
    let impression = match *of {
        ImpressionOf::Activate(v) => Impression::of_activation(&loaded.config, v, user_id, attributes),
        ImpressionOf::Flag(d) => Impression::of_flag_decision(&loaded.config, d, user_id, attributes),
    };
    let summary = ImpressionSummary {
        experiment_key: impression.rule_key.to_owned(),
        variation_key: impression.variation.map(|(_, key)| key.to_owned()),
    };
    let event = match timestamp {
        Some(at) => loaded.events.impression_at(&impression, at),
        None => loaded.events.impression(&impression),
    };
    (event, summary)
}

/// Impression of a decide call from a user context, whose id and attributes are
/// shared: with batched delivery and no activate listener, the event is built on the
/// processor's thread and the decision only pays for queueing it.
pub(crate) fn send_context_impression(
    client: &Client,
    loaded: &Arc<Loaded>,
    user_id: &SmolStr,
    attributes: &Arc<Attributes>,
    decision: &FlagDecision,
) {
    match &client.inner.sink {
        EventSink::Batched(processor) if !client.inner.notifications.has_listeners(NotificationKind::Activate) => {
            processor.process_impression(PendingImpression {
                timestamp: now_ms(),
                loaded: Arc::clone(loaded),
                user_id: user_id.clone(),
                attributes: Arc::clone(attributes),
                decision: *decision,
            });
        }
        _ => send_flag_impression(client, loaded, user_id, attributes, decision),
    }
}

/// An impression of a decide call, made into an event on the processor's thread.
pub(crate) struct PendingImpression {
    /// When the decision was made.
    timestamp: i64,
    loaded: Arc<Loaded>,
    user_id: SmolStr,
    attributes: Arc<Attributes>,
    decision: FlagDecision,
}

impl PendingImpression {
    pub(crate) fn build(self) -> UserEvent {
        let of = ImpressionOf::Flag(&self.decision);
        build_impression(&self.loaded, &self.user_id, &self.attributes, &of, Some(self.timestamp)).0
    }
}

/// Milliseconds since the Unix epoch, as events carry them.
fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Impression of a decide call (the caller checked the send rule).
pub(crate) fn send_flag_impression(
    client: &Client,
    loaded: &Loaded,
    user_id: &str,
    attributes: &Attributes,
    decision: &FlagDecision,
) {
    send_impression(client, loaded, user_id, attributes, ImpressionOf::Flag(decision));
}

/// Impression of `is_feature_enabled`: feature tests with a variation always; rollout
/// and no-decision results only with `sendFlagDecisions`; holdouts never (as the
/// reference SDK does for this legacy call).
pub(crate) fn send_legacy_flag_impression(
    client: &Client,
    loaded: &Loaded,
    user_id: &str,
    attributes: &Attributes,
    decision: &FlagDecision,
) {
    let has_variation = decision.variation(&loaded.config).is_some();
    let source = decision.source();
    let sends = (source == DecisionSource::FeatureTest && has_variation)
        || ((source == DecisionSource::Rollout || !has_variation) && loaded.config.send_flag_decisions);
    if sends {
        send_flag_impression(client, loaded, user_id, attributes, decision);
    }
}

pub(crate) fn send_conversion(
    client: &Client,
    loaded: &Loaded,
    event_key: &str,
    user_id: &str,
    attributes: &Attributes,
    tags: Option<&Map<String, Value>>,
) {
    if client.inner.sink.is_off() {
        return;
    }
    if let Some(event) = loaded.events.conversion(event_key, user_id, attributes, tags) {
        client.inner.notifications.notify_with(|| TrackNotification {
            event_key: event_key.to_owned(),
            user_id: user_id.to_owned(),
            attributes: attributes.clone(),
            event_tags: tags.cloned(),
            log_event: LogEvent::from(event.clone()),
        });
        deliver(client, event);
    }
}

/// Hands a built event to the configured sink.
fn deliver(client: &Client, event: UserEvent) {
    match &client.inner.sink {
        EventSink::Off => {}
        EventSink::Batched(processor) => {
            // A full or closed queue drops the event and counts it; never blocks.
            processor.process(event);
        }
        EventSink::Immediate(dispatcher) => {
            let log_event = LogEvent::from(event);
            match dispatcher.dispatch(&log_event) {
                Ok(()) => client.inner.notifications.notify_with(|| log_event.clone()),
                Err(error) => tracing::warn!(%error, "event dispatch failed; the event is dropped"),
            }
        }
    }
}
