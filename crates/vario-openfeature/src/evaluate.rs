//! Evaluating OpenFeature flag keys for a user: one key, or every key of a datafile.

use serde_json::{Map, Value};
use vario_sdk::{Client, DecideOptions, Decision, DecisionError, ProjectConfig};

use crate::context::EvaluationContext;
use crate::reason::{Reason, reason};

/// A successful evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The key asked for.
    pub key: String,
    /// The value: the flag's on/off state, or the variable's typed value.
    pub value: Value,
    /// The decided variation's key (none when no rule applied).
    pub variant: Option<String>,
    /// Why this value.
    pub reason: Reason,
    /// `flagKey`, and when a rule decided, `ruleKey` and `ruleType`
    /// (`feature-test`, `rollout`, `holdout`).
    pub metadata: Map<String, Value>,
}

/// OpenFeature error codes this crate gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// No flag (or no variable of the flag) has this key.
    FlagNotFound,
    /// The context has no `targetingKey`.
    TargetingKeyMissing,
    /// The context is not an object, or its `targetingKey` is not a string.
    InvalidContext,
    /// The request could not be read.
    ParseError,
    /// Anything else (for example: no datafile yet).
    General,
}

impl ErrorCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FlagNotFound => "FLAG_NOT_FOUND",
            Self::TargetingKeyMissing => "TARGETING_KEY_MISSING",
            Self::InvalidContext => "INVALID_CONTEXT",
            Self::ParseError => "PARSE_ERROR",
            Self::General => "GENERAL",
        }
    }
}

/// Why a key could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {details}", code.as_str())]
pub struct EvaluationError {
    /// The OpenFeature error code.
    pub code: ErrorCode,
    /// For people.
    pub details: String,
}

/// What an OpenFeature key names in a datafile.
enum Target<'k> {
    Flag(&'k str),
    Variable { flag: &'k str, variable: &'k str },
}

/// A flag key is itself; otherwise `flag.variable` at the first dot where the part
/// before is a flag that has the part after as a variable (flag keys may hold dots).
fn target<'k>(config: &ProjectConfig, key: &'k str) -> Option<Target<'k>> {
    if config.flag_by_key(key).is_some() {
        return Some(Target::Flag(key));
    }
    key.match_indices('.').find_map(|(at, _)| {
        let (flag, variable) = (&key[..at], &key[at + 1..]);
        let index = config.flag_by_key(flag)?;
        config.flags[index].variable_by_key(variable)?;
        Some(Target::Variable { flag, variable })
    })
}

fn not_configured() -> EvaluationError {
    EvaluationError { code: ErrorCode::General, details: "no datafile has been loaded for this environment".into() }
}

/// Evaluates one key for the user of `context` (an impression is sent as `decide` sends it).
pub fn evaluate(client: &Client, key: &str, context: &EvaluationContext) -> Result<Evaluation, EvaluationError> {
    let config = client.config().ok_or_else(not_configured)?;
    let target = target(&config, key).ok_or_else(|| EvaluationError {
        code: ErrorCode::FlagNotFound,
        details: format!("no flag, and no flag.variable, has the key {key:?}"),
    })?;
    let user = client.create_user_context(context.user_id.clone(), context.attributes.clone());
    let (flag, variable) = match target {
        Target::Flag(flag) => (flag, None),
        Target::Variable { flag, variable } => (flag, Some(variable)),
    };
    let decision = user.decide(flag, DecideOptions::NONE);
    evaluation(key, &decision, variable)
}

/// Evaluates every flag and every flag variable for the user of `context`, flags in
/// datafile order, each followed by its variables (one `decide` per flag).
pub fn evaluate_all(client: &Client, context: &EvaluationContext) -> Result<Vec<Evaluation>, EvaluationError> {
    let config = client.config().ok_or_else(not_configured)?;
    let user = client.create_user_context(context.user_id.clone(), context.attributes.clone());
    let mut out = Vec::new();
    for decision in user.decide_all(DecideOptions::NONE) {
        let flag = decision.flag_key().to_owned();
        out.push(evaluation(&flag, &decision, None)?);
        let Some(index) = config.flag_by_key(&flag) else { continue };
        for variable in &config.flags[index].variables {
            out.push(evaluation(&format!("{flag}.{}", variable.key), &decision, Some(&variable.key))?);
        }
    }
    Ok(out)
}

fn evaluation(key: &str, decision: &Decision, variable: Option<&str>) -> Result<Evaluation, EvaluationError> {
    if let Some(error) = decision.error() {
        return Err(match error {
            DecisionError::NotConfigured => not_configured(),
            DecisionError::UnknownFlag => {
                EvaluationError { code: ErrorCode::FlagNotFound, details: format!("no flag has the key {key:?}") }
            }
            other => EvaluationError { code: ErrorCode::General, details: format!("{other:?}") },
        });
    }
    let value = match variable {
        None => Value::Bool(decision.enabled()),
        Some(variable) => decision.variable(variable).cloned().ok_or_else(|| EvaluationError {
            code: ErrorCode::FlagNotFound,
            details: format!("the flag {:?} has no variable {variable:?}", decision.flag_key()),
        })?,
    };
    let mut metadata = Map::new();
    metadata.insert("flagKey".into(), decision.flag_key().into());
    if let Some(rule) = decision.rule_key() {
        metadata.insert("ruleKey".into(), rule.into());
        if let Some(made) = decision.flag_decision() {
            metadata.insert("ruleType".into(), made.source().as_str().into());
        }
    }
    Ok(Evaluation {
        key: key.to_owned(),
        value,
        variant: decision.variation_key().map(str::to_owned),
        reason: reason(decision).unwrap_or(Reason::Default),
        metadata,
    })
}
