//! The decide API: unknown flags, options, forced decisions, order (checklist items 50–57).

use serde_json::json;
use vario_sdk::DecideOptions;

use crate::support::*;

/// Flags `on_flag` (a rollout serving an enabled variation) and `off_flag` (a rollout
/// serving a disabled one), with one variable each; `sendFlagDecisions` true.
fn two_flags() -> Df {
    let vars = |d: &str| json!([{"id": format!("var_{d}"), "key": "label", "type": "string", "defaultValue": d}]);
    Df::new()
        .set("sendFlagDecisions", json!(true))
        .rollout(rollout("r1", vec![rule("81001", "on_rule", "r1", &[("81011", "on", true)], 10000)]))
        .rollout(rollout("r2", vec![rule("82001", "off_rule", "r2", &[("82011", "off", false)], 10000)]))
        .flag(flag("1", "on_flag", &[], "r1", vars("a")))
        .flag(flag("2", "off_flag", &[], "r2", vars("b")))
}

/// Checklist 50.
#[test]
fn decide_unknown_flag_always_reports_the_reason_and_sends_nothing() {
    let h = two_flags().client();
    let ctx = h.user("u", json!({}));
    for options in [DecideOptions::NONE, DecideOptions::INCLUDE_REASONS] {
        let d = ctx.decide("ghost", options);
        assert_eq!((d.flag_key(), d.enabled(), d.variation_key(), d.rule_key()), ("ghost", false, None, None));
        assert!(d.variables().is_empty());
        assert_eq!(d.reasons(), [r#"No flag was found for key "ghost"."#]);
    }
    assert!(h.events().is_empty());
}

/// Checklist 51.
#[test]
fn decide_for_keys_unknown_key_has_empty_reasons_and_survives_enabled_flags_only() {
    let h = two_flags().client();
    let ctx = h.user("u", json!({}));
    let all = ctx.decide_for_keys(["ghost", "on_flag", "off_flag"], DecideOptions::INCLUDE_REASONS);
    let keys: Vec<_> = all.iter().map(|d| d.flag_key()).collect();
    assert_eq!(keys, ["ghost", "on_flag", "off_flag"]);
    assert!(all[0].reasons().is_empty(), "{:?}", all[0].reasons());
    assert_eq!((all[0].enabled(), all[0].variation_key(), all[0].rule_key()), (false, None, None));
    assert!(all[0].variables().is_empty());

    let only = ctx.decide_for_keys(["ghost", "on_flag", "off_flag"], DecideOptions::ENABLED_FLAGS_ONLY);
    let keys: Vec<_> = only.iter().map(|d| d.flag_key()).collect();
    assert_eq!(keys, ["ghost", "on_flag"], "the disabled flag is dropped, the unknown key kept");
}

/// Checklist 52.
#[test]
fn enabled_flags_only_has_no_effect_on_single_decide() {
    let h = two_flags().client();
    let ctx = h.user("u", json!({}));
    let d = ctx.decide("off_flag", DecideOptions::ENABLED_FLAGS_ONLY);
    assert_eq!(
        (d.flag_key(), d.enabled(), d.variation_key(), d.rule_key()),
        ("off_flag", false, Some("off"), Some("off_rule"))
    );
    assert_eq!(h.events().len(), 1, "the impression is still sent");
    // Also as a client default option.
    let h = two_flags().client_with(|b| b.default_decide_options(DecideOptions::ENABLED_FLAGS_ONLY));
    let ctx = h.user("u", json!({}));
    assert_eq!(ctx.decide("off_flag", DecideOptions::NONE).variation_key(), Some("off"));
    assert_eq!(ctx.decide_all(DecideOptions::NONE).len(), 1, "the default does apply to decide_all");
    assert_eq!(ctx.decide("off_flag", DecideOptions::NONE).variation_key(), Some("off"), "and is not lost");
    assert_eq!(ctx.decide_all(DecideOptions::NONE).len(), 1);
}

/// Checklist 53.
#[test]
fn exclude_variables_empties_variables_and_include_reasons_fills_reasons() {
    let h = two_flags().client();
    let ctx = h.user("u", json!({}));
    let plain = ctx.decide("on_flag", DecideOptions::NONE);
    assert_eq!(plain.variables(), &map(json!({"label": "a"})));
    assert!(plain.reasons().is_empty(), "no reasons unless asked: {:?}", plain.reasons());
    let excluded = ctx.decide("on_flag", DecideOptions::EXCLUDE_VARIABLES);
    assert!(excluded.variables().is_empty());
    assert_eq!(excluded.variable("label"), None);
    assert_eq!(excluded.variation_key(), Some("on"), "the decision itself is unchanged");
    let reasons = ctx.decide("on_flag", DecideOptions::INCLUDE_REASONS).reasons();
    assert!(!reasons.is_empty());
    assert!(reasons.iter().any(|r| r.contains("on_rule")), "{reasons:?}");
    let both = ctx.decide_all(DecideOptions::EXCLUDE_VARIABLES | DecideOptions::INCLUDE_REASONS);
    assert!(both.iter().all(|d| d.variables().is_empty() && !d.reasons().is_empty()));
}

/// A flag with a feature test (nobody gets in by traffic) and a rollout rule.
fn forced_flag() -> Df {
    let test = experiment("70001", "ft", &[("70011", "ft_on", true)], &[]);
    let r = rule("81001", "everyone", "r", &[("81011", "rule_on", true), ("81012", "rule_off", false)], 10000);
    let other = experiment("90001", "other_exp", &[("90011", "foreign", true)], &[("90011", 10000)]);
    Df::new()
        .experiment(test)
        .experiment(other)
        .rollout(rollout("r", vec![r]))
        .flag(flag("f", "flag", &["70001"], "r", json!([])))
        .flag(flag("g", "other_flag", &["90001"], "", json!([])))
}

/// Checklist 54.
#[test]
fn forced_decision_may_name_any_variation_of_the_flag_and_unknown_keys_are_ignored() {
    let h = forced_flag().client();
    let mut ctx = h.user("u", json!({}));
    // A rollout variation forced on the feature-test rule.
    ctx.set_forced_decision("flag", Some("ft"), "rule_off");
    let d = ctx.decide("flag", DecideOptions::NONE);
    assert_eq!((d.variation_key(), d.rule_key(), d.enabled()), (Some("rule_off"), Some("ft"), false));
    // The impression names the rule visited and the forced variation.
    let batch = h.one_event();
    let decision = decision_of(&batch);
    assert_eq!((&decision["campaign_id"], &decision["experiment_id"]), (&json!("700010"), &json!("70001")));
    assert_eq!(decision["variation_id"], json!("81012"));
    assert_eq!(
        decision["metadata"],
        json!({"flag_key": "flag", "rule_key": "ft", "rule_type": "feature-test", "variation_key": "rule_off", "enabled": false})
    );
    // A feature-test variation forced on the rollout rule.
    ctx.remove_all_forced_decisions();
    ctx.set_forced_decision("flag", Some("everyone"), "ft_on");
    let d = ctx.decide("flag", DecideOptions::NONE);
    assert_eq!((d.variation_key(), d.rule_key()), (Some("ft_on"), Some("everyone")));
    // Unknown keys and other flags' variations are ignored.
    for bad in ["ghost", "foreign", ""] {
        ctx.remove_all_forced_decisions();
        ctx.set_forced_decision("flag", Some("ft"), bad);
        ctx.set_forced_decision("flag", None, bad);
        let d = ctx.decide("flag", DecideOptions::NONE);
        assert_eq!((d.variation_key(), d.rule_key()), (Some("rule_on"), Some("everyone")), "{bad:?}");
    }
    // Forced decisions are per context and removable.
    assert_eq!(ctx.get_forced_decision("flag", None), Some(""));
    assert!(ctx.remove_forced_decision("flag", None));
    assert!(!ctx.remove_forced_decision("flag", None));
    assert_eq!(h.user("u", json!({})).get_forced_decision("flag", Some("ft")), None);
}

/// Checklist 55.
#[test]
fn flag_level_forced_decision_has_no_rule_key_and_a_feature_test_impression() {
    let h = forced_flag().set("sendFlagDecisions", json!(false)).client();
    let mut ctx = h.user("u", json!({}));
    ctx.set_forced_decision("flag", Some("everyone"), "rule_off");
    ctx.set_forced_decision("flag", None, "rule_on");
    let d = ctx.decide("flag", DecideOptions::NONE);
    assert_eq!((d.variation_key(), d.rule_key(), d.enabled()), (Some("rule_on"), None, true), "flag level wins");
    let batch = h.one_event();
    let decision = decision_of(&batch);
    assert_eq!(decision["campaign_id"], json!(""));
    assert_eq!(decision["experiment_id"], json!(""));
    assert_eq!(decision["variation_id"], json!("81011"));
    assert_eq!(
        decision["metadata"],
        json!({"flag_key": "flag", "rule_key": "", "rule_type": "feature-test", "variation_key": "rule_on", "enabled": true})
    );
    assert_eq!(event_of(&batch)["entity_id"], json!(""));
}

/// Checklist 56.
#[test]
fn rule_level_forced_decision_applies_to_paused_rules_and_failed_audiences() {
    let mut df = forced_flag();
    df.0["experiments"][0]["status"] = json!("Paused");
    df.0["experiments"][0]["audienceConditions"] = json!(["ghost"]);
    df.0["rollouts"][0]["experiments"][0]["audienceConditions"] = json!(["ghost"]);
    let h = df.client();
    let mut ctx = h.user("u", json!({}));
    assert_eq!(ctx.decide("flag", DecideOptions::NONE).variation_key(), None, "sanity: nothing without forcing");
    ctx.set_forced_decision("flag", Some("ft"), "ft_on");
    let d = ctx.decide("flag", DecideOptions::NONE);
    assert_eq!((d.variation_key(), d.rule_key()), (Some("ft_on"), Some("ft")), "paused, audience failing");
    ctx.remove_all_forced_decisions();
    ctx.set_forced_decision("flag", Some("everyone"), "rule_off");
    let d = ctx.decide("flag", DecideOptions::NONE);
    assert_eq!((d.variation_key(), d.rule_key()), (Some("rule_off"), Some("everyone")), "audience failing");
}

/// Checklist 57.
#[test]
fn decide_all_returns_flags_in_datafile_order() {
    let r = rollout("r", vec![rule("81001", "everyone", "r", &[("81011", "on", true)], 10000)]);
    let mut df = Df::new().rollout(r);
    let order = ["zeta", "alpha", "mid", "beta", "omega", "a"];
    for (i, key) in order.iter().enumerate() {
        df = df.flag(flag(&format!("{}", 100 - i), key, &[], "r", json!([])));
    }
    let h = df.client();
    let keys: Vec<String> =
        h.user("u", json!({})).decide_all(DecideOptions::NONE).iter().map(|d| d.flag_key().to_owned()).collect();
    assert_eq!(keys, order);
    assert_eq!(h.client.get_enabled_features("u", &attrs(json!({}))), order);
}
