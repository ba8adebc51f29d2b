//! The example payloads of events.md §10, reproduced exactly (the Python reference
//! output, with this SDK's client name and version).

use serde_json::{Value, json};
use vario_events::{EventFactory, Impression, LogEvent, RuleType, UserEvent};

use crate::fixture::{as_ours, attrs, body, config, object};

/// Compares as JSON values and as text, so that key order counts too.
fn assert_payload(event: UserEvent, expected: Value) {
    let expected = as_ours(expected);
    let log = LogEvent::from(event.clone());
    let text = log.to_json_string();
    assert_eq!(body(event), expected);
    assert_eq!(text, serde_json::to_string(&expected).unwrap());
    // The fast writer and serde agree byte for byte.
    assert_eq!(text, serde_json::to_string(&log.params()).unwrap());
}

#[test]
fn activate_impression_10_1() {
    let config = config();
    let factory = EventFactory::new(&config);
    let exp = &config.experiments[config.experiment_by_key("ab_exp").unwrap()];
    let control = &exp.variations[exp.variation_by_key("control").unwrap()];
    let attributes =
        attrs(json!({"device": "iphone", "age": 34, "unknown_attr": "dropped", "$opt_user_agent": "Mozilla/5.0"}));
    let event = factory
        .impression(&Impression {
            user_id: "user_4",
            attributes: &attributes,
            layer_id: &exp.layer_id,
            experiment_id: &exp.id,
            variation: Some((&control.id, &control.key)),
            flag_key: "",
            rule_key: &exp.key,
            rule_type: RuleType::Experiment,
            enabled: true,
            cmab_uuid: None,
        })
        .with_uuid("00000000-0000-4000-8000-000000000001")
        .with_timestamp(1_700_000_000_002);
    assert_payload(
        event,
        json!({
          "account_id": "12001",
          "project_id": "12002",
          "revision": "42",
          "client_name": "python-sdk",
          "client_version": "5.7.0",
          "anonymize_ip": true,
          "enrich_decisions": true,
          "visitors": [
            {
              "snapshots": [
                {
                  "events": [
                    {
                      "entity_id": "41001",
                      "uuid": "00000000-0000-4000-8000-000000000001",
                      "key": "campaign_activated",
                      "timestamp": 1_700_000_000_002_i64
                    }
                  ],
                  "decisions": [
                    {
                      "campaign_id": "41001",
                      "experiment_id": "40001",
                      "variation_id": "40011",
                      "metadata": {
                        "flag_key": "",
                        "rule_key": "ab_exp",
                        "rule_type": "experiment",
                        "variation_key": "control",
                        "enabled": true
                      }
                    }
                  ]
                }
              ],
              "attributes": [
                {"entity_id": "20001", "key": "device", "type": "custom", "value": "iphone"},
                {"entity_id": "20002", "key": "age", "type": "custom", "value": 34},
                {"entity_id": "$opt_user_agent", "key": "$opt_user_agent", "type": "custom", "value": "Mozilla/5.0"},
                {"entity_id": "$opt_bot_filtering", "key": "$opt_bot_filtering", "type": "custom", "value": true}
              ],
              "visitor_id": "user_4"
            }
          ]
        }),
    );
}

#[test]
fn rollout_decision_10_2() {
    let config = config();
    let factory = EventFactory::new(&config);
    let rule = &config.experiments[config.experiment_by_key("rule_adult").unwrap()];
    let on = &rule.variations[0];
    let attributes = attrs(json!({"age": 30}));
    let event = factory
        .impression(&Impression {
            user_id: "user_4",
            attributes: &attributes,
            layer_id: &rule.layer_id,
            experiment_id: &rule.id,
            variation: Some((&on.id, &on.key)),
            flag_key: "checkout_flag",
            rule_key: &rule.key,
            rule_type: RuleType::Rollout,
            enabled: on.feature_enabled,
            cmab_uuid: None,
        })
        .with_uuid("00000000-0000-4000-8000-000000000003")
        .with_timestamp(1_700_000_000_004);
    assert_payload(
        event,
        json!({
          "account_id": "12001",
          "project_id": "12002",
          "revision": "42",
          "client_name": "python-sdk",
          "client_version": "5.7.0",
          "anonymize_ip": true,
          "enrich_decisions": true,
          "visitors": [
            {
              "snapshots": [
                {
                  "events": [
                    {
                      "entity_id": "80001",
                      "uuid": "00000000-0000-4000-8000-000000000003",
                      "key": "campaign_activated",
                      "timestamp": 1_700_000_000_004_i64
                    }
                  ],
                  "decisions": [
                    {
                      "campaign_id": "80001",
                      "experiment_id": "81002",
                      "variation_id": "81021",
                      "metadata": {
                        "flag_key": "checkout_flag",
                        "rule_key": "rule_adult",
                        "rule_type": "rollout",
                        "variation_key": "rule_on2",
                        "enabled": true
                      }
                    }
                  ]
                }
              ],
              "attributes": [
                {"entity_id": "20002", "key": "age", "type": "custom", "value": 30},
                {"entity_id": "$opt_bot_filtering", "key": "$opt_bot_filtering", "type": "custom", "value": true}
              ],
              "visitor_id": "user_4"
            }
          ]
        }),
    );
}

/// The §10.3 track, shared with the snapshot test.
pub(crate) fn track_10_3() -> UserEvent {
    let factory = EventFactory::new(&config());
    let attributes = attrs(json!({"plan": "gold", "age": 34.5, "device": null}));
    let tags = object(json!({"revenue": 4200, "value": "12.5", "category": "shoes", "coupon": null}));
    factory
        .conversion("purchase", "user_4", &attributes, Some(&tags))
        .unwrap()
        .with_uuid("00000000-0000-4000-8000-000000000005")
        .with_timestamp(1_700_000_000_006)
}

#[test]
fn track_conversion_10_3() {
    assert_payload(
        track_10_3(),
        json!({
          "account_id": "12001",
          "project_id": "12002",
          "revision": "42",
          "client_name": "python-sdk",
          "client_version": "5.7.0",
          "anonymize_ip": true,
          "enrich_decisions": true,
          "visitors": [
            {
              "snapshots": [
                {
                  "events": [
                    {
                      "entity_id": "90001",
                      "uuid": "00000000-0000-4000-8000-000000000005",
                      "key": "purchase",
                      "timestamp": 1_700_000_000_006_i64,
                      "revenue": 4200,
                      "value": 12.5,
                      "tags": {"revenue": 4200, "value": "12.5", "category": "shoes", "coupon": null}
                    }
                  ]
                }
              ],
              "attributes": [
                {"entity_id": "20004", "key": "plan", "type": "custom", "value": "gold"},
                {"entity_id": "20002", "key": "age", "type": "custom", "value": 34.5},
                {"entity_id": "$opt_bot_filtering", "key": "$opt_bot_filtering", "type": "custom", "value": true}
              ],
              "visitor_id": "user_4"
            }
          ]
        }),
    );
}

#[test]
fn no_decision_fragment_10_4() {
    let factory = EventFactory::new(&config());
    let event = factory
        .impression(&Impression {
            user_id: "user_4",
            attributes: &attrs(json!({})),
            layer_id: "",
            experiment_id: "",
            variation: None,
            flag_key: "empty_flag",
            rule_key: "",
            rule_type: RuleType::Rollout,
            enabled: false,
            cmab_uuid: None,
        })
        .with_uuid("00000000-0000-4000-8000-000000000007")
        .with_timestamp(1_700_000_000_008);
    let body = body(event);
    assert_eq!(
        body["visitors"][0]["snapshots"],
        json!([{
          "events": [{"entity_id": "", "uuid": "00000000-0000-4000-8000-000000000007",
                      "key": "campaign_activated", "timestamp": 1_700_000_000_008_i64}],
          "decisions": [{"campaign_id": "", "experiment_id": "", "variation_id": null,
                         "metadata": {"flag_key": "empty_flag", "rule_key": "", "rule_type": "rollout",
                                      "variation_key": "", "enabled": false}}]
        }])
    );
}

#[test]
fn batch_of_three_has_one_visitor_per_event_in_order() {
    let factory = EventFactory::new(&config());
    let none = attrs(json!({}));
    let imp = factory.impression(&Impression {
        user_id: "user_1",
        attributes: &none,
        layer_id: "41001",
        experiment_id: "40001",
        variation: Some(("40011", "control")),
        flag_key: "",
        rule_key: "ab_exp",
        rule_type: RuleType::Experiment,
        enabled: true,
        cmab_uuid: None,
    });
    let c1 = factory.conversion("purchase", "user_1", &none, None).unwrap();
    let c2 = factory.conversion("purchase", "user_2", &none, None).unwrap();
    let log = LogEvent::from_events(&[imp, c1, c2]).unwrap();
    let ids: Vec<_> = log.params().visitors.iter().map(|v| v.visitor_id.as_str()).collect();
    assert_eq!(ids, ["user_1", "user_1", "user_2"]);
    assert!(log.params().visitors[0].snapshots[0].decisions.is_some());
    assert!(log.params().visitors[1].snapshots[0].decisions.is_none());
    assert_eq!(log.url, "https://logx.optimizely.com/v1/events");
    assert_eq!(log.http_verb, "POST");
    assert_eq!(log.headers, [("Content-Type", "application/json")]);
}
