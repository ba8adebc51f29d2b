//! Optimizely datafiles (versions 2, 3 and 4) parsed once into an immutable,
//! indexed [`ProjectConfig`].
//!
//! Loading is the only step that can fail: [`ProjectConfig::from_json`] validates the
//! datafile as the reference SDK does and reports the first problem with its JSON path.
//! Everything a decision needs is then resolved to indices: experiments (top-level,
//! grouped and rollout rules in one list), audiences compiled into condition trees,
//! variable values cast to their types.
//!
//! Traps of the format, handled here so that callers need not know them:
//! - `audienceConditions`, when present (even `[]`), replaces `audienceIds`.
//! - Typed audiences replace legacy audiences with the same id.
//! - `endOfRange` is an exclusive cumulative bound, scanned in datafile order;
//!   an `entityId` of `""` is a deliberate hole.
//! - The last rule of a rollout is "Everyone Else".
//! - A `string` variable with `subType: "json"` is a JSON variable.
//!
//! ```
//! use vario_datafile::ProjectConfig;
//!
//! let config = ProjectConfig::from_json(r#"{"version": "4", "accountId": "1",
//!     "projectId": "2", "revision": "3", "groups": [], "experiments": [],
//!     "events": [], "audiences": [], "attributes": []}"#)?;
//! assert_eq!(config.revision, "3");
//!
//! let err = ProjectConfig::from_json(r#"{"version": 4}"#).unwrap_err();
//! assert_eq!(err.to_string(), "version: expected a string, found 4");
//! # Ok::<(), vario_datafile::DatafileError>(())
//! ```
#![deny(missing_docs)]

mod condition;
mod config;
mod error;
mod optimizely_config;
mod parse;
mod raw;
pub mod semver;
mod tree;
mod variable;
mod walk;

pub use condition::{Condition, ConditionTree, ExactValue, MAX_SAFE_NUMBER, Matcher, Ordering, finite_number};
pub use config::{
    Attribute, Audience, AudienceIndex, AudienceTree, Cmab, Event, EventIndex, Experiment, ExperimentIndex, Flag,
    FlagIndex, Group, Holdout, Origin, ProjectConfig, Region, Rollout, TrafficRange, Variable, Variation, VariationRef,
};
pub use error::{DatafileError, Problem, Warning};
pub use optimizely_config::{
    OptimizelyAttribute, OptimizelyAudience, OptimizelyConfig, OptimizelyEvent, OptimizelyExperiment,
    OptimizelyFeature, OptimizelyVariable, OptimizelyVariation,
};
pub use semver::TargetVersion;
pub use tree::Tree;
pub use variable::VariableType;

impl ProjectConfig {
    /// Parses and validates a datafile.
    pub fn from_json(text: &str) -> Result<Self, DatafileError> {
        parse::parse(text)
    }

    /// Validates and compiles an already-parsed datafile.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, DatafileError> {
        parse::from_value(value)
    }
}
