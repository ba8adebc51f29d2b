//! Vario's decision engine: pure, synchronous, allocation-free on the common path.
//!
//! Given a [`vario_datafile::ProjectConfig`] and a [`User`], it answers which variation
//! of an experiment ([`experiment_variation`]) or which decision for a flag
//! ([`decide_flag`]) the user gets, exactly as the reference Optimizely SDKs do, and
//! why ([`Reason`]). It performs no I/O: the SDK loads user profiles and forced
//! variations and passes them in, and sends events from the result.
//!
//! Principal types: [`Attributes`] (the user's attributes, in order), [`User`],
//! [`FlagDecision`] (with [`DecisionSource`] and [`DecidedBy`]), [`Reason`] and the
//! [`Trace`] sink that collects reasons only when asked.
//!
//! ```
//! use vario_core::{Attributes, User, decide_flag};
//! use vario_datafile::ProjectConfig;
//!
//! let config = ProjectConfig::from_json(r#"{"version": "4", "accountId": "1",
//!   "projectId": "2", "revision": "3", "groups": [], "events": [], "audiences": [],
//!   "attributes": [], "experiments": [],
//!   "rollouts": [{"id": "r1", "experiments": [{"id": "e1", "key": "everyone",
//!     "layerId": "r1", "status": "Running", "audienceIds": [], "forcedVariations": {},
//!     "variations": [{"id": "v1", "key": "on", "featureEnabled": true}],
//!     "trafficAllocation": [{"entityId": "v1", "endOfRange": 10000}]}]}],
//!   "featureFlags": [{"id": "f1", "key": "checkout", "experimentIds": [],
//!     "rolloutId": "r1", "variables": []}]}"#)?;
//! let attributes = Attributes::new();
//! let flag = config.flag_by_key("checkout").unwrap();
//! let decision = decide_flag(&config, flag, &User::new("user-1", &attributes), None, &mut ());
//! assert!(decision.enabled);
//! assert_eq!(decision.rule_key(&config), Some("everyone"));
//! # Ok::<(), vario_datafile::DatafileError>(())
//! ```
#![deny(missing_docs)]

mod attributes;
mod audience;
mod bucket;
mod experiment;
mod flag;
mod reason;
mod user;

pub use attributes::{AttributeValue, Attributes};
pub use audience::{AttributeCache, evaluate_condition, rule_audience_result};
pub use bucket::{bucket_value, find_range, murmur3_32};
pub use experiment::{bucket_experiment, experiment_variation};
pub use flag::{DecidedBy, DecisionSource, FlagDecision, decide_flag};
pub use reason::{Reason, Trace};
pub use user::{ForcedDecisions, ForcedVariations, ProfileState, User};
