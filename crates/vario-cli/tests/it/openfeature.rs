//! The official OpenFeature OFREP providers as clients of `vario serve`: the JavaScript
//! server provider and web provider (`tools/openfeature/ofrep_clients.mjs`) and the
//! Python provider (`tools/openfeature/ofrep_client.py`) evaluate every flag and flag
//! variable of a generated datafile for generated users. Each value and variant must be
//! what Vario's SDK decides for the same user, with the reason Vario gives, and unknown
//! keys must come back as FLAG_NOT_FOUND with the caller's default.
//!
//! Needs `tools/openfeature/node_modules/` and `.venv-openfeature/`, which
//! `tools/openfeature/setup.sh` installs (`scripts/test` runs it first); without them
//! these tests fail, they do not skip.

use std::process::Command;

use serde_json::{Value, json};
use vario_sdk::{Attributes, Client, DecideOptions, DispatchError, EventDispatcher, LogEvent};
use vario_testkit::{Shape, datafile, users};

use crate::official_clients::{repo_root, run_client};
use crate::support::Server;

const SDK_KEY: &str = "openfeature";

struct Discard;

impl EventDispatcher for Discard {
    fn dispatch(&self, _: &LogEvent) -> Result<(), DispatchError> {
        Ok(())
    }
}

/// Flags with feature tests and rollouts, each with a boolean, integer, string and JSON
/// variable.
fn generated() -> Value {
    datafile(Shape { experiments: 2, flags: 4, audiences: 4, variables_per_flag: 4 }, 33)
}

/// One evaluation asked of a provider, with what Vario's SDK decides for it.
struct Case {
    request: Value,
    value: Value,
    variant: Option<String>,
    reason: &'static str,
}

/// Every flag and variable key for every user, and two keys that do not exist.
fn cases(datafile: &Value, integer_type: &str) -> Vec<Case> {
    let client = Client::builder()
        .datafile(&datafile.to_string())
        .unwrap()
        .event_dispatcher(Discard)
        .immediate_events()
        .build()
        .unwrap();
    let mut cases = Vec::new();
    for (id, attributes) in users(12, 5) {
        let mut context = attributes.clone();
        context.insert("targetingKey".into(), json!(id));
        let user = client.create_user_context(id.clone(), Attributes::from(attributes.clone()));
        for flag in datafile["featureFlags"].as_array().unwrap() {
            let flag_key = flag["key"].as_str().unwrap();
            let decision = user.decide(flag_key, DecideOptions::DISABLE_DECISION_EVENT);
            let ctx = vario_openfeature::EvaluationContext::from_json(Some(&Value::Object(context.clone()))).unwrap();
            let reason = vario_openfeature::evaluate(&client, flag_key, &ctx).unwrap().reason.as_str();
            let variant = decision.variation_key().map(str::to_owned);
            cases.push(Case {
                request: json!({"key": flag_key, "type": "boolean", "default": !decision.enabled(), "context": context}),
                value: json!(decision.enabled()),
                variant: variant.clone(),
                reason,
            });
            for variable in flag["variables"].as_array().unwrap() {
                let key = variable["key"].as_str().unwrap();
                let (kind, default) = match variable["type"].as_str().unwrap() {
                    "boolean" => ("boolean", json!(false)),
                    "integer" => (integer_type, json!(-1)),
                    "double" => ("number", json!(-1.5)),
                    "json" => ("object", json!({"default": true})),
                    _ => ("string", json!("the default")),
                };
                cases.push(Case {
                    request: json!({"key": format!("{flag_key}.{key}"), "type": kind, "default": default, "context": context}),
                    value: decision.variable(key).cloned().unwrap(),
                    variant: variant.clone(),
                    reason,
                });
            }
        }
    }
    for key in ["no_such_flag", "flag_0.no_such_variable"] {
        cases.push(Case {
            request: json!({"key": key, "type": "string", "default": "the default", "context": {"targetingKey": "u"}}),
            value: json!("the default"),
            variant: None,
            reason: "ERROR",
        });
    }
    cases
}

fn check(provider: &str, cases: &[Case], answers: &Value) {
    let answers = answers.as_array().unwrap_or_else(|| panic!("{provider}: no answers"));
    assert_eq!(answers.len(), cases.len(), "{provider}");
    for (case, got) in cases.iter().zip(answers) {
        let what = format!("{provider} {}", case.request);
        assert_eq!(got["value"], case.value, "{what}: {got}");
        assert_eq!(got["reason"], case.reason, "{what}: {got}");
        if case.reason == "ERROR" {
            assert_eq!(got["errorCode"], "FLAG_NOT_FOUND", "{what}: {got}");
        } else {
            assert_eq!(got["errorCode"], Value::Null, "{what}: {got}");
            assert_eq!(got["variant"].as_str(), case.variant.as_deref(), "{what}: {got}");
            assert_eq!(got["metadata"]["flagKey"], case.request["key"].as_str().unwrap().split('.').next().unwrap());
        }
    }
}

fn input(server: &Server, cases: &[Case]) -> String {
    let cases: Vec<&Value> = cases.iter().map(|c| &c.request).collect();
    json!({"url": server.url, "sdk_key": SDK_KEY, "cases": cases}).to_string()
}

fn started() -> (Server, Value) {
    let server = Server::start();
    let datafile = generated();
    server.put_datafile(SDK_KEY, &datafile.to_string());
    (server, datafile)
}

#[test]
fn the_javascript_server_and_web_providers_get_what_vario_decides() {
    let dir = repo_root().join("tools/openfeature");
    let modules = dir.join("node_modules/@openfeature/ofrep-web-provider");
    assert!(modules.is_dir(), "{} is missing: run tools/openfeature/setup.sh (scripts/test does)", modules.display());
    let (server, datafile) = started();
    let cases = cases(&datafile, "number");
    let mut node = Command::new("node");
    node.arg(dir.join("ofrep_clients.mjs"));
    let answers = run_client(node, &input(&server, &cases));
    check("server provider", &cases, &answers["server"]);
    check("web provider", &cases, &answers["web"]);
}

#[test]
fn the_python_provider_gets_what_vario_decides() {
    let python = repo_root().join(".venv-openfeature/bin/python");
    assert!(python.is_file(), "{} is missing: run tools/openfeature/setup.sh (scripts/test does)", python.display());
    let (server, datafile) = started();
    let cases = cases(&datafile, "integer");
    let mut command = Command::new(python);
    command.arg(repo_root().join("tools/openfeature/ofrep_client.py"));
    let answers = run_client(command, &input(&server, &cases));
    check("python provider", &cases, &answers["server"]);
}
