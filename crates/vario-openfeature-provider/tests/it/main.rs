//! The provider through the OpenFeature SDK's client: the values and variants of every
//! flag and variable are what `decide` gives, errors come back with the caller's default.

use std::sync::Arc;

use open_feature::{EvaluationContext, EvaluationErrorCode, EvaluationReason, OpenFeature};
use serde_json::Value;
use vario_openfeature_provider::VarioProvider;
use vario_sdk::{Client, DecideOptions, DispatchError, EventDispatcher, LogEvent};

struct Discard;

impl EventDispatcher for Discard {
    fn dispatch(&self, _: &LogEvent) -> Result<(), DispatchError> {
        Ok(())
    }
}

fn client() -> Arc<Client> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/compat/05-feature-variables/datafile.json");
    let text = std::fs::read_to_string(path).unwrap();
    Arc::new(Client::builder().datafile(&text).unwrap().event_dispatcher(Discard).immediate_events().build().unwrap())
}

fn user(id: &str) -> EvaluationContext {
    EvaluationContext::default()
        .with_targeting_key(id)
        .with_custom_field("plan", "gold")
        .with_custom_field("country", "us")
        .with_custom_field("vip", true)
}

fn attributes() -> vario_sdk::Attributes {
    let json = serde_json::json!({"plan": "gold", "country": "us", "vip": true});
    vario_sdk::Attributes::from(json.as_object().unwrap().clone())
}

// One test owns the OpenFeature API singleton.
#[tokio::test]
async fn the_openfeature_client_gets_what_decide_gives_and_defaults_on_errors() {
    let client = client();
    OpenFeature::singleton_mut().await.set_provider(VarioProvider::new(Arc::clone(&client))).await;
    let flags = OpenFeature::singleton().await.create_client();
    let config = client.config().unwrap();
    let mut reasons = Vec::new();
    for i in 0..50 {
        let id = format!("user_{i}");
        let ctx = user(&id);
        let sdk_user = client.create_user_context(id.clone(), attributes());
        for flag in &config.flags {
            let decision = sdk_user.decide(&flag.key, DecideOptions::DISABLE_DECISION_EVENT);
            let got = flags.get_bool_details(&flag.key, Some(&ctx), None).await.unwrap();
            assert_eq!(got.value, decision.enabled(), "{} {id}", flag.key);
            assert_eq!(got.variant.as_deref(), decision.variation_key());
            reasons.push(got.reason.clone());
            for variable in &flag.variables {
                let key = format!("{}.{}", flag.key, variable.key);
                let expected = decision.variable(&variable.key).unwrap();
                match expected {
                    Value::Bool(b) => assert_eq!(flags.get_bool_value(&key, Some(&ctx), None).await.unwrap(), *b),
                    Value::String(s) => assert_eq!(&flags.get_string_value(&key, Some(&ctx), None).await.unwrap(), s),
                    Value::Number(n) if n.is_i64() => {
                        assert_eq!(flags.get_int_value(&key, Some(&ctx), None).await.unwrap(), n.as_i64().unwrap());
                    }
                    Value::Number(n) => {
                        assert_eq!(flags.get_float_value(&key, Some(&ctx), None).await.unwrap(), n.as_f64().unwrap());
                    }
                    Value::Object(o) => {
                        let got = flags.get_struct_value::<open_feature::StructValue>(&key, Some(&ctx), None).await;
                        assert_eq!(got.unwrap().fields.len(), o.len(), "{key}");
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(reasons.contains(&Some(EvaluationReason::Split)));
    assert!(reasons.contains(&Some(EvaluationReason::Default)));

    let missing = flags.get_bool_details("no_such_flag", Some(&user("u")), None).await.unwrap_err();
    assert_eq!(missing.code, EvaluationErrorCode::FlagNotFound);
    let mismatch = flags.get_int_value("flag_1.var_4_string", Some(&user("u")), None).await.unwrap_err();
    assert_eq!(mismatch.code, EvaluationErrorCode::TypeMismatch);
    let anonymous = flags.get_bool_details("flag_1", Some(&EvaluationContext::default()), None).await.unwrap_err();
    assert_eq!(anonymous.code, EvaluationErrorCode::TargetingKeyMissing);
}
