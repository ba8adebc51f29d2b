//! [`VarioProvider`]: OpenFeature's `FeatureProvider` over a Vario SDK [`Client`], for
//! Rust services that evaluate flags through the `open-feature` crate. Keys, values,
//! variants and reasons are [`vario_openfeature`]'s, the same as `vario serve`'s OFREP
//! endpoints give; evaluations send the impressions `decide` sends.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use open_feature::{EvaluationContext, OpenFeature};
//! use vario_openfeature_provider::VarioProvider;
//!
//! let client = vario_sdk::Client::builder().sdk_key("SDK_KEY").build()?;
//! OpenFeature::singleton_mut().await.set_provider(VarioProvider::new(client)).await;
//! let flags = OpenFeature::singleton().await.create_client();
//! let user = EvaluationContext::default().with_targeting_key("user-123").with_custom_field("country", "de");
//! let on = flags.get_bool_value("checkout", Some(&user), None).await.unwrap_or(false);
//! # Ok(()) }
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use open_feature::provider::{FeatureProvider, ProviderMetadata, ProviderStatus, ResolutionDetails};
use open_feature::{
    EvaluationContext, EvaluationContextFieldValue, EvaluationError, EvaluationErrorCode, EvaluationReason,
    EvaluationResult, FlagMetadata, StructValue, Value as OfValue,
};
use serde_json::{Map, Value};
use vario_openfeature::{ErrorCode, Evaluation, Reason, TARGETING_KEY};
use vario_sdk::Client;

/// Vario's SDK as an OpenFeature provider.
pub struct VarioProvider {
    client: Arc<Client>,
    metadata: ProviderMetadata,
}

impl VarioProvider {
    /// A provider deciding with `client`.
    pub fn new(client: impl Into<Arc<Client>>) -> Self {
        Self { client: client.into(), metadata: ProviderMetadata::new("Vario") }
    }

    /// The SDK client (for `track`, `close` and the rest of its API).
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    fn evaluate(&self, key: &str, context: &EvaluationContext) -> EvaluationResult<Evaluation> {
        let context = vario_openfeature::EvaluationContext::from_json(Some(&context_json(context))).map_err(error)?;
        vario_openfeature::evaluate(&self.client, key, &context).map_err(error)
    }
}

/// The context as the JSON object the OFREP endpoints take.
fn context_json(context: &EvaluationContext) -> Value {
    let mut map = Map::new();
    if let Some(key) = &context.targeting_key {
        map.insert(TARGETING_KEY.into(), key.clone().into());
    }
    for (name, value) in &context.custom_fields {
        let value = match value {
            EvaluationContextFieldValue::Bool(b) => Value::Bool(*b),
            EvaluationContextFieldValue::Int(i) => Value::from(*i),
            EvaluationContextFieldValue::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
            EvaluationContextFieldValue::String(s) => Value::String(s.clone()),
            // Audiences compare strings, numbers and booleans only.
            EvaluationContextFieldValue::DateTime(t) => Value::String(t.to_string()),
            EvaluationContextFieldValue::Struct(_) => continue,
        };
        map.insert(name.clone(), value);
    }
    Value::Object(map)
}

fn error(e: vario_openfeature::EvaluationError) -> EvaluationError {
    let code = match e.code {
        ErrorCode::FlagNotFound => EvaluationErrorCode::FlagNotFound,
        ErrorCode::TargetingKeyMissing => EvaluationErrorCode::TargetingKeyMissing,
        ErrorCode::InvalidContext => EvaluationErrorCode::InvalidContext,
        ErrorCode::ParseError => EvaluationErrorCode::ParseError,
        ErrorCode::General => EvaluationErrorCode::General(e.details.clone()),
    };
    EvaluationError { code, message: Some(e.details) }
}

fn mismatch(key: &str, wanted: &str, value: &Value) -> EvaluationError {
    EvaluationError {
        code: EvaluationErrorCode::TypeMismatch,
        message: Some(format!("{key} is not {wanted}: its value is {value}")),
    }
}

fn details<T>(e: Evaluation, value: T) -> ResolutionDetails<T> {
    let mut metadata = FlagMetadata::default();
    for (name, v) in &e.metadata {
        if let Some(s) = v.as_str() {
            metadata = metadata.with_value(name.clone(), s.to_owned());
        }
    }
    let reason = match e.reason {
        Reason::Split => EvaluationReason::Split,
        Reason::TargetingMatch => EvaluationReason::TargetingMatch,
        Reason::Default => EvaluationReason::Default,
    };
    ResolutionDetails { value, variant: e.variant, reason: Some(reason), flag_metadata: Some(metadata) }
}

#[async_trait]
impl FeatureProvider for VarioProvider {
    fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    fn status(&self) -> ProviderStatus {
        if self.client.config().is_some() { ProviderStatus::Ready } else { ProviderStatus::NotReady }
    }

    async fn resolve_bool_value(
        &self,
        key: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<bool>> {
        let e = self.evaluate(key, context)?;
        let value = e.value.as_bool().ok_or_else(|| mismatch(key, "a boolean", &e.value))?;
        Ok(details(e, value))
    }

    async fn resolve_int_value(
        &self,
        key: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<i64>> {
        let e = self.evaluate(key, context)?;
        let value = e.value.as_i64().ok_or_else(|| mismatch(key, "an integer", &e.value))?;
        Ok(details(e, value))
    }

    async fn resolve_float_value(
        &self,
        key: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<f64>> {
        let e = self.evaluate(key, context)?;
        let value = e.value.as_f64().ok_or_else(|| mismatch(key, "a number", &e.value))?;
        Ok(details(e, value))
    }

    async fn resolve_string_value(
        &self,
        key: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<String>> {
        let e = self.evaluate(key, context)?;
        let value = e.value.as_str().map(str::to_owned).ok_or_else(|| mismatch(key, "a string", &e.value))?;
        Ok(details(e, value))
    }

    async fn resolve_struct_value(
        &self,
        key: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<StructValue>> {
        let e = self.evaluate(key, context)?;
        let value = match OfValue::try_from(&e.value)? {
            OfValue::Struct(s) => s,
            _ => return Err(mismatch(key, "an object", &e.value)),
        };
        Ok(details(e, value))
    }
}
