//! OpenFeature keys evaluated on a compatibility datafile agree with `decide`.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use vario_openfeature::{ErrorCode, EvaluationContext, Reason, evaluate, evaluate_all};
use vario_sdk::{Client, DecideOptions, DispatchError, EventDispatcher, LogEvent};

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Value>>>);

impl EventDispatcher for Recorder {
    fn dispatch(&self, event: &LogEvent) -> Result<(), DispatchError> {
        self.0.lock().unwrap().push(serde_json::from_slice(&event.json()).unwrap());
        Ok(())
    }
}

fn client() -> (Client, Recorder) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/compat/05-feature-variables/datafile.json");
    let text = std::fs::read_to_string(path).unwrap();
    let recorder = Recorder::default();
    let client = Client::builder()
        .datafile(&text)
        .unwrap()
        .event_dispatcher(recorder.clone())
        .immediate_events()
        .build()
        .unwrap();
    (client, recorder)
}

fn context(user: &str) -> EvaluationContext {
    EvaluationContext::from_json(Some(&json!({"targetingKey": user, "plan": "gold", "country": "us", "vip": true})))
        .unwrap()
}

#[test]
fn a_flag_key_is_its_on_state_and_flag_dot_variable_is_the_variable_for_every_user() {
    let (client, _) = client();
    let config = client.config().unwrap();
    for i in 0..200 {
        let ctx = context(&format!("user_{i}"));
        let user = client.create_user_context(ctx.user_id.clone(), ctx.attributes.clone());
        for flag in &config.flags {
            let decision = user.decide(&flag.key, DecideOptions::DISABLE_DECISION_EVENT);
            let got = evaluate(&client, &flag.key, &ctx).unwrap();
            assert_eq!(got.value, Value::Bool(decision.enabled()), "{} {i}", flag.key);
            assert_eq!(got.variant.as_deref(), decision.variation_key());
            assert_eq!(got.metadata.get("ruleKey").and_then(Value::as_str), decision.rule_key());
            for variable in &flag.variables {
                let key = format!("{}.{}", flag.key, variable.key);
                let got = evaluate(&client, &key, &ctx).unwrap();
                assert_eq!(Some(&got.value), decision.variable(&variable.key), "{key} {i}");
                assert_eq!(got.variant.as_deref(), decision.variation_key());
            }
        }
    }
}

#[test]
fn json_variables_are_objects_and_doubles_numbers() {
    let (client, _) = client();
    let ctx = context("user_1");
    assert!(evaluate(&client, "flag_0.var_2_json", &ctx).unwrap().value.is_object());
    assert!(evaluate(&client, "flag_0.var_0_double", &ctx).unwrap().value.is_f64());
}

#[test]
fn reasons_follow_the_rule_that_decided() {
    let (client, _) = client();
    let mut seen = Vec::new();
    for i in 0..300 {
        let ctx = context(&format!("user_{i}"));
        for e in evaluate_all(&client, &ctx).unwrap() {
            let rule_type = e.metadata.get("ruleType").and_then(Value::as_str);
            let expected = match rule_type {
                Some("feature-test") | Some("holdout") => Reason::Split,
                Some(_) => Reason::TargetingMatch,
                None => Reason::Default,
            };
            assert_eq!(e.reason, expected, "{} {i} {:?}", e.key, e.metadata);
            if !seen.contains(&e.reason) {
                seen.push(e.reason);
            }
        }
    }
    assert_eq!(seen.len(), 3, "the datafile gives all three reasons: {seen:?}");
}

#[test]
fn bulk_evaluation_is_every_key_evaluated_alone() {
    let (client, _) = client();
    let ctx = context("user_42");
    let all = evaluate_all(&client, &ctx).unwrap();
    let config = client.config().unwrap();
    let keys: usize = config.flags.iter().map(|f| 1 + f.variables.len()).sum();
    assert_eq!(all.len(), keys);
    for e in all {
        assert_eq!(evaluate(&client, &e.key, &ctx).unwrap(), e);
    }
}

#[test]
fn unknown_flags_and_variables_are_flag_not_found() {
    let (client, _) = client();
    let ctx = context("u");
    for key in ["nope", "flag_0.nope", "flag_0.", ".var_0_double", ""] {
        assert_eq!(evaluate(&client, key, &ctx).unwrap_err().code, ErrorCode::FlagNotFound, "{key:?}");
    }
}

#[test]
fn evaluating_sends_the_impressions_decide_sends() {
    let (client, recorder) = client();
    let ctx = context("user_7");
    let user = client.create_user_context(ctx.user_id.clone(), ctx.attributes.clone());
    user.decide("flag_1", DecideOptions::NONE);
    let by_decide = recorder.0.lock().unwrap().drain(..).collect::<Vec<_>>();
    evaluate(&client, "flag_1", &ctx).unwrap();
    let by_evaluate = recorder.0.lock().unwrap().drain(..).collect::<Vec<_>>();
    let decisions = |events: &[Value]| -> Vec<Value> {
        events.iter().map(|e| e["visitors"][0]["snapshots"][0]["decisions"].clone()).collect()
    };
    assert_eq!(decisions(&by_evaluate), decisions(&by_decide));
    assert_eq!(by_evaluate.len(), 1);
}
