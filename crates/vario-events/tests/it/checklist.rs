//! Edge-case checklist items 58–71 of the SDK spec that concern payloads. Items 61, 63,
//! 64 and 72 decide *whether* an event is sent and belong to the SDK's tests.

use serde_json::{Value, json};
use vario_events::{EventBatch, EventFactory, Impression, LogEvent, RuleType, UserEvent, conversion, impression};

use crate::fixture::{attrs, body, config, config_with, decision, factory, object, snapshot_event};

fn impression_of(factory: &EventFactory, layer: &str, experiment: &str, variation: Option<(&str, &str)>) -> Value {
    let none = attrs(json!({}));
    body(factory.impression(&Impression {
        user_id: "u",
        attributes: &none,
        layer_id: layer,
        experiment_id: experiment,
        variation,
        flag_key: "f",
        rule_key: "r",
        rule_type: RuleType::FeatureTest,
        enabled: true,
        cmab_uuid: None,
    }))
}

fn track(tags: Value) -> Value {
    let none = attrs(json!({}));
    body(factory().conversion("purchase", "u", &none, Some(&object(tags))).unwrap())
}

/// Item 58: `activate`: flag key "", rule type "experiment", enabled even though the
/// variation's `featureEnabled` is false.
#[test]
fn item_58_activate_metadata() {
    let config = config();
    let exp = &config.experiments[config.experiment_by_key("ab_exp").unwrap()];
    let treatment = &exp.variations[1];
    assert!(!treatment.feature_enabled);
    let none = attrs(json!({}));
    let event = impression(
        &config,
        &Impression {
            user_id: "u",
            attributes: &none,
            layer_id: &exp.layer_id,
            experiment_id: &exp.id,
            variation: Some((&treatment.id, &treatment.key)),
            flag_key: "",
            rule_key: &exp.key,
            rule_type: RuleType::Experiment,
            enabled: true,
            cmab_uuid: None,
        },
    );
    assert!(event.is_impression());
    assert_eq!(
        decision(&body(event))["metadata"],
        json!({"flag_key": "", "rule_key": "ab_exp", "rule_type": "experiment", "variation_key": "treatment", "enabled": true})
    );
}

/// Item 59: campaign = layer; empty layer → experiment id; opaque layers kept; entity id =
/// campaign id.
#[test]
fn item_59_campaign_id() {
    let f = factory();
    for (layer, experiment, campaign) in
        [("41001", "40001", "41001"), ("", "40001", "40001"), ("layer_x", "40001", "layer_x"), ("", "", "")]
    {
        let body = impression_of(&f, layer, experiment, Some(("40011", "control")));
        assert_eq!(decision(&body)["campaign_id"], campaign);
        assert_eq!(decision(&body)["experiment_id"], experiment);
        assert_eq!(snapshot_event(&body)["entity_id"], campaign);
    }
}

/// Item 60: Non-digit variation ids go out as null; leading zeros are fine; the key stays.
#[test]
fn item_60_variation_id_null_unless_digits() {
    let f = factory();
    for (id, sent) in [
        ("40011", json!("40011")),
        ("007", json!("007")),
        ("var_a", Value::Null),
        ("12a", Value::Null),
        (" 12", Value::Null),
        ("-1", Value::Null),
        ("", Value::Null),
    ] {
        let body = impression_of(&f, "41001", "40001", Some((id, "v")));
        assert_eq!(decision(&body)["variation_id"], sent, "{id:?}");
        assert_eq!(decision(&body)["metadata"]["variation_key"], "v");
        assert!(decision(&body).as_object().unwrap().contains_key("variation_id"));
    }
}

/// Item 62: No decision: empty ids, null variation, rule type rollout, disabled.
#[test]
fn item_62_no_decision_impression() {
    let none = attrs(json!({}));
    let body = body(factory().impression(&Impression {
        user_id: "u",
        attributes: &none,
        layer_id: "",
        experiment_id: "",
        variation: None,
        flag_key: "empty_flag",
        rule_key: "",
        rule_type: RuleType::Rollout,
        enabled: false,
        cmab_uuid: None,
    }));
    assert_eq!(
        decision(&body),
        &json!({"campaign_id": "", "experiment_id": "", "variation_id": null,
                "metadata": {"flag_key": "empty_flag", "rule_key": "", "rule_type": "rollout",
                             "variation_key": "", "enabled": false}})
    );
    assert_eq!(snapshot_event(&body)["entity_id"], "");
}

/// §3.3: a flag-level forced decision sends empty ids but the variation id; a holdout
/// uses its id as campaign and experiment; CMAB decisions carry their uuid.
#[test]
fn forced_holdout_and_cmab_decisions() {
    let f = factory();
    let forced = impression_of(&f, "", "", Some(("81021", "rule_on2")));
    assert_eq!(decision(&forced)["campaign_id"], "");
    assert_eq!(decision(&forced)["variation_id"], "81021");

    let none = attrs(json!({}));
    let mut holdout = Impression {
        user_id: "u",
        attributes: &none,
        layer_id: "",
        experiment_id: "hold_1",
        variation: Some(("99001", "off")),
        flag_key: "f",
        rule_key: "holdout_key",
        rule_type: RuleType::Holdout,
        enabled: false,
        cmab_uuid: None,
    };
    let body = body(f.impression(&holdout));
    assert_eq!(decision(&body)["campaign_id"], "hold_1");
    assert_eq!(decision(&body)["experiment_id"], "hold_1");
    assert_eq!(decision(&body)["metadata"]["rule_type"], "holdout");
    assert!(decision(&body)["metadata"].get("cmab_uuid").is_none());

    holdout.cmab_uuid = Some("");
    assert!(
        crate::fixture::decision(&crate::fixture::body(f.impression(&holdout)))["metadata"].get("cmab_uuid").is_none()
    );
    holdout.cmab_uuid = Some("c-1");
    let body = crate::fixture::body(f.impression(&holdout));
    let metadata = decision(&body)["metadata"].as_object().unwrap();
    assert_eq!(metadata.keys().next_back().map(String::as_str), Some("cmab_uuid"));
    assert_eq!(metadata["cmab_uuid"], "c-1");
}

/// Item 65: Declared keys → ids, `$opt_*` → themselves, input order, invalid values and
/// undeclared keys dropped.
#[test]
fn item_65_event_attributes() {
    let input = json!({
        "$opt_bucketing_id": "b", "plan": "gold", "nested": {"a": 1}, "device": null,
        "age": 9_007_199_254_740_993_u64, "undeclared": 1, "$opt_user_agent": "ua", "list": [1],
        "device2": true
    });
    let none = factory().conversion("purchase", "u", &attrs(input), None).unwrap();
    let sent: Vec<(String, String)> =
        none.visitor().attributes.iter().map(|a| (a.entity_id.to_string(), a.key.to_string())).collect();
    let expected = [
        ("$opt_bucketing_id", "$opt_bucketing_id"),
        ("20004", "plan"),
        ("$opt_user_agent", "$opt_user_agent"),
        ("$opt_bot_filtering", "$opt_bot_filtering"),
    ];
    assert_eq!(sent, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));

    let numbers = body(factory().conversion("purchase", "u", &attrs(json!({"age": 30, "plan": 34.5})), None).unwrap());
    assert_eq!(numbers["visitors"][0]["attributes"][0]["value"].to_string(), "30");
    assert_eq!(numbers["visitors"][0]["attributes"][1]["value"].to_string(), "34.5");
}

/// Item 66: The bot-filtering entry comes last, for true and false, only when the datafile
/// has a boolean; a caller's own `$opt_bot_filtering` is sent too.
#[test]
fn item_66_bot_filtering() {
    for (setting, expected) in
        [(json!(true), Some(true)), (json!(false), Some(false)), (json!("true"), None), (json!(null), None)]
    {
        let config = config_with(json!({ "botFiltering": setting }));
        let event =
            conversion(&config, "purchase", "u", &attrs(json!({"$opt_bot_filtering": 1, "age": 3})), None).unwrap();
        let list = &event.visitor().attributes;
        assert_eq!(&*list[0].key, "$opt_bot_filtering");
        assert_eq!(list[0].value, json!(1));
        match expected {
            Some(on) => {
                assert_eq!(list.len(), 3);
                assert_eq!(&*list[2].entity_id, "$opt_bot_filtering");
                assert_eq!(list[2].value, json!(on));
            }
            None => assert_eq!(list.len(), 2, "{setting}"),
        }
    }
}

/// Item 67: `revenue` only from JSON integers; `value` from int, float or numeric string,
/// sent as a float; booleans give neither.
#[test]
fn item_67_revenue_and_value() {
    for (tag, sent) in [
        (json!(1000), Some(json!(1000))),
        (json!(-5), Some(json!(-5))),
        (json!(0), Some(json!(0))),
        (json!(1_152_921_504_606_846_976_u64), Some(json!(1_152_921_504_606_846_976_u64))),
        (json!(10.5), None),
        (json!(100.0), None),
        (json!("100"), None),
        (json!(true), None),
        (json!(null), None),
    ] {
        assert_eq!(snapshot_event(&track(json!({ "revenue": tag }))).get("revenue"), sent.as_ref(), "revenue {tag}");
    }
    for (tag, sent) in [
        (json!(3), Some("3.0")),
        (json!(0), Some("0.0")),
        (json!(1.5), Some("1.5")),
        (json!(1e20), Some("1e+20")),
        (json!("3.5"), Some("3.5")),
        (json!(" 7 "), Some("7.0")),
        (json!("1_000"), Some("1000.0")),
        (json!("abc"), None),
        (json!("inf"), None),
        (json!("nan"), None),
        (json!(true), None),
        (json!([1]), None),
        (json!({}), None),
        (json!(null), None),
    ] {
        let text = LogEvent::from(
            factory().conversion("purchase", "u", &attrs(json!({})), Some(&object(json!({ "value": tag })))).unwrap(),
        )
        .to_json_string();
        let body: Value = serde_json::from_str(&text).unwrap();
        let value = snapshot_event(&body).get("value");
        assert_eq!(value.map(|v| v.is_f64()), sent.map(|_| true), "value {tag}");
        if let Some(sent) = sent {
            assert!(text.contains(&format!(r#""value":{sent},"tags""#)), "value {tag}: {text}");
        }
    }
}

/// Item 68: Tags verbatim, reserved tags included in their original form; null
/// `revenue`/`value`/`tags`/`decisions` keys stripped at any depth, other nulls kept.
#[test]
fn item_68_tags_verbatim_and_stripped() {
    let body = track(json!({"revenue": 10.5, "value": "3.5", "x": [1, "a", {"b": null}]}));
    assert_eq!(snapshot_event(&body)["tags"], json!({"revenue": 10.5, "value": "3.5", "x": [1, "a", {"b": null}]}));

    let body = track(json!({"revenue": null, "value": null, "other": null}));
    assert_eq!(snapshot_event(&body)["tags"], json!({"other": null}));
    assert!(snapshot_event(&body).get("revenue").is_none());
    assert!(snapshot_event(&body).get("value").is_none());

    let body =
        track(json!({"nested": {"value": null, "x": 1, "deeper": [{"tags": null, "decisions": null, "keep": null}]}}));
    assert_eq!(snapshot_event(&body)["tags"], json!({"nested": {"x": 1, "deeper": [{"keep": null}]}}));
}

/// Item 68 on the model itself: hand-built values are stripped when written.
#[test]
fn item_68_stripping_applies_when_serialising_any_model() {
    let mut event = factory().conversion("purchase", "u", &attrs(json!({})), None).unwrap().into_visitor();
    event.snapshots[0].events[0].tags = Some(object(json!({"value": null, "n": {"revenue": null}})));
    event.snapshots[0].events[0].value = Some(f64::NAN);
    let text = serde_json::to_string(&event).unwrap();
    assert!(text.contains(r#""tags":{"n":{}}"#), "{text}");
    assert!(!text.contains("null"), "{text}");
}

/// Item 69: Conversions have no `decisions`; no tags → no `tags`; `{}` → `"tags": {}`.
#[test]
fn item_69_conversion_shape() {
    let none = attrs(json!({}));
    let without = body(factory().conversion("purchase", "u", &none, None).unwrap());
    let snapshot = without["visitors"][0]["snapshots"][0].as_object().unwrap();
    assert_eq!(snapshot.keys().collect::<Vec<_>>(), ["events"]);
    let keys: Vec<_> = snapshot_event(&without).as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["entity_id", "uuid", "key", "timestamp"]);

    let empty = body(factory().conversion("purchase", "u", &none, Some(&object(json!({})))).unwrap());
    assert_eq!(snapshot_event(&empty)["tags"], json!({}));
    assert_eq!(snapshot_event(&empty)["entity_id"], "90001");
    assert_eq!(snapshot_event(&empty)["key"], "purchase");
}

/// Item 70: Unknown or empty event keys send nothing; an index names the same event.
/// (Non-map tags or attributes cannot be expressed: the types require maps.)
#[test]
fn item_70_unknown_event_sends_nothing() {
    let f = factory();
    let none = attrs(json!({}));
    assert!(f.conversion("nope", "u", &none, None).is_none());
    assert!(f.conversion("", "u", &none, None).is_none());
    assert!(f.conversion(7_usize, "u", &none, None).is_none());
    let by_index = f.conversion(0_usize, "u", &none, None).unwrap();
    assert_eq!(by_index.event().map(|e| &*e.key), Some("purchase"));

    let with_empty_key = crate::fixture::config_with(json!({"events": [{"id": "1", "key": "", "experimentIds": []}]}));
    assert!(EventFactory::new(&with_empty_key).conversion("", "u", &none, None).is_none());
    assert!(EventFactory::new(&with_empty_key).conversion(0_usize, "u", &none, None).is_none());
}

/// Item 71: One visitor per event, no merging by user; a revision or project change starts a
/// new batch; account and anonymize_ip changes do not.
#[test]
fn item_71_batching() {
    let none = attrs(json!({}));
    let f = factory();
    let events: Vec<UserEvent> = (0..3).map(|_| f.conversion("purchase", "same", &none, None).unwrap()).collect();
    let batch = EventBatch::from_owned_events(events.clone()).unwrap();
    assert_eq!(batch.visitors.len(), 3);
    assert!(events[1].batches_with(&events[0]));

    let other = |changes: Value| conversion(&config_with(changes), "purchase", "same", &none, None).unwrap();
    assert!(!other(json!({"revision": "43"})).batches_with(&events[0]));
    assert!(!other(json!({"projectId": "99"})).batches_with(&events[0]));
    assert!(other(json!({"accountId": "99", "anonymizeIP": false})).batches_with(&events[0]));
    assert!(other(json!({})).batches_with(&events[0]));
    assert!(EventBatch::from_events(&[]).is_none());
    assert!(LogEvent::from_events(&[]).is_none());
}

/// §1: the EU endpoint when the region is "EU" in any case; anonymize_ip verbatim.
#[test]
fn endpoint_by_region_and_envelope() {
    let none = attrs(json!({}));
    for (region, url) in [
        (json!("EU"), "https://eu.logx.optimizely.com/v1/events"),
        (json!("eu"), "https://eu.logx.optimizely.com/v1/events"),
        (json!("US"), "https://logx.optimizely.com/v1/events"),
        (json!("APAC"), "https://logx.optimizely.com/v1/events"),
    ] {
        let event = conversion(&config_with(json!({ "region": region })), "purchase", "u", &none, None).unwrap();
        assert_eq!(LogEvent::from(event).url, url);
    }
    let event = conversion(&config_with(json!({"anonymizeIP": false})), "purchase", "u", &none, None).unwrap();
    let body = body(event);
    assert_eq!(body["anonymize_ip"], json!(false));
    assert_eq!(body["enrich_decisions"], json!(true));
    assert!(body.get("region").is_none());
}

/// uuid and timestamp are set at creation and unique per event.
#[test]
fn fresh_uuid_and_timestamp() {
    let none = attrs(json!({}));
    let f = factory();
    let a = f.conversion("purchase", "u", &none, None).unwrap();
    let b = f.conversion("purchase", "u", &none, None).unwrap();
    assert_ne!(a.uuid(), b.uuid());
    assert!(a.timestamp() > 1_700_000_000_000);
    assert!(b.timestamp() >= a.timestamp());
}
