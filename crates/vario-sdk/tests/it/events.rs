//! Impressions and conversions on the wire (checklist items 58–72).

use std::sync::Arc;

use serde_json::{Value, json};
use vario_sdk::{DecideOptions, ProjectConfig};

use crate::support::*;

/// Checklist 58.
#[test]
fn activate_impression_has_empty_flag_key_experiment_rule_type_and_enabled_true() {
    // Variation b is disabled, and the experiment is also a flag's feature test.
    let df = Df::new().experiment(split_experiment("exp")).flag(flag("f", "flag", &["1886780721"], "", json!([])));
    let h = df.client();
    assert_eq!(h.activate("exp", "user22025", json!({})).as_deref(), Some("b"));
    let batch = h.one_event();
    let d = decision_of(&batch);
    assert_eq!(
        d["metadata"],
        json!({"flag_key": "", "rule_key": "exp", "rule_type": "experiment", "variation_key": "b", "enabled": true})
    );
    assert_eq!(event_of(&batch)["key"], json!("campaign_activated"));
    assert_eq!(batch["visitors"][0]["visitor_id"], json!("user22025"));
    // get_variation never sends.
    assert!(h.variation("exp", "user22025", json!({})).is_some());
    assert!(h.events().is_empty());
}

/// Checklist 59.
#[test]
fn campaign_id_is_the_layer_id_or_the_experiment_id_when_the_layer_is_empty() {
    for (layer, campaign) in [("41001", "41001"), ("layer_x", "layer_x"), ("", "1886780721")] {
        let e = with(split_experiment("exp"), "layerId", json!(layer));
        let h = Df::new().experiment(e).client();
        h.activate("exp", "user3808", json!({}));
        let batch = h.one_event();
        let d = decision_of(&batch);
        assert_eq!(d["campaign_id"], json!(campaign), "layer {layer:?}");
        assert_eq!(d["experiment_id"], json!("1886780721"));
        assert_eq!(event_of(&batch)["entity_id"], json!(campaign), "entity_id = campaign_id");
    }
    // A delivery rule: campaign = the rule's layer (the rollout id).
    let r = rule("81001", "everyone", "80001", &[("81011", "on", true)], 10000);
    let df = Df::new().rollout(rollout("80001", vec![r])).flag(flag("f", "flag", &[], "80001", json!([])));
    let h = df.set("sendFlagDecisions", json!(true)).client();
    h.user("u", json!({})).decide("flag", DecideOptions::NONE);
    let batch = h.one_event();
    assert_eq!(decision_of(&batch)["campaign_id"], json!("80001"));
    assert_eq!(decision_of(&batch)["experiment_id"], json!("81001"));
    assert_eq!(event_of(&batch)["entity_id"], json!("80001"));
}

/// Checklist 60.
#[test]
fn non_digit_variation_id_is_sent_as_null_and_the_decision_is_unaffected() {
    for (id, wire) in
        [("var_a", Value::Null), ("12a", Value::Null), (" 12", Value::Null), ("-1", Value::Null), ("012", json!("012"))]
    {
        let e = experiment("70001", "exp", &[(id, "only", true)], &[(id, 10000)]);
        let h = Df::new().experiment(e).client();
        assert_eq!(h.activate("exp", "u", json!({})).as_deref(), Some("only"), "{id:?}");
        let batch = h.one_event();
        assert_eq!(decision_of(&batch)["variation_id"], wire, "{id:?}");
        assert_eq!(decision_of(&batch)["metadata"]["variation_key"], json!("only"));
    }
}

/// A flag with a feature test for users with `test: true` (variation disabled), a
/// rollout for users with `roll: true`, and nothing for anyone else.
fn three_outcomes(send_flag_decisions: bool) -> Harness {
    let test = with(
        experiment("70001", "ft", &[("70011", "ft_off", false)], &[("70011", 10000)]),
        "audienceConditions",
        json!(["tester"]),
    );
    let r =
        with(rule("81001", "roll", "80001", &[("81011", "on", true)], 10000), "audienceConditions", json!(["roller"]));
    Df::new()
        .set("sendFlagDecisions", json!(send_flag_decisions))
        .typed_audience("tester", json!({"name": "test", "type": "custom_attribute", "match": "exact", "value": true}))
        .typed_audience("roller", json!({"name": "roll", "type": "custom_attribute", "match": "exact", "value": true}))
        .experiment(test)
        .rollout(rollout("80001", vec![r]))
        .flag(flag("f", "flag", &["70001"], "80001", json!([])))
        .client()
}

/// Checklist 61.
#[test]
fn send_flag_decisions_false_silences_rollout_and_no_decision_but_not_feature_tests() {
    let h = three_outcomes(false);
    for (attributes, sends) in [(json!({"roll": true}), false), (json!({}), false), (json!({"test": true}), true)] {
        let d = h.user("u", attributes.clone()).decide("flag", DecideOptions::NONE);
        assert_eq!(h.events().len(), usize::from(sends), "decide {attributes} → {:?}", d.rule_key());
        h.client.is_feature_enabled("flag", "u", &attrs(attributes.clone()));
        assert_eq!(h.events().len(), usize::from(sends), "is_feature_enabled {attributes}");
        h.client.get_enabled_features("u", &attrs(attributes.clone()));
        assert_eq!(h.events().len(), usize::from(sends), "get_enabled_features {attributes}");
    }
    h.user("u", json!({"test": true})).decide("flag", DecideOptions::NONE);
    let batch = h.one_event();
    assert_eq!(decision_of(&batch)["metadata"]["rule_type"], json!("feature-test"));
    assert_eq!(decision_of(&batch)["metadata"]["enabled"], json!(false), "disabled variations still send");
    // With sendFlagDecisions the rollout decision sends.
    let h = three_outcomes(true);
    h.user("u", json!({"roll": true})).decide("flag", DecideOptions::NONE);
    assert_eq!(decision_of(&h.one_event())["metadata"]["rule_type"], json!("rollout"));
}

/// Checklist 62.
#[test]
fn send_flag_decisions_true_no_decision_sends_an_impression_with_empty_ids() {
    let h = three_outcomes(true);
    let d = h.user("u", json!({})).decide("flag", DecideOptions::NONE);
    assert_eq!(d.variation_key(), None);
    let from_decide = h.one_event();
    assert!(!h.client.is_feature_enabled("flag", "u", &attrs(json!({}))));
    let from_legacy = h.one_event();
    for batch in [from_decide, from_legacy] {
        assert_eq!(event_of(&batch)["entity_id"], json!(""));
        assert_eq!(
            *decision_of(&batch),
            json!({
                "campaign_id": "", "experiment_id": "", "variation_id": null,
                "metadata": {"flag_key": "flag", "rule_key": "", "rule_type": "rollout", "variation_key": "", "enabled": false}
            })
        );
    }
}

/// Checklist 63.
#[test]
fn feature_variable_getters_never_send_events() {
    let vars = json!([{"id": "v1", "key": "n", "type": "integer", "defaultValue": "1"}]);
    let test = experiment("70001", "ft", &[("70011", "on", true)], &[("70011", 5000)]);
    let r = rule("81001", "roll", "80001", &[("81011", "rolled", true)], 10000);
    let h = Df::new()
        .set("sendFlagDecisions", json!(true))
        .experiment(test)
        .rollout(rollout("80001", vec![r]))
        .flag(flag("f", "flag", &["70001"], "80001", vars))
        .client();
    let none = attrs(json!({}));
    for user in ["user3808", "user22025", "a", "b", "c"] {
        assert!(h.client.get_feature_variable("flag", "n", user, &none).is_some());
        assert!(h.client.get_feature_variable_integer("flag", "n", user, &none).is_some());
        assert!(h.client.get_all_feature_variables("flag", user, &none).is_some());
        assert!(h.client.get_feature_variable_string("flag", "n", user, &none).is_none());
    }
    assert!(h.events().is_empty());
    h.client.is_feature_enabled("flag", "a", &none);
    assert_eq!(h.events().len(), 1, "sanity: the same decision sends from is_feature_enabled");
}

/// Checklist 64.
#[test]
fn disable_decision_event_suppresses_decide_impressions_only() {
    let h = three_outcomes(true);
    let off = DecideOptions::DISABLE_DECISION_EVENT;
    let ctx = h.user("u", json!({"test": true}));
    ctx.decide("flag", off);
    ctx.decide_all(off);
    ctx.decide_for_keys(["flag"], off);
    assert!(h.events().is_empty());
    h.client.is_feature_enabled("flag", "u", &attrs(json!({"test": true})));
    assert_eq!(h.events().len(), 1, "legacy impressions are unaffected");
    let df = Df::new().experiment(split_experiment("exp")).event("90001", "purchase");
    let h = df.client_with(|b| b.default_decide_options(DecideOptions::DISABLE_DECISION_EVENT));
    h.activate("exp", "u", json!({}));
    h.user("u", json!({})).track_event("purchase", None);
    assert_eq!(h.events().len(), 2, "activate and track still send");
}

fn attribute_datafile() -> Df {
    Df::new()
        .attribute("20001", "device")
        .attribute("20002", "age")
        .attribute("20003", "nothing")
        .attribute("20004", "list")
        .attribute("20005", "huge")
        .attribute("20006", "flag")
        .attribute("20007", "$opt_declared")
        .event("90001", "purchase")
        .experiment(split_experiment("exp"))
}

/// Checklist 65.
#[test]
fn event_attributes_keep_declared_and_opt_keys_in_input_order_and_drop_invalid_values() {
    let h = attribute_datafile().client();
    let input = json!({
        "age": 34, "undeclared": "x", "$opt_user_agent": "Mozilla", "device": "iphone",
        "nothing": null, "list": [1], "huge": 18_014_398_509_481_984_u64, "flag": false,
        "$opt_declared": 1.5, "$opt_bad": {"a": 1}, "$opt_bucketing_id": "bk",
        "limit": 9_007_199_254_740_992_u64
    });
    let want = json!([
        {"entity_id": "20002", "key": "age", "type": "custom", "value": 34},
        {"entity_id": "$opt_user_agent", "key": "$opt_user_agent", "type": "custom", "value": "Mozilla"},
        {"entity_id": "20001", "key": "device", "type": "custom", "value": "iphone"},
        {"entity_id": "20006", "key": "flag", "type": "custom", "value": false},
        {"entity_id": "20007", "key": "$opt_declared", "type": "custom", "value": 1.5},
        {"entity_id": "$opt_bucketing_id", "key": "$opt_bucketing_id", "type": "custom", "value": "bk"}
    ]);
    h.activate("exp", "u", input.clone());
    h.user("u", input.clone()).track_event("purchase", None);
    let events = h.events();
    assert_eq!(events.len(), 2);
    for batch in &events {
        assert_eq!(batch["visitors"][0]["attributes"], want);
    }
    // 2^53 itself is valid once declared.
    let h = attribute_datafile().attribute("20008", "limit").client();
    h.user("u", json!({"limit": 9_007_199_254_740_992_u64})).track_event("purchase", None);
    assert_eq!(h.one_event()["visitors"][0]["attributes"][0]["value"], json!(9_007_199_254_740_992_u64));
}

/// Checklist 66.
#[test]
fn bot_filtering_entry_is_appended_last_only_for_a_boolean_bot_filtering() {
    let entry =
        |v: bool| json!({"entity_id": "$opt_bot_filtering", "key": "$opt_bot_filtering", "type": "custom", "value": v});
    for (setting, expected) in [
        (Some(json!(true)), Some(entry(true))),
        (Some(json!(false)), Some(entry(false))),
        (None, None),
        (Some(json!("yes")), None),
        (Some(json!(null)), None),
        (Some(json!(1)), None),
    ] {
        let mut df = attribute_datafile();
        if let Some(s) = &setting {
            df = df.set("botFiltering", s.clone());
        }
        let h = df.client();
        h.activate("exp", "u", json!({"device": "d"}));
        h.user("u", json!({"device": "d"})).track_event("purchase", None);
        for batch in h.events() {
            let list = batch["visitors"][0]["attributes"].as_array().unwrap().clone();
            assert_eq!(list[0]["key"], json!("device"), "{setting:?}");
            assert_eq!(list.get(1).cloned(), expected, "{setting:?}");
            assert!(list.len() <= 2);
        }
    }
}

/// One conversion's snapshot event for `tags`.
fn conversion(tags: Option<Value>) -> Value {
    let h = Df::new().event("90001", "purchase").client();
    let tags = tags.map(map);
    h.client.track("purchase", "u", &attrs(json!({})), tags.as_ref());
    event_of(&h.one_event()).clone()
}

/// Checklist 67.
#[test]
fn revenue_only_from_integers_and_value_from_numbers_or_numeric_strings_as_float() {
    let revenue = |v: Value| conversion(Some(json!({"revenue": v}))).get("revenue").cloned();
    assert_eq!(revenue(json!(1000)), Some(json!(1000)));
    assert_eq!(revenue(json!(-5)), Some(json!(-5)));
    assert_eq!(revenue(json!(0)), Some(json!(0)));
    assert_eq!(revenue(json!(1_152_921_504_606_846_976_u64)), Some(json!(1_152_921_504_606_846_976_u64)));
    for absent in [json!(10.5), json!(100.0), json!("100"), json!(true), json!(null), json!([1])] {
        assert_eq!(revenue(absent.clone()), None, "revenue {absent}");
    }
    let value = |v: Value| conversion(Some(json!({"value": v}))).get("value").cloned();
    for (tag, want) in [
        (json!(3), json!(3.0)),
        (json!(0), json!(0.0)),
        (json!(1.5), json!(1.5)),
        (json!(1e20), json!(1e20)),
        (json!("3.5"), json!(3.5)),
        (json!(" 7 "), json!(7.0)),
        (json!("1_000"), json!(1000.0)),
    ] {
        let got = value(tag.clone()).unwrap_or_else(|| panic!("value {tag} must be sent"));
        assert!(got.is_f64(), "value {tag} is sent as a float, got {got}");
        assert_eq!(got, want, "value {tag}");
    }
    for absent in
        [json!("abc"), json!("inf"), json!("nan"), json!(true), json!(false), json!([1]), json!({}), json!(null)]
    {
        assert_eq!(value(absent.clone()), None, "value {absent}");
    }
}

/// Checklist 68.
#[test]
fn tags_are_copied_verbatim_with_null_revenue_value_tags_decisions_stripped_at_any_depth() {
    let tags = json!({
        "revenue": 10.5, "value": "3.5", "category": "shoes", "coupon": null, "n": 1.0, "big": 18_446_744_073_709_551_615_u64,
        "nested": {"value": null, "revenue": null, "tags": null, "decisions": null, "x": 1, "deeper": [{"value": null, "y": null}]}
    });
    let event = conversion(Some(tags));
    assert_eq!(
        event["tags"],
        json!({
            "revenue": 10.5, "value": "3.5", "category": "shoes", "coupon": null, "n": 1.0, "big": 18_446_744_073_709_551_615_u64,
            "nested": {"x": 1, "deeper": [{"y": null}]}
        })
    );
    assert!(event["tags"]["n"].is_f64(), "a float tag stays a float");
    assert_eq!(event.get("revenue"), None);
    assert_eq!(event["value"], json!(3.5));
    let stripped = conversion(Some(json!({"revenue": null, "value": null, "other": null})));
    assert_eq!(stripped["tags"], json!({"other": null}));
    assert_eq!((stripped.get("revenue"), stripped.get("value")), (None, None));
}

/// Checklist 69.
#[test]
fn conversions_have_no_decisions_and_tags_only_when_passed() {
    let h = Df::new().event("90001", "purchase").client();
    h.client.track("purchase", "u", &attrs(json!({})), None);
    let batch = h.one_event();
    let snapshot = &batch["visitors"][0]["snapshots"][0];
    assert_eq!(snapshot.as_object().unwrap().keys().collect::<Vec<_>>(), ["events"], "no decisions key");
    let event = event_of(&batch).as_object().unwrap();
    assert_eq!(event.keys().collect::<Vec<_>>(), ["entity_id", "uuid", "key", "timestamp"]);
    assert_eq!(event["entity_id"], json!("90001"));
    assert_eq!(event["key"], json!("purchase"));
    assert_eq!(conversion(Some(json!({})))["tags"], json!({}));
}

/// Checklist 70.
#[test]
fn track_with_an_unknown_or_empty_event_key_sends_nothing() {
    // Tags and attributes that are not maps cannot be expressed in this API (`Map` and
    // `Attributes` types); the eval protocol rejects them before calling it.
    let h = Df::new().event("90001", "purchase").client();
    let none = attrs(json!({}));
    h.client.track("ghost", "u", &none, None);
    h.client.track("", "u", &none, Some(&map(json!({"revenue": 1}))));
    h.client.track("Purchase", "u", &none, None);
    h.client.track("90001", "u", &none, None);
    h.user("u", json!({})).track_event("ghost", None);
    assert!(h.events().is_empty());
    h.client.track("purchase", "u", &none, None);
    assert_eq!(h.events().len(), 1);
}

/// Checklist 71.
#[test]
fn each_event_is_one_visitor_and_a_revision_change_never_shares_a_batch() {
    let df = Df::new().event("90001", "purchase").experiment(split_experiment("exp"));
    let h = df.client();
    let none = attrs(json!({}));
    h.client.track("purchase", "u1", &none, None);
    h.activate("exp", "u1", json!({}));
    h.client.track("purchase", "u2", &none, None);
    let next = df.clone().set("revision", json!("43")).set("projectId", json!("12003"));
    h.client.set_config(Arc::new(ProjectConfig::from_json(&next.text()).unwrap()));
    h.client.track("purchase", "u3", &none, None);
    let events = h.events();
    let summary: Vec<(String, String, usize, String)> = events
        .iter()
        .map(|b| {
            let visitors = b["visitors"].as_array().unwrap();
            let s = |k: &str| b[k].as_str().unwrap().to_owned();
            (s("revision"), s("project_id"), visitors.len(), visitors[0]["visitor_id"].as_str().unwrap().to_owned())
        })
        .collect();
    let row = |r: &str, p: &str, u: &str| (r.to_owned(), p.to_owned(), 1, u.to_owned());
    assert_eq!(
        summary,
        [row("42", "12002", "u1"), row("42", "12002", "u1"), row("42", "12002", "u2"), row("43", "12003", "u3")]
    );
}

/// Checklist 72.
#[test]
fn holdout_decision_sends_an_impression_from_decide_but_not_from_is_feature_enabled() {
    let holdout = json!({
        "id": "95001", "key": "holdout", "status": "Running", "audienceIds": [],
        "variations": [{"id": "95011", "key": "off", "featureEnabled": false}],
        "trafficAllocation": [{"entityId": "95011", "endOfRange": 10000}]
    });
    let r = rule("81001", "everyone", "80001", &[("81011", "on", true)], 10000);
    let h = Df::new()
        .set("sendFlagDecisions", json!(true))
        .set("holdouts", json!([holdout]))
        .rollout(rollout("80001", vec![r]))
        .flag(flag("f", "flag", &[], "80001", json!([])))
        .client();
    assert!(!h.client.is_feature_enabled("flag", "u", &attrs(json!({}))));
    assert!(h.events().is_empty(), "is_feature_enabled sends nothing for a holdout");
    assert!(h.client.get_enabled_features("u", &attrs(json!({}))).is_empty());
    assert!(h.events().is_empty());
    let d = h.user("u", json!({})).decide("flag", DecideOptions::NONE);
    assert_eq!((d.variation_key(), d.rule_key(), d.enabled()), (Some("off"), Some("holdout"), false));
    let batch = h.one_event();
    let decision = decision_of(&batch);
    assert_eq!((&decision["campaign_id"], &decision["experiment_id"]), (&json!("95001"), &json!("95001")));
    assert_eq!(decision["variation_id"], json!("95011"));
    assert_eq!(
        decision["metadata"],
        json!({"flag_key": "flag", "rule_key": "holdout", "rule_type": "holdout", "variation_key": "off", "enabled": false})
    );
}

/// Checklists 65 and 68: numbers go out as they came in, floats included (a float
/// parsed one unit in the last place off would be re-sent with other digits).
#[test]
fn float_attributes_and_tags_are_sent_back_with_the_same_digits() {
    let h = attribute_datafile().client();
    // The default serde_json float parser reads 228762.22127045266 as 228762.2212704527.
    let input: Value = serde_json::from_str(r#"{"age": 228762.22127045266, "device": 0.30000000000000004}"#).unwrap();
    let tags: Value =
        serde_json::from_str(r#"{"value": -2.115955249083781e-251, "x": [1.7976931348623157e308]}"#).unwrap();
    h.client.track("purchase", "u", &attrs(input), Some(&map(tags)));
    let events = h.sink.take();
    assert_eq!(events.len(), 1);
    let body = events[0].to_json_string();
    for digits in ["228762.22127045266", "0.30000000000000004", "2.115955249083781", "1.7976931348623157"] {
        assert!(body.contains(digits), "{digits} not in {body}");
    }
}
