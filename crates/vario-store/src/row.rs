//! One row per event: the flat shape an [`EventBatch`] is stored in (the log now, the
//! Parquet files next), and the conversion from the wire model.

use serde_json::Number;
use vario_events::{ACTIVATE_EVENT_KEY, Decision, EventBatch};

use crate::error::StoreError;

/// What kind of event a row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// An impression: the snapshot event key is `campaign_activated`.
    Decision,
    /// A conversion (`track`): any other event key.
    Conversion,
}

impl EventKind {
    /// The stored spelling: `decision` or `conversion`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Decision => "decision",
            Self::Conversion => "conversion",
        }
    }

    /// Reads the stored spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "decision" => Some(Self::Decision),
            "conversion" => Some(Self::Conversion),
            _ => None,
        }
    }
}

/// One stored event, with the envelope and visitor fields it came with copied in, so
/// each row stands alone for queries. Column by column this is `docs/storage.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// Decision (impression) or conversion.
    pub kind: EventKind,
    /// Batch `account_id`.
    pub account_id: String,
    /// Batch `project_id`.
    pub project_id: String,
    /// Batch `revision` (of the datafile the SDK used).
    pub revision: String,
    /// `visitor_id`.
    pub visitor_id: String,
    /// The visitor's `attributes` array, as JSON text.
    pub attributes: String,
    /// Event `entity_id`: the campaign id of an impression, the event id of a conversion.
    pub entity_id: String,
    /// The snapshot decision's fields (impressions; `None` when the snapshot has none).
    pub decision: Option<DecisionRow>,
    /// Every decision of the snapshot as JSON text, only when it had more than one
    /// (older SDKs attach several); the `decision` columns hold the matching one.
    pub decisions: Option<String>,
    /// Event `key`: `campaign_activated` or the conversion's event key.
    pub event_key: String,
    /// Event `timestamp`, Unix epoch milliseconds (the client's clock).
    pub timestamp: i64,
    /// Event `uuid`: unique per event; a second event with the same uuid is a duplicate.
    pub uuid: String,
    /// Conversion `revenue` (an integer, in cents by convention).
    pub revenue: Option<i64>,
    /// Conversion `value`.
    pub value: Option<f64>,
    /// Conversion `tags`, as JSON text.
    pub tags: Option<String>,
    /// Batch `client_name`.
    pub client_name: String,
    /// Batch `client_version`.
    pub client_version: String,
    /// When the server received the batch, Unix epoch milliseconds (the server's clock).
    pub received_at: i64,
}

/// The decision of an impression, flattened.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRow {
    /// `campaign_id` (layer id, else experiment id, else empty).
    pub campaign_id: String,
    /// `experiment_id`.
    pub experiment_id: String,
    /// `variation_id`; `None` when sent as `null`.
    pub variation_id: Option<String>,
    /// `metadata.flag_key`.
    pub flag_key: String,
    /// `metadata.rule_key`.
    pub rule_key: String,
    /// `metadata.rule_type`.
    pub rule_type: String,
    /// `metadata.variation_key`.
    pub variation_key: String,
    /// `metadata.enabled`.
    pub enabled: bool,
    /// `metadata.cmab_uuid`, for CMAB decisions.
    pub cmab_uuid: Option<String>,
}

/// The envelope fields of a batch, kept once per batch in the `batches` table.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRow {
    /// Batch `account_id`.
    pub account_id: String,
    /// Batch `project_id`.
    pub project_id: String,
    /// Batch `revision`.
    pub revision: String,
    /// Batch `client_name`.
    pub client_name: String,
    /// Batch `client_version`.
    pub client_version: String,
    /// Batch `anonymize_ip` when it is a boolean.
    pub anonymize_ip: Option<bool>,
    /// Batch `enrich_decisions`.
    pub enrich_decisions: bool,
    /// Server receive time, Unix epoch milliseconds.
    pub received_at: i64,
}

/// A batch turned into rows, ready for the writer. Built by the caller's thread so the
/// single writer thread only inserts.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedBatch {
    /// The envelope.
    pub batch: BatchRow,
    /// One row per event, in the batch's order.
    pub events: Vec<EventRow>,
}

impl PreparedBatch {
    /// Flattens `batch` into rows. Fails when an event has no `uuid` or `key` (the log
    /// deduplicates by uuid, so an event without one cannot be stored exactly once) or
    /// a `revenue` that is not a 64-bit integer.
    pub fn from_batch(batch: &EventBatch, received_at: i64) -> Result<Self, StoreError> {
        let envelope = BatchRow {
            account_id: batch.account_id.to_string(),
            project_id: batch.project_id.to_string(),
            revision: batch.revision.to_string(),
            client_name: batch.client_name.to_string(),
            client_version: batch.client_version.to_string(),
            anonymize_ip: batch.anonymize_ip.as_bool(),
            enrich_decisions: batch.enrich_decisions,
            received_at,
        };
        let mut events = Vec::new();
        for (v, visitor) in batch.visitors.iter().enumerate() {
            let attributes = to_json(&visitor.attributes)?;
            for (s, snapshot) in visitor.snapshots.iter().enumerate() {
                let decisions = snapshot.decisions.as_deref().unwrap_or_default();
                let all_decisions = if decisions.len() > 1 { Some(to_json(decisions)?) } else { None };
                for (e, event) in snapshot.events.iter().enumerate() {
                    let path = || format!("visitors[{v}].snapshots[{s}].events[{e}]");
                    if event.uuid.is_empty() {
                        return Err(invalid(format!("{}.uuid", path()), "an event needs a non-empty uuid"));
                    }
                    if event.key.is_empty() {
                        return Err(invalid(format!("{}.key", path()), "an event needs a non-empty key"));
                    }
                    let revenue = match &event.revenue {
                        None => None,
                        Some(n) => Some(revenue_i64(n).ok_or_else(|| {
                            invalid(
                                format!("{}.revenue", path()),
                                "revenue must be an integer between -2^63 and 2^63-1",
                            )
                        })?),
                    };
                    // The decision for this event: the one whose campaign is the event's
                    // entity (impressions carry exactly one), else the first.
                    let decision = decisions
                        .iter()
                        .find(|d| d.campaign_id == event.entity_id)
                        .or_else(|| decisions.first())
                        .map(decision_row);
                    events.push(EventRow {
                        kind: if event.key == ACTIVATE_EVENT_KEY { EventKind::Decision } else { EventKind::Conversion },
                        account_id: envelope.account_id.clone(),
                        project_id: envelope.project_id.clone(),
                        revision: envelope.revision.clone(),
                        visitor_id: visitor.visitor_id.to_string(),
                        attributes: attributes.clone(),
                        entity_id: event.entity_id.to_string(),
                        decision,
                        decisions: all_decisions.clone(),
                        event_key: event.key.to_string(),
                        timestamp: event.timestamp,
                        uuid: event.uuid.to_string(),
                        revenue,
                        value: event.value.filter(|v| v.is_finite()),
                        tags: event.tags.as_ref().map(to_json).transpose()?,
                        client_name: envelope.client_name.clone(),
                        client_version: envelope.client_version.clone(),
                        received_at,
                    });
                }
            }
        }
        Ok(Self { batch: envelope, events })
    }
}

fn decision_row(d: &Decision) -> DecisionRow {
    DecisionRow {
        campaign_id: d.campaign_id.to_string(),
        experiment_id: d.experiment_id.to_string(),
        variation_id: d.variation_id.as_ref().map(ToString::to_string),
        flag_key: d.metadata.flag_key.to_string(),
        rule_key: d.metadata.rule_key.to_string(),
        rule_type: d.metadata.rule_type.to_string(),
        variation_key: d.metadata.variation_key.to_string(),
        enabled: d.metadata.enabled,
        cmab_uuid: d.metadata.cmab_uuid.as_ref().filter(|c| !c.is_empty()).map(ToString::to_string),
    }
}

/// A JSON integer in `i64` range; a float with no fraction (`100.0`) counts too, since a
/// JavaScript client may write one.
fn revenue_i64(n: &Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    if n.is_u64() {
        return None;
    }
    let f = n.as_f64()?;
    // Within ±2^63 an integral float converts exactly (`as` would saturate silently).
    (f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f)).then_some(f as i64)
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Internal(format!("cannot write JSON: {e}")))
}

fn invalid(path: String, message: &str) -> StoreError {
    StoreError::InvalidEvent { path, message: message.to_owned() }
}
