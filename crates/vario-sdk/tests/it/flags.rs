//! Flag decisions, rollouts and variables (checklist items 42–49).

use serde_json::{Value, json};
use vario_sdk::DecideOptions;

use crate::support::*;

fn decide(h: &Harness, user: &str, attributes: Value, flag: &str) -> (Option<String>, Option<String>, bool) {
    let d = h.user(user, attributes).decide(flag, DecideOptions::NONE);
    (d.variation_key().map(str::to_owned), d.rule_key().map(str::to_owned), d.enabled())
}

fn some(v: &str, r: &str, enabled: bool) -> (Option<String>, Option<String>, bool) {
    (Some(v.to_owned()), Some(r.to_owned()), enabled)
}

/// Checklist 42.
#[test]
fn feature_tests_are_tried_in_experiment_ids_order_before_the_rollout() {
    let first = experiment("70001", "first_in_datafile", &[("70011", "one", true)], &[("70011", 10000)]);
    let second = experiment("70002", "second_in_datafile", &[("70021", "two", true)], &[("70021", 10000)]);
    let r = rule("81001", "everyone", "r", &[("81011", "rolled", true)], 10000);
    let df = |order: &[&str], statuses: (&str, &str)| {
        Df::new()
            .experiment(with(first.clone(), "status", json!(statuses.0)))
            .experiment(with(second.clone(), "status", json!(statuses.1)))
            .rollout(rollout("r", vec![r.clone()]))
            .flag(flag("f", "flag", order, "r", json!([])))
    };
    let h = df(&["70002", "70001"], ("Running", "Running")).client();
    assert_eq!(decide(&h, "u", json!({}), "flag"), some("two", "second_in_datafile", true));
    let h = df(&["70001", "70002"], ("Running", "Running")).client();
    assert_eq!(decide(&h, "u", json!({}), "flag"), some("one", "first_in_datafile", true));
    let h = df(&["70002", "70001"], ("Running", "Paused")).client();
    assert_eq!(decide(&h, "u", json!({}), "flag"), some("one", "first_in_datafile", true));
    let h = df(&["70002", "70001"], ("Paused", "Paused")).client();
    assert_eq!(decide(&h, "u", json!({}), "flag"), some("rolled", "everyone", true));
}

/// The rollout of decisions.md §4: an iPhone rule that misses every user by traffic, an
/// adult rule for everyone aged 18+, and Everyone Else.
fn targeted_rollout() -> Df {
    let iphone = with(
        rule("81001", "iphone_rule", "r", &[("81011", "iphone_on", true)], 0),
        "audienceConditions",
        json!(["iphone"]),
    );
    let adult =
        with(rule("81002", "adult_rule", "r", &[("81021", "adult_on", true)], 10000), "audienceIds", json!(["adult"]));
    let everyone = rule("81003", "everyone_else", "r", &[("81031", "default_on", false)], 10000);
    Df::new()
        .typed_audience(
            "iphone",
            json!({"name": "device", "type": "custom_attribute", "match": "exact", "value": "iphone"}),
        )
        .typed_audience("adult", json!({"name": "age", "type": "custom_attribute", "match": "ge", "value": 18}))
        .rollout(rollout("r", vec![iphone, adult, everyone]))
        .flag(flag("f", "flag", &[], "r", json!([])))
}

/// Checklist 43.
#[test]
fn rollout_audience_match_with_traffic_miss_skips_to_everyone_else() {
    let h = targeted_rollout().client();
    assert_eq!(
        decide(&h, "u", json!({"device": "iphone", "age": 30}), "flag"),
        some("default_on", "everyone_else", false),
        "the adult rule is skipped"
    );
    // A skipped rule's forced decision is never seen.
    let mut ctx = h.user("u", json!({"device": "iphone", "age": 30}));
    ctx.set_forced_decision("flag", Some("adult_rule"), "adult_on");
    assert_eq!(ctx.decide("flag", DecideOptions::NONE).rule_key(), Some("everyone_else"));
}

/// Checklist 44.
#[test]
fn rollout_audience_mismatch_tries_the_next_rule() {
    let h = targeted_rollout().client();
    assert_eq!(decide(&h, "u", json!({"age": 30}), "flag"), some("adult_on", "adult_rule", true));
    assert_eq!(decide(&h, "u", json!({"device": "android", "age": 30}), "flag"), some("adult_on", "adult_rule", true));
    assert_eq!(decide(&h, "u", json!({"age": 3}), "flag"), some("default_on", "everyone_else", false));
    // Everyone Else is audience-checked too.
    let strict_everyone = {
        let mut df = targeted_rollout();
        df.0["rollouts"][0]["experiments"][2]["audienceIds"] = json!(["adult"]);
        df.client()
    };
    assert_eq!(decide(&strict_everyone, "u", json!({"age": 3}), "flag"), (None, None, false));
}

fn variables() -> Value {
    json!([
        {"id": "v1", "key": "color", "type": "string", "defaultValue": "grey"},
        {"id": "v2", "key": "size", "type": "integer", "defaultValue": "1"}
    ])
}

/// Checklist 45.
#[test]
fn no_variation_anywhere_gives_disabled_null_decision_with_default_variables() {
    let none = Df::new().flag(flag("f", "flag", &[], "", variables()));
    let missed = Df::new()
        .experiment(experiment("70001", "ft", &[("70011", "on", true)], &[]))
        .rollout(rollout("r", vec![rule("81001", "r1", "r", &[("81011", "on", true)], 0)]))
        .flag(flag("f", "flag", &["70001"], "r", variables()));
    for df in [none, missed] {
        let h = df.client();
        let d = h.user("u", json!({})).decide("flag", DecideOptions::NONE);
        assert_eq!((d.variation_key(), d.rule_key(), d.enabled()), (None, None, false));
        assert_eq!(d.variables(), &map(json!({"color": "grey", "size": 1})));
        assert_eq!(d.flag_key(), "flag");
        assert!(!h.client.is_feature_enabled("flag", "u", &attrs(json!({}))));
        assert_eq!(
            h.client.get_feature_variable_string("flag", "color", "u", &attrs(json!({}))).as_deref(),
            Some("grey")
        );
    }
}

fn usage_datafile(enabled: bool) -> Df {
    let mut e = experiment("70001", "ft", &[("70011", "treatment", enabled)], &[("70011", 10000)]);
    e["variations"][0]["variables"] = json!([{"id": "v1", "value": "red"}, {"id": "v2", "value": "7"}]);
    Df::new().experiment(e).flag(flag("f", "flag", &["70001"], "", variables()))
}

/// Checklist 46.
#[test]
fn disabled_variation_takes_default_values_even_with_usages() {
    let h = usage_datafile(false).client();
    let d = h.user("u", json!({})).decide("flag", DecideOptions::NONE);
    assert_eq!((d.variation_key(), d.enabled()), (Some("treatment"), false));
    assert_eq!(d.variables(), &map(json!({"color": "grey", "size": 1})));
    let none = attrs(json!({}));
    assert_eq!(h.client.get_feature_variable_integer("flag", "size", "u", &none), Some(1));
    assert_eq!(h.client.get_all_feature_variables("flag", "u", &none), Some(map(json!({"color": "grey", "size": 1}))));
    // Enabled, the usages apply.
    let h = usage_datafile(true).client();
    let d = h.user("u", json!({})).decide("flag", DecideOptions::NONE);
    assert_eq!(d.variables(), &map(json!({"color": "red", "size": 7})));
}

/// Checklist 47.
#[test]
fn enabled_variation_without_a_usage_for_a_variable_takes_its_default() {
    let mut df = usage_datafile(true);
    df.0["experiments"][0]["variations"][0]["variables"] = json!([{"id": "v1", "value": "red"}]);
    let h = df.client();
    let d = h.user("u", json!({})).decide("flag", DecideOptions::NONE);
    assert_eq!(d.variables(), &map(json!({"color": "red", "size": 1})));
    assert_eq!(h.client.get_feature_variable("flag", "size", "u", &attrs(json!({}))), Some(json!(1)));
}

fn typed_variables() -> Df {
    let vars = json!([
        {"id": "b1", "key": "flag_true", "type": "boolean", "defaultValue": "true"},
        {"id": "b2", "key": "flag_True", "type": "boolean", "defaultValue": "True"},
        {"id": "b3", "key": "flag_one", "type": "boolean", "defaultValue": "1"},
        {"id": "i1", "key": "int_three", "type": "integer", "defaultValue": "3"},
        {"id": "i2", "key": "int_three_point_zero", "type": "integer", "defaultValue": "3.0"},
        {"id": "d1", "key": "double", "type": "double", "defaultValue": "1e3"},
        {"id": "j1", "key": "json_sub", "type": "string", "subType": "json", "defaultValue": "{\"k\": 1}"},
        {"id": "j2", "key": "json", "type": "json", "defaultValue": "[1, 2]"},
        {"id": "s1", "key": "text", "type": "string", "defaultValue": "{\"k\": 1}"}
    ]);
    Df::new().flag(flag("f", "flag", &[], "", vars))
}

/// Checklist 48.
#[test]
fn variable_casts_true_only_integer_without_fraction_and_string_json_subtype() {
    let h = typed_variables().client();
    let d = h.user("u", json!({})).decide("flag", DecideOptions::NONE);
    let want = json!({
        "flag_true": true, "flag_True": false, "flag_one": false,
        "int_three": 3, "int_three_point_zero": null, "double": 1000.0,
        "json_sub": {"k": 1}, "json": [1, 2], "text": "{\"k\": 1}"
    });
    assert_eq!(d.variables(), &map(want));
    let none = attrs(json!({}));
    let c = &h.client;
    assert_eq!(c.get_feature_variable_boolean("flag", "flag_True", "u", &none), Some(false));
    assert_eq!(c.get_feature_variable_integer("flag", "int_three_point_zero", "u", &none), None);
    assert_eq!(c.get_feature_variable("flag", "int_three_point_zero", "u", &none), None);
    assert_eq!(c.get_feature_variable_json("flag", "json_sub", "u", &none), Some(json!({"k": 1})));
    assert_eq!(c.get_feature_variable("flag", "json_sub", "u", &none), Some(json!({"k": 1})));
    assert_eq!(c.get_feature_variable_double("flag", "double", "u", &none), Some(1000.0));
}

/// Checklist 49.
#[test]
fn typed_getter_on_another_type_or_unknown_flag_or_variable_is_none() {
    let h = typed_variables().client();
    let none = attrs(json!({}));
    let c = &h.client;
    assert_eq!(c.get_feature_variable_string("flag", "json_sub", "u", &none), None, "json, not string");
    assert_eq!(c.get_feature_variable_boolean("flag", "int_three", "u", &none), None);
    assert_eq!(c.get_feature_variable_integer("flag", "double", "u", &none), None);
    assert_eq!(c.get_feature_variable_double("flag", "int_three", "u", &none), None);
    assert_eq!(c.get_feature_variable_json("flag", "text", "u", &none), None);
    assert_eq!(c.get_feature_variable_string("flag", "text", "u", &none).as_deref(), Some("{\"k\": 1}"));
    assert_eq!(c.get_feature_variable("ghost", "text", "u", &none), None);
    assert_eq!(c.get_feature_variable("flag", "ghost", "u", &none), None);
    assert_eq!(c.get_feature_variable_string("ghost", "text", "u", &none), None);
    assert_eq!(c.get_all_feature_variables("ghost", "u", &none), None);
}
