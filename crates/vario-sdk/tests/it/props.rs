//! Property tests: deciding never panics whatever the audience conditions and
//! attributes, `track` never panics whatever the tags, and a few invariants hold on the
//! way (the reasons trace does not change a decision; tags go out verbatim minus
//! stripped nulls; revenue only from integers).

use proptest::prelude::*;
use serde_json::{Map, Number, Value, json};
use vario_sdk::{Attributes, DecideOptions};

use crate::support::*;

const NAMES: &[&str] = &["a", "b", "c", "$opt_bucketing_id"];
const MATCHES: &[&str] = &[
    "exact",
    "exists",
    "gt",
    "ge",
    "lt",
    "le",
    "substring",
    "semver_eq",
    "semver_ge",
    "semver_gt",
    "semver_le",
    "semver_lt",
    "qualified",
    "EXACT",
    "bogus",
    "",
];

/// Scalars that stress the matchers: edge numbers, version-like strings, bools, null.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(vec![
            json!(9_007_199_254_740_992_u64),
            json!(9_007_199_254_740_993_u64),
            json!(-9_007_199_254_740_993_i64),
            json!(0),
            json!(1.0),
            json!(-0.0),
            json!(1e308),
            json!(f64::MIN_POSITIVE),
        ]),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        "[0-9]{0,3}(\\.[0-9]{0,3}){0,4}([-+][a-z0-9.+-]{0,6})?( )?".prop_map(Value::String),
        ".{0,8}".prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec(("[a-z]{1,3}", inner), 0..3).prop_map(|f| Value::Object(f.into_iter().collect())),
        ]
    })
}

/// A leaf condition, sometimes malformed (missing fields, odd types, not an object).
fn condition() -> impl Strategy<Value = Value> {
    let well_formed = (
        prop::sample::select(NAMES),
        prop::sample::select(vec!["custom_attribute", "third_party_dimension", "other"]),
        prop::option::of(prop::sample::select(MATCHES)),
        scalar(),
    )
        .prop_map(|(name, ty, m, v)| {
            let mut c = json!({"name": name, "type": ty, "value": v});
            if let Some(m) = m {
                c["match"] = json!(m);
            }
            c
        });
    prop_oneof![
        8 => well_formed,
        1 => value(),
        1 => (value(), value()).prop_map(|(n, t)| json!({"name": n, "type": t, "match": "exact", "value": "x"})),
    ]
}

/// A condition tree: operators, implicit ors, nested and empty lists, bare leaves.
fn tree(leaf: BoxedStrategy<Value>) -> impl Strategy<Value = Value> {
    leaf.prop_recursive(4, 24, 4, |inner| {
        (
            prop::sample::select(vec![Some("and"), Some("or"), Some("not"), None, Some("xor")]),
            prop::collection::vec(inner, 0..4),
        )
            .prop_map(|(op, mut items)| {
                if let Some(op) = op {
                    items.insert(0, json!(op));
                }
                Value::Array(items)
            })
    })
}

fn attributes() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((prop::sample::select(NAMES), value()), 0..5)
        .prop_map(|kv| kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// A datafile whose experiment, feature test, delivery rules and holdout all use the
/// random audiences (typed `t1`, `t2`; legacy `l1`; an unknown id).
fn datafile(t1: Value, t2: Value, l1: Value, rule_tree: Value) -> Df {
    let audience_ids = |e: Value, ids: Value| with(e, "audienceConditions", ids);
    let ab = audience_ids(split_experiment("exp"), rule_tree.clone());
    let test = audience_ids(experiment("70001", "ft", &[("70011", "ft_on", true)], &[("70011", 5000)]), json!(["t2"]));
    let r1 = audience_ids(rule("81001", "r1", "r", &[("81011", "r1_on", true)], 3000), json!(["or", "t1", "l1"]));
    let r2 = with(rule("81002", "r2", "r", &[("81021", "r2_on", true)], 6000), "audienceIds", json!(["t2", "ghost"]));
    let everyone = rule("81003", "everyone", "r", &[("81031", "off", false)], 10000);
    let holdout = json!({
        "id": "95001", "key": "h", "status": "Running", "audienceIds": [], "audienceConditions": rule_tree,
        "variations": [{"id": "95011", "key": "held", "featureEnabled": false}],
        "trafficAllocation": [{"entityId": "95011", "endOfRange": 500}]
    });
    Df::new()
        .attribute("20001", "a")
        .typed_audience("t1", t1)
        .typed_audience("t2", t2)
        .legacy_audience("l1", l1)
        .experiment(ab)
        .experiment(test)
        .rollout(rollout("r", vec![r1, r2, everyone]))
        .flag(flag(
            "f",
            "flag",
            &["70001"],
            "r",
            json!([{"id": "v", "key": "v", "type": "json", "defaultValue": "{}"}]),
        ))
        .set("holdouts", json!([holdout]))
        .set("sendFlagDecisions", json!(true))
}

fn rule_tree() -> impl Strategy<Value = Value> {
    tree(prop::sample::select(vec![json!("t1"), json!("t2"), json!("l1"), json!("ghost")]).boxed())
}

proptest! {
    #[test]
    fn deciding_never_panics_for_any_conditions_and_attributes(
        t1 in tree(condition().boxed()),
        t2 in tree(condition().boxed()),
        l1 in tree(condition().boxed()),
        rules in rule_tree(),
        attrs in attributes(),
        user in ".{0,6}",
    ) {
        let h = datafile(t1, t2, l1, rules).client();
        let attributes = Attributes::from(attrs.clone());
        let ctx = h.client.create_user_context(user.as_str(), attributes.clone());
        let plain = ctx.decide("flag", DecideOptions::NONE);
        let traced = ctx.decide("flag", DecideOptions::INCLUDE_REASONS);
        // Collecting reasons must not change the decision.
        prop_assert_eq!(plain.variation_key(), traced.variation_key());
        prop_assert_eq!(plain.rule_key(), traced.rule_key());
        prop_assert_eq!(plain.enabled(), traced.enabled());
        prop_assert!(!traced.reasons().is_empty());
        let all = ctx.decide_all(DecideOptions::ENABLED_FLAGS_ONLY | DecideOptions::EXCLUDE_VARIABLES);
        prop_assert!(all.len() <= 1);

        let via_get = h.client.get_variation("exp", &user, &attributes).map(|v| v.key().to_owned());
        let via_activate = h.client.activate("exp", &user, &attributes).map(|v| v.key().to_owned());
        prop_assert_eq!(&via_get, &via_activate);
        let enabled = h.client.is_feature_enabled("flag", &user, &attributes);
        prop_assert_eq!(enabled, plain.enabled() && plain.rule_key() != Some("h"));
        let _ = h.client.get_enabled_features(&user, &attributes);
        let _ = h.client.get_all_feature_variables("flag", &user, &attributes);
        // Every event body is JSON with one visitor.
        for batch in h.events() {
            prop_assert_eq!(batch["visitors"].as_array().map(Vec::len), Some(1));
        }
    }

    #[test]
    fn track_never_panics_and_copies_tags_minus_stripped_nulls(
        tags in prop::collection::vec((prop::sample::select(vec!["revenue", "value", "tags", "decisions", "x", "y"]), value()), 0..6),
        attrs in attributes(),
    ) {
        let tags: Map<String, Value> = tags.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let h = Df::new().attribute("20001", "a").set("botFiltering", json!(true)).event("90001", "purchase").client();
        h.client.track("purchase", "u", &Attributes::from(attrs), Some(&tags));
        let batch = h.one_event();
        let event = event_of(&batch);
        prop_assert_eq!(&event["tags"], &strip(&Value::Object(tags.clone())));
        let revenue_is_integer = tags.get("revenue").is_some_and(|r| r.is_i64() || r.is_u64());
        prop_assert_eq!(event.get("revenue").is_some(), revenue_is_integer);
        if revenue_is_integer {
            prop_assert_eq!(&event["revenue"], &tags["revenue"]);
        }
        if let Some(v) = event.get("value") {
            prop_assert!(v.as_f64().is_some_and(f64::is_finite), "value {} is a finite float", v);
        }
        let attributes = batch["visitors"][0]["attributes"].as_array().unwrap();
        prop_assert_eq!(&attributes.last().unwrap()["key"], &json!("$opt_bot_filtering"));
    }
}

/// The reference null stripping: `revenue`, `value`, `tags`, `decisions` keys holding
/// null are dropped from every object at any depth.
fn strip(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, v)| !(v.is_null() && matches!(k.as_str(), "revenue" | "value" | "tags" | "decisions")))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn deciding_with_any_loadable_mutation_of_a_datafile_never_panics(
        edits in prop::collection::vec((any::<usize>(), prop::sample::select(vec!["remove", "null", "zero", "huge", "negative", "empty"])), 1..5),
        attrs in attributes(),
    ) {
        let mut doc = datafile(json!({"name": "a", "type": "custom_attribute", "match": "exists"}), json!(["and"]), json!(["or"]), json!(["t1"])).0;
        for (at, edit) in edits {
            let mut all = Vec::new();
            pointers(&doc, "", &mut all);
            let p = &all[at % all.len()];
            let (parent, key) = p.rsplit_once('/').unwrap();
            let replacement = match edit {
                "null" => Some(Value::Null),
                "zero" => Some(json!(0)),
                "huge" => Some(json!(u64::MAX)),
                "negative" => Some(json!(-1)),
                "empty" => Some(json!("")),
                _ => None,
            };
            match (doc.pointer_mut(parent), replacement) {
                (Some(Value::Object(m)), None) => { m.remove(key); }
                (Some(Value::Object(m)), Some(v)) => { m.insert(key.to_owned(), v); }
                (Some(Value::Array(items)), None) => { items.remove(key.parse::<usize>().unwrap()); }
                (Some(Value::Array(items)), Some(v)) => { items[key.parse::<usize>().unwrap()] = v; }
                _ => {}
            }
        }
        let Ok(client) = vario_sdk::Client::from_datafile(&doc.to_string()) else { return Ok(()) };
        let attributes = Attributes::from(attrs);
        let ctx = client.create_user_context("u", attributes.clone());
        let _ = ctx.decide_all(DecideOptions::INCLUDE_REASONS);
        let config = client.config().unwrap();
        for e in &config.experiments {
            let _ = client.activate(&e.key, "u", &attributes);
            let _ = client.set_forced_variation(&e.key, "u", e.variations.first().map(|v| v.key.as_str()));
            let _ = client.get_variation(&e.key, "u", &attributes);
        }
        for f in &config.flags {
            let _ = client.is_feature_enabled(&f.key, "u", &attributes);
            let _ = client.get_all_feature_variables(&f.key, "u", &attributes);
        }
    }
}

/// Every JSON pointer of `v` (keys here contain no `/` or `~`).
fn pointers(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => map.iter().for_each(|(k, c)| {
            let p = format!("{at}/{k}");
            out.push(p.clone());
            pointers(c, &p, out);
        }),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, c)| {
            let p = format!("{at}/{i}");
            out.push(p.clone());
            pointers(c, &p, out);
        }),
        _ => {}
    }
}
