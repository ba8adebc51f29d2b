//! Builds [`UserEvent`]s from decisions (impressions, events.md §3) and tracks
//! (conversions, §6) of one config.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};
use uuid::Uuid;
use vario_core::Attributes;
use vario_datafile::{EventIndex, ProjectConfig};

use crate::ACTIVATE_EVENT_KEY;
use crate::attributes::AttributeIds;
use crate::model::{Decision, DecisionMetadata, Snapshot, SnapshotEvent, Visitor};
use crate::strip::strip_map;
use crate::tags;
use crate::user_event::{Envelope, UserEvent};

/// The kind of rule a decision came from, as sent in `metadata.rule_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleType {
    /// `activate` of an A/B experiment.
    Experiment,
    /// A flag's experiment rule, or a flag-level forced decision.
    FeatureTest,
    /// A delivery rule, or no decision at all.
    Rollout,
    /// A holdout.
    Holdout,
}

impl RuleType {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Experiment => "experiment",
            Self::FeatureTest => "feature-test",
            Self::Rollout => "rollout",
            Self::Holdout => "holdout",
        }
    }
}

impl fmt::Display for RuleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decision to report as an impression.
#[derive(Debug, Clone, Copy)]
pub struct Impression<'a> {
    /// The user id.
    pub user_id: &'a str,
    /// The user's attributes, in caller order.
    pub attributes: &'a Attributes,
    /// The experiment's or rule's layer id; `""` for holdouts and when there is no rule.
    pub layer_id: &'a str,
    /// The experiment, rule or holdout id; `""` when there is none.
    pub experiment_id: &'a str,
    /// The chosen variation as `(id, key)`.
    pub variation: Option<(&'a str, &'a str)>,
    /// The flag key; `""` for `activate`.
    pub flag_key: &'a str,
    /// The experiment, rule or holdout key; `""` when there is no rule.
    pub rule_key: &'a str,
    /// Where the decision came from.
    pub rule_type: RuleType,
    /// Whether the flag is on (`true` for `activate`).
    pub enabled: bool,
    /// The CMAB decision's uuid, if any.
    pub cmab_uuid: Option<&'a str>,
}

/// Names the conversion event of a track: its key, or its index in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventRef<'a> {
    /// An event key as passed to `track`.
    Key(&'a str),
    /// A position in [`ProjectConfig::events`].
    Index(EventIndex),
}

impl<'a> From<&'a str> for EventRef<'a> {
    fn from(key: &'a str) -> Self {
        Self::Key(key)
    }
}

impl<'a> From<&'a String> for EventRef<'a> {
    fn from(key: &'a String) -> Self {
        Self::Key(key)
    }
}

impl From<EventIndex> for EventRef<'_> {
    fn from(index: EventIndex) -> Self {
        Self::Index(index)
    }
}

/// Makes the events of one config. Build it once per config: it shares the envelope and
/// every id and key string between the events it makes.
#[derive(Debug, Clone)]
pub struct EventFactory {
    envelope: Arc<Envelope>,
    attributes: AttributeIds,
    /// Per config event: (id, key).
    events: Vec<(Arc<str>, Arc<str>)>,
    event_by_key: FxHashMap<Box<str>, EventIndex>,
    activate_key: Arc<str>,
}

impl EventFactory {
    /// The factory of `config`.
    pub fn new(config: &ProjectConfig) -> Self {
        let events = config.events.iter().map(|e| (Arc::from(e.id.as_str()), Arc::from(e.key.as_str()))).collect();
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
            activate_key: Arc::from(ACTIVATE_EVENT_KEY),
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
        let campaign = if impression.layer_id.is_empty() { impression.experiment_id } else { impression.layer_id };
        let (variation_id, variation_key) = match impression.variation {
            Some((id, key)) => (is_numeric_id(id).then(|| id.to_owned()), key.to_owned()),
            None => (None, String::new()),
        };
        let decision = Decision {
            campaign_id: campaign.to_owned(),
            experiment_id: impression.experiment_id.to_owned(),
            variation_id,
            metadata: DecisionMetadata {
                flag_key: impression.flag_key.to_owned(),
                rule_key: impression.rule_key.to_owned(),
                rule_type: Cow::Borrowed(impression.rule_type.as_str()),
                variation_key,
                enabled: impression.enabled,
                cmab_uuid: impression.cmab_uuid.filter(|u| !u.is_empty()).map(str::to_owned),
            },
        };
        let event = self.snapshot_event(Arc::from(campaign), self.activate_key.clone());
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
        let index = match event.into() {
            EventRef::Key(key) => *self.event_by_key.get(key)?,
            EventRef::Index(index) => index,
        };
        let (id, key) = self.events.get(index)?;
        // `track` refuses an empty key before looking it up, even if the datafile has one.
        if key.is_empty() {
            return None;
        }
        let mut event = self.snapshot_event(id.clone(), key.clone());
        if let Some(tags) = tags {
            event.revenue = tags::revenue_value(tags);
            event.value = tags::numeric_value(tags);
            event.tags = Some(strip_map(tags));
        }
        let snapshot = Snapshot { events: vec![event], decisions: None };
        Some(self.user_event(user_id, attributes, snapshot))
    }

    fn snapshot_event(&self, entity_id: Arc<str>, key: Arc<str>) -> SnapshotEvent {
        SnapshotEvent { entity_id, uuid: new_uuid(), key, timestamp: now_ms(), revenue: None, value: None, tags: None }
    }

    fn user_event(&self, user_id: &str, attributes: &Attributes, snapshot: Snapshot) -> UserEvent {
        let visitor = Visitor {
            snapshots: vec![snapshot],
            attributes: self.attributes.visitor_attributes(attributes),
            visitor_id: user_id.to_owned(),
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
fn new_uuid() -> String {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    Uuid::new_v4().hyphenated().encode_lower(&mut buf).to_owned()
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
