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
use crate::strip::strip_map_in_place;
use crate::tags;
use crate::user_event::{Envelope, RenderedEvent, UserEvent};
use crate::write::{self, DecisionFields, EventFields};

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
            Some((id, key)) => (is_numeric_id(id).then_some(id), key),
            None => (None, ""),
        };
        let uuid = new_uuid();
        let event = EventFields {
            entity_id: campaign,
            uuid: uuid.as_bytes(),
            key: ACTIVATE_EVENT_KEY,
            timestamp: timestamp_ms,
            revenue: None,
            value: None,
        };
        let decision = DecisionFields {
            campaign_id: campaign,
            experiment_id: impression.experiment_id,
            variation_id,
            flag_key: impression.flag_key,
            rule_key: impression.rule_key,
            rule_type: impression.rule_type.as_str(),
            variation_key,
            enabled: impression.enabled,
            cmab_uuid: impression.cmab_uuid,
        };
        let mut json = Vec::with_capacity(512 + 64 * impression.attributes.len());
        write::single_event_visitor(
            &mut json,
            &event,
            None,
            Some(&decision),
            |out| self.attributes.write_visitor_attributes(out, impression.attributes),
            impression.user_id,
        );
        let meta = RenderedEvent {
            uuid,
            timestamp: timestamp_ms,
            impression: true,
            user_id: SmolStr::new(impression.user_id),
        };
        UserEvent::rendered(self.envelope.clone(), json, meta)
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
        write::single_event_visitor(
            &mut json,
            &fields,
            tags,
            None,
            |out| self.attributes.write_visitor_attributes(out, attributes),
            user_id,
        );
        let event = RenderedEvent { uuid, timestamp, impression: false, user_id: SmolStr::new(user_id) };
        UserEvent::rendered(self.envelope.clone(), json, event)
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
    use serde_json::json;
    use vario_core::AttributeValue;

    use crate::inputs::RuleType;

    /// The JSON of `event` as the batch writer writes its model, read back from it.
    fn through_the_model(event: &UserEvent) -> Vec<u8> {
        let mut json = Vec::new();
        write::visitor(&mut json, event.visitor());
        json
    }

    fn factory() -> EventFactory {
        let config = ProjectConfig::from_json(
            r#"{"version": "4", "accountId": "1", "projectId": "2", "revision": "3", "botFiltering": true,
            "groups": [], "experiments": [], "audiences": [],
            "attributes": [{"id": "101", "key": "plan"}, {"id": "102", "key": "age"}, {"id": "", "key": "no_id"},
                           {"id": "1\"04", "key": "odd \"key\""}],
            "events": [{"id": "9", "key": "buy", "experimentIds": []}]}"#,
        )
        .expect("test datafile");
        EventFactory::new(&config)
    }

    fn attributes() -> Attributes {
        let mut attributes = Attributes::new();
        attributes.insert("plan", "gold \"plus\"\n");
        attributes.insert("age", 34_i64);
        attributes.insert("no_id", "x");
        attributes.insert("odd \"key\"", true);
        attributes.insert("$opt_user_agent", "bot/1.0");
        attributes.insert("undeclared", "dropped");
        attributes.insert("big", AttributeValue::from(json!(9_007_199_254_740_993_u64)));
        attributes.insert("$opt_null", AttributeValue::Null);
        attributes.insert("$opt_float", 2.5_f64);
        attributes
    }

    #[test]
    fn events_written_directly_are_what_their_models_give() {
        let factory = factory();
        let tags = json!({"revenue": 12, "value": "3.5", "n": {"tags": null}, "s": "a\u{1}"});
        // With no attribute sent, only the bot-filtering entry is.
        for (user_id, attributes) in [
            ("u", attributes()),
            ("user \"quoted\"", attributes()),
            ("a-much-longer-user-id-than-twenty-three-bytes", attributes()),
            ("u", Attributes::new()),
            ("u", [("undeclared", "x")].into_iter().collect()),
        ] {
            for tags in [None, Some(&tags), Some(&json!({}))] {
                let event = factory.conversion("buy", user_id, &attributes, tags.and_then(|t| t.as_object())).unwrap();
                assert_eq!(event.visitor_json(), through_the_model(&event), "conversion {user_id} {tags:?}");
                assert_eq!(event.user_id(), user_id);
                assert!(!event.is_impression());
            }
            for (variation, cmab) in [(Some(("2001", "on")), None), (Some(("var", "v")), Some("c-1")), (None, Some(""))]
            {
                let impression = Impression {
                    user_id,
                    attributes: &attributes,
                    layer_id: "",
                    experiment_id: "301",
                    variation,
                    flag_key: "flag",
                    rule_key: "rule",
                    rule_type: RuleType::FeatureTest,
                    enabled: true,
                    cmab_uuid: cmab,
                };
                let event = factory.impression_at(&impression, 1_700_000_000_000);
                assert_eq!(event.visitor_json(), through_the_model(&event), "impression {variation:?} {cmab:?}");
                assert_eq!((event.timestamp(), event.is_impression()), (1_700_000_000_000, true));
                assert_eq!(event.event().map(|e| e.uuid.as_str()), Some(event.uuid()));
            }
        }
    }

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
