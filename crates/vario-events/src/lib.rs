//! Vario's one event model, shared by the SDK (which builds it), the server (which
//! parses it) and the store (which writes it): the Optimizely-compatible event batch.
//!
//! - [`EventBatch`] → [`Visitor`] → [`Snapshot`] → [`SnapshotEvent`] / [`Decision`],
//!   [`VisitorAttribute`]: the wire model, serialised exactly as the reference SDK sends
//!   it (key order, null stripping) and deserialised from any official SDK's payload.
//!   Its strings are [`SmolStr`]: short ids and keys are stored inline.
//! - [`EventFactory`]: builds [`UserEvent`]s for one config: impressions from an
//!   [`Impression`], conversions from a track ([`impression`] and [`conversion`] are
//!   one-shot shortcuts). A [`UserEvent`] knows its config's [`Envelope`] and holds its
//!   visitor as the JSON that is sent; the model is read back only when asked for.
//! - [`LogEvent`]: one POST of one batch ([`LogEvent::from_events`] joins events' JSON
//!   under their envelope); [`EventDispatcher`] sends it,
//!   [`CollectingDispatcher`] keeps it in memory.
//!
//! ```
//! use serde_json::json;
//! use vario_core::Attributes;
//! use vario_datafile::ProjectConfig;
//! use vario_events::{EventFactory, LogEvent};
//!
//! let config = ProjectConfig::from_json(r#"{"version": "4", "accountId": "1",
//!     "projectId": "2", "revision": "3", "groups": [], "experiments": [], "audiences": [],
//!     "events": [{"id": "90001", "key": "purchase", "experimentIds": []}],
//!     "attributes": [{"id": "20002", "key": "age"}]}"#)?;
//! let factory = EventFactory::new(&config);
//!
//! let attributes: Attributes = [("age", 34_i64)].into_iter().collect();
//! let tags = json!({"revenue": 4200, "value": "12.5"});
//! let event = factory
//!     .conversion("purchase", "user_4", &attributes, tags.as_object())
//!     .expect("purchase is declared")
//!     .with_uuid("00000000-0000-4000-8000-000000000005")
//!     .with_timestamp(1_700_000_000_006);
//!
//! let body: serde_json::Value = serde_json::from_slice(&LogEvent::from(event).to_json_bytes())?;
//! assert_eq!(body["visitors"][0]["snapshots"][0]["events"][0]["revenue"], json!(4200));
//! assert_eq!(body["visitors"][0]["snapshots"][0]["events"][0]["value"], json!(12.5));
//! assert_eq!(body["visitors"][0]["attributes"][0]["entity_id"], json!("20002"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod attributes;
mod batch;
mod dispatch;
mod event_uuid;
mod factory;
mod inputs;
mod log_event;
mod model;
mod pyfloat;
mod serde_util;
mod strip;
mod tags;
mod user_event;
mod write;

pub use attributes::RESERVED_PREFIX;
pub use dispatch::{CollectingDispatcher, DispatchError, EventDispatcher};
pub use event_uuid::EventUuid;
pub use factory::{EventFactory, conversion, impression};
pub use inputs::{EventRef, Impression, RuleType};
pub use log_event::{HEADERS, HTTP_VERB, LogEvent};
pub use model::{Decision, DecisionMetadata, EventBatch, Snapshot, SnapshotEvent, Visitor, VisitorAttribute};
pub use pyfloat::python_float;
pub use smol_str::SmolStr;
pub use strip::{STRIPPED_KEYS, strip_map, strip_map_in_place, strip_value};
pub use tags::{REVENUE_TAG, VALUE_TAG, numeric_value, revenue_value};
pub use user_event::{Envelope, UserEvent};

/// `client_name` of the batches this crate builds.
pub const CLIENT_NAME: &str = "vario-rust-sdk";
/// `client_version` of the batches this crate builds.
pub const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The snapshot event key of impressions.
pub const ACTIVATE_EVENT_KEY: &str = "campaign_activated";
/// Key and entity id of the bot-filtering visitor attribute.
pub const BOT_FILTERING_KEY: &str = "$opt_bot_filtering";
/// `type` of every visitor attribute.
pub const CUSTOM_ATTRIBUTE_TYPE: &str = "custom";
