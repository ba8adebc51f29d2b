//! Vario's Rust SDK: Optimizely-compatible feature flags and experiments.
//!
//! A [`Client`] reads an Optimizely datafile and answers exactly what the official
//! Optimizely SDKs answer for the same datafile and users: the decide API through
//! [`UserContext`], and the legacy APIs (`activate`, `get_variation`,
//! `is_feature_enabled`, feature variables, forced variations, `track`). Decisions never
//! fail: an unknown key gets the no-decision answer, with a reason.
//!
//! ```
//! use vario_sdk::{Attributes, Client, DecideOptions};
//!
//! let client = Client::from_datafile(r#"{"version": "4", "accountId": "1",
//!   "projectId": "2", "revision": "3", "groups": [], "events": [], "audiences": [],
//!   "attributes": [], "experiments": [],
//!   "rollouts": [{"id": "r1", "experiments": [{"id": "e1", "key": "everyone",
//!     "layerId": "r1", "status": "Running", "audienceIds": [], "forcedVariations": {},
//!     "variations": [{"id": "v1", "key": "on", "featureEnabled": true}],
//!     "trafficAllocation": [{"entityId": "v1", "endOfRange": 10000}]}]}],
//!   "featureFlags": [{"id": "f1", "key": "checkout", "experimentIds": [],
//!     "rolloutId": "r1", "variables": []}]}"#)?;
//! let user = client.create_user_context("user-1", Attributes::new());
//! let decision = user.decide("checkout", DecideOptions::NONE);
//! assert!(decision.enabled());
//! assert_eq!(decision.variation_key(), Some("on"));
//! # Ok::<(), vario_sdk::SdkError>(())
//! ```
#![deny(missing_docs)]

mod builder;
mod client;
mod current;
pub mod datafile_manager;
mod decision_notice;
mod error;
mod events;
mod forced;
pub mod http_dispatcher;
pub mod notification;
mod options;
pub mod processor;
mod profile;
mod user_context;

pub use builder::ClientBuilder;
pub use client::{Client, DecidedVariation};
pub use datafile_manager::{DatafileManagerOptions, DatafileStats, PollingDatafileManager};
pub use error::SdkError;
pub use http_dispatcher::{HttpConfigError, HttpEventDispatcher, HttpEventDispatcherBuilder};
pub use notification::{
    ActivateNotification, ConfigUpdateNotification, DecisionNotification, DecisionType, FailureReason, ListenerId,
    LogEventFailedNotification, Notification, NotificationCenter, NotificationKind, NotificationPayload,
    TrackNotification,
};
pub use options::DecideOptions;
pub use processor::{CloseReport, EventProcessor, EventProcessorConfig, EventStats, ProcessorError};
pub use profile::{InMemoryUserProfileService, ProfileServiceError, UserProfile, UserProfileService};
pub use user_context::{Decision, DecisionError, UserContext};
pub use vario_core::{AttributeValue, Attributes, DecisionSource, FlagDecision, Reason};
pub use vario_datafile::{
    DatafileError, OptimizelyAttribute, OptimizelyAudience, OptimizelyConfig, OptimizelyEvent, OptimizelyExperiment,
    OptimizelyFeature, OptimizelyVariable, OptimizelyVariation, ProjectConfig,
};
pub use vario_events::{DispatchError, EventDispatcher, LogEvent};
