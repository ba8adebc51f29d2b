//! Builds [`UserEvent`]s from decisions (impressions, events.md §3) and tracks
//! (conversions, §6) of one config.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};
use smol_str::SmolStr;
use uuid::Uuid;
use vario_core::Attributes;
use vario_datafile::{EventIndex, ProjectConfig};

use crate::ACTIVATE_EVENT_KEY;
use crate::attributes::AttributeIds;
use crate::event_uuid::EventUuid;
use crate::inputs::{EventRef, Impression};
use crate::model::{Decision, DecisionMetadata, Snapshot, SnapshotEvent, Visitor};
use crate::strip::strip_map_in_place;
use crate::tags;
use crate::user_event::{Envelope, RenderedEvent, UserEvent};
use crate::write::{self, EventFields};

/// Makes the events of one config. Build it once per config: it resolves ids and keys
/// once, and its events share one envelope.
#[derive(Debug, Clone)]
pub struct EventFactory {
    envelope: Arc<Envelope>,
    attributes: AttributeIds,
    /// Per config event: (id, key).
    events: Vec<(SmolStr, SmolStr)>,
    event_by_key: FxHashMap<Box<str>, EventIndex>,
}

impl EventFactory {
    /// The factory of `config`.
    pub fn new(config: &ProjectConfig) -> Self {
        let events = config.events.iter().map(|e| (SmolStr::new(&e.id), SmolStr::new(&e.key))).collect();
        let event_by_key = config
            .events
            .iter()
            .filter_map(|e| Some((Box::from(e.key.as_str()), config.event_by_key(&e.key)?)))
            .collect();
        Self {
            envelope: Arc::new(Envelope::from_config(config)),
            attributes: AttributeIds::new(config),
            events,
            event_by_key,
        }
    }

    /// The envelope shared by this factory's events.
    pub fn envelope(&self) -> &Arc<Envelope> {
        &self.envelope
    }

    /// The visitor attributes sent for `attributes` (events.md §4).
    pub fn visitor_attributes(&self, attributes: &Attributes) -> Vec<crate::VisitorAttribute> {
        self.attributes.visitor_attributes(attributes)
    }

    /// The impression of a decision, with the id normalisation of events.md §3.3.
    pub fn impression(&self, impression: &Impression<'_>) -> UserEvent {
        self.impression_at(impression, now_ms())
    }

    /// [`EventFactory::impression`] of a decision made at `timestamp_ms` (epoch
    /// milliseconds), for impressions built after their decision.
    pub fn impression_at(&self, impression: &Impression<'_>, timestamp_ms: i64) -> UserEvent {
        let campaign = if impression.layer_id.is_empty() { impression.experiment_id } else { impression.layer_id };
        let (variation_id, variation_key) = match impression.variation {
            Some((id, key)) => (is_numeric_id(id).then(|| SmolStr::new(id)), SmolStr::new(key)),
            None => (None, SmolStr::default()),
        };
        let decision = Decision {
            campaign_id: SmolStr::new(campaign),
            experiment_id: SmolStr::new(impression.experiment_id),
            variation_id,
            metadata: DecisionMetadata {
                flag_key: SmolStr::new(impression.flag_key),
                rule_key: SmolStr::new(impression.rule_key),
                rule_type: SmolStr::new_static(impression.rule_type.as_str()),
                variation_key,
                enabled: impression.enabled,
                cmab_uuid: impression.cmab_uuid.filter(|u| !u.is_empty()).map(SmolStr::new),
            },
        };
        let event =
            self.snapshot_event(decision.campaign_id.clone(), SmolStr::new_static(ACTIVATE_EVENT_KEY), timestamp_ms);
        let snapshot = Snapshot { events: vec![event], decisions: Some(vec![decision]) };
        self.user_event(impression.user_id, impression.attributes, snapshot)
    }

    /// The conversion of a track, or `None` when the event key is empty or unknown
    /// (nothing is sent). `tags`: `None` sends no `tags` key, an empty map sends `{}`.
    pub fn conversion<'k>(
        &self,
        event: impl Into<EventRef<'k>>,
        user_id: &str,
        attributes: &Attributes,
        tags: Option<&Map<String, Value>>,
    ) -> Option<UserEvent> {
        let (id, key) = self.event(event.into())?;
        Some(self.write_conversion(id, key, user_id, attributes, tags))
    }

    /// [`EventFactory::conversion`] taking the tags by value, which spares copying them.
    pub fn conversion_owned<'k>(
        &self,
        event: impl Into<EventRef<'k>>,
        user_id: &str,
        attributes: &Attributes,
        mut tags: Option<Map<String, Value>>,
    ) -> Option<UserEvent> {
        let (id, key) = self.event(event.into())?;
        if let Some(tags) = &mut tags {
            strip_map_in_place(tags);
        }
        // Stripping does not change revenue or value, and the writer strips anyway.
        Some(self.write_conversion(id, key, user_id, attributes, tags.as_ref()))
    }

    /// The id and key of a conversion event that `track` may send.
    fn event(&self, event: EventRef<'_>) -> Option<(&SmolStr, &SmolStr)> {
        let index = match event {
            EventRef::Key(key) => *self.event_by_key.get(key)?,
            EventRef::Index(index) => index,
        };
        let (id, key) = self.events.get(index)?;
        // `track` refuses an empty key before looking it up, even if the datafile has one.
        (!key.is_empty()).then_some((id, key))
    }

    /// A conversion, written straight into its visitor JSON: the same bytes as the model
    /// of it would give, without building the model (see [`UserEvent`]).
    fn write_conversion(
        &self,
        id: &SmolStr,
        key: &SmolStr,
        user_id: &str,
        attributes: &Attributes,
        tags: Option<&Map<String, Value>>,
    ) -> UserEvent {
        let uuid = new_uuid();
        let timestamp = now_ms();
        let revenue = tags.and_then(tags::revenue_value);
        let fields = EventFields {
            entity_id: id,
            uuid: uuid.as_bytes(),
            key,
            timestamp,
            revenue: revenue.as_ref(),
            value: tags.and_then(tags::numeric_value),
        };
        let mut json = Vec::with_capacity(256 + 64 * attributes.len());
        write::conversion_visitor(
            &mut json,
            &fields,
            tags,
            |out| self.attributes.write_visitor_attributes(out, attributes),
            user_id,
        );
        let event = RenderedEvent { uuid, timestamp, impression: false, user_id: SmolStr::new(user_id) };
        UserEvent::rendered(self.envelope.clone(), json, event)
    }

    fn snapshot_event(&self, entity_id: SmolStr, key: SmolStr, timestamp: i64) -> SnapshotEvent {
        SnapshotEvent { entity_id, uuid: new_uuid(), key, timestamp, revenue: None, value: None, tags: None }
    }

    fn user_event(&self, user_id: &str, attributes: &Attributes, snapshot: Snapshot) -> UserEvent {
        let visitor = Visitor {
            snapshots: vec![snapshot],
            attributes: self.attributes.visitor_attributes(attributes),
            visitor_id: SmolStr::new(user_id),
        };
        UserEvent::new(self.envelope.clone(), visitor)
    }
}

/// The impression of a decision under `config`. Builds a throw-away [`EventFactory`];
/// keep one per config when making many events.
pub fn impression(config: &ProjectConfig, impression: &Impression<'_>) -> UserEvent {
    EventFactory::new(config).impression(impression)
}

/// The conversion of a track under `config`, or `None` for an empty or unknown event
/// key. Builds a throw-away [`EventFactory`]; keep one per config when making many events.
pub fn conversion<'k>(
    config: &ProjectConfig,
    event: impl Into<EventRef<'k>>,
    user_id: &str,
    attributes: &Attributes,
    tags: Option<&Map<String, Value>>,
) -> Option<UserEvent> {
    EventFactory::new(config).conversion(event, user_id, attributes, tags)
}

/// A variation id is sent only when it is a non-empty run of ASCII digits (§3.3).
fn is_numeric_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
}

/// A random UUID v4, lower-case hyphenated.
fn new_uuid() -> EventUuid {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    EventUuid::from(&*Uuid::new_v4().hyphenated().encode_lower(&mut buf))
}

/// Now, in epoch milliseconds rounded to nearest; 0 if the clock is before 1970.
fn now_ms() -> i64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    i64::try_from((nanos + 500_000) / 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids() {
        for (id, numeric) in [
            ("40011", true),
            ("007", true),
            ("", false),
            ("var_a", false),
            ("12a", false),
            (" 12", false),
            ("-1", false),
            ("١٢", false),
        ] {
            assert_eq!(is_numeric_id(id), numeric, "{id:?}");
        }
    }

    #[test]
    fn uuids_are_v4_lower_hyphenated() {
        let u = new_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
        assert!(u.bytes().all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_ne!(u, new_uuid());
    }

    #[test]
    fn clock_is_epoch_millis() {
        // 2023-11-14 and 2100-01-01 in epoch milliseconds.
        assert!((1_700_000_000_000..4_102_444_800_000).contains(&now_ms()));
    }
}
