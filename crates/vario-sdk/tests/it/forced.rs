//! Whitelists, runtime forced variations and forced decisions (checklist items 8, 12,
//! 14, 20, 21, 22).

use serde_json::json;
use vario_sdk::DecideOptions;

use crate::support::*;

/// Checklist 8.
#[test]
fn bucketing_id_never_changes_whitelist_forced_variation_forced_decision_or_profile_lookups() {
    // Buckets for experiment 1886780721 (a below 5000, b from 5000): user3808 4999,
    // user22025 5000, white 7794, forced_user 3265, sticky 5706.
    let e = with(split_experiment("exp"), "forcedVariations", json!({"white": "a"}));
    let f = flag("f", "flag", &["1886780721"], "", json!([]));
    let h = Df::new().experiment(e).flag(f).client();
    let bid = |id: &str| json!({"$opt_bucketing_id": id});

    // Whitelist: keyed by the user id only.
    assert_eq!(h.variation("exp", "white", bid("user22025")).as_deref(), Some("a"));
    assert_eq!(
        h.variation("exp", "user22025", bid("white")).as_deref(),
        Some("b"),
        "bucketed by 'white', not whitelisted"
    );

    // Runtime forced variation: keyed by the user id only.
    assert!(h.client.set_forced_variation("exp", "forced_user", Some("b")));
    assert_eq!(h.variation("exp", "forced_user", bid("user3808")).as_deref(), Some("b"));
    assert_eq!(h.variation("exp", "user3808", bid("forced_user")).as_deref(), Some("a"), "bucketed by 'forced_user'");

    // Forced decisions live on the context of the user id; a bucketing id changes nothing.
    let mut ctx = h.user("user3808", bid("user22025"));
    ctx.set_forced_decision("flag", Some("exp"), "a");
    assert_eq!(ctx.decide("flag", DecideOptions::NONE).variation_key(), Some("a"));

    // Profiles: looked up and saved under the user id (a fresh client, so that the
    // calls above left no profiles behind).
    let profiles = Profiles::with("sticky", &[("1886780721", "A")]);
    let h = Df::new().experiment(split_experiment("exp")).client_with(|b| b.user_profile_service(profiles.clone()));
    assert_eq!(h.variation("exp", "sticky", bid("user22025")).as_deref(), Some("a"), "stored variation wins");
    assert_eq!(h.variation("exp", "user22025", bid("sticky")).as_deref(), Some("b"), "bucketed by 'sticky'");
    let log = profiles.log();
    assert_eq!(log.lookups, ["sticky", "user22025"]);
    assert_eq!(log.saves.len(), 1, "only the bucketed result is saved: {:?}", log.saves);
    assert_eq!(log.saves[0].user_id, "user22025");
    assert_eq!(log.saves[0].experiment_bucket_map["1886780721"], "B");
    assert_eq!(log.store["sticky"].experiment_bucket_map["1886780721"], "A", "nothing saved under the bucketing id");
}

/// Checklist 12.
#[test]
fn status_check_comes_before_forced_variations_and_whitelist() {
    let e = with(with(split_experiment("exp"), "status", json!("Paused")), "forcedVariations", json!({"white": "a"}));
    let h = Df::new().experiment(e).client();
    assert!(h.client.set_forced_variation("exp", "forced", Some("b")));
    assert_eq!(h.variation("exp", "forced", json!({})), None);
    assert_eq!(h.variation("exp", "white", json!({})), None);
    assert_eq!(h.activate("exp", "forced", json!({})), None);
    assert_eq!(h.activate("exp", "white", json!({})), None);
    assert!(h.events().is_empty());
}

/// Checklist 14.
#[test]
fn whitelist_entry_with_unknown_variation_key_is_ignored_and_evaluation_continues() {
    let e = with(
        with(split_experiment("exp"), "forcedVariations", json!({"user3808": "nope", "user22025": "b", "user6187": 7})),
        "audienceConditions",
        json!(["aud"]),
    );
    let df = Df::new()
        .typed_audience("aud", json!({"name": "ok", "type": "custom_attribute", "match": "exact", "value": true}))
        .experiment(e);
    let h = df.client();
    let ok = json!({"ok": true});
    assert_eq!(h.variation("exp", "user3808", ok.clone()).as_deref(), Some("a"), "bucketed (4999) after the bad entry");
    assert_eq!(h.variation("exp", "user3808", json!({})), None, "…and audiences are still checked");
    assert_eq!(h.variation("exp", "user6187", ok).as_deref(), Some("a"), "a non-string entry is ignored too");
    assert_eq!(h.variation("exp", "user22025", json!({})).as_deref(), Some("b"), "a valid entry skips audiences");
}

/// Checklist 20.
#[test]
fn set_forced_variation_return_values() {
    let h = Df::new().experiment(split_experiment("exp")).client();
    let c = &h.client;
    assert!(c.set_forced_variation("exp", "u", None), "clearing nothing is still true");
    assert!(!c.set_forced_variation("exp", "u", Some("")), "empty variation key");
    assert!(!c.set_forced_variation("exp", "u", Some("nope")), "unknown variation key");
    assert!(!c.set_forced_variation("exp", "u", Some("A")), "a variation id is not a key");
    assert!(!c.set_forced_variation("ghost", "u", Some("a")), "unknown experiment");
    assert!(!c.set_forced_variation("ghost", "u", None), "unknown experiment, clearing");
    assert!(!c.set_forced_variation("", "u", None), "empty experiment key");
    assert_eq!(c.get_forced_variation("exp", "u"), None, "failed calls set nothing");
    assert!(c.set_forced_variation("exp", "u", Some("b")));
    assert_eq!(c.get_forced_variation("exp", "u").as_deref(), Some("b"));
    assert!(!c.set_forced_variation("exp", "u", Some("nope")));
    assert_eq!(c.get_forced_variation("exp", "u").as_deref(), Some("b"), "a refused set keeps the old one");
    assert!(c.set_forced_variation("exp", "u", None));
    assert!(c.set_forced_variation("exp", "u", None));
    assert_eq!(c.get_forced_variation("exp", "u"), None);
}

/// Checklist 21.
#[test]
fn forced_variation_on_a_paused_experiment_is_returned_by_get_forced_variation_only() {
    let e = with(split_experiment("exp"), "status", json!("Paused"));
    let h = Df::new().experiment(e).client();
    assert!(h.client.set_forced_variation("exp", "u", Some("b")));
    assert_eq!(h.client.get_forced_variation("exp", "u").as_deref(), Some("b"));
    assert_eq!(h.variation("exp", "u", json!({})), None);
}

/// Checklist 22.
#[test]
fn forced_variations_apply_to_feature_tests_never_to_rollout_rules() {
    // The feature test lets nobody in by traffic; the rollout serves "rule_on" to everyone.
    let test = experiment("70001", "ft", &[("70011", "ft_on", true), ("70012", "ft_off", false)], &[]);
    let r = rule("81001", "everyone", "r", &[("81011", "rule_on", true), ("81012", "rule_off", false)], 10000);
    let df =
        Df::new().experiment(test).rollout(rollout("r", vec![r])).flag(flag("f", "flag", &["70001"], "r", json!([])));
    let h = df.client();
    let none = attrs(json!({}));

    assert!(h.client.set_forced_variation("ft", "tester", Some("ft_on")));
    let d = h.user("tester", json!({})).decide("flag", DecideOptions::NONE);
    assert_eq!((d.variation_key(), d.rule_key()), (Some("ft_on"), Some("ft")));
    assert!(h.client.is_feature_enabled("flag", "tester", &none));
    assert!(h.client.set_forced_variation("ft", "tester", Some("ft_off")));
    assert!(!h.client.is_feature_enabled("flag", "tester", &none), "forced into the disabled variation");

    assert!(h.client.set_forced_variation("everyone", "ruled", Some("rule_off")), "rule keys are experiment keys");
    assert_eq!(h.client.get_forced_variation("everyone", "ruled").as_deref(), Some("rule_off"));
    let d = h.user("ruled", json!({})).decide("flag", DecideOptions::NONE);
    assert_eq!((d.variation_key(), d.rule_key()), (Some("rule_on"), Some("everyone")), "the rollout ignores it");
    assert!(h.client.is_feature_enabled("flag", "ruled", &none));
    // get_variation on the rule key does use it (that path is the experiment procedure).
    assert_eq!(h.variation("everyone", "ruled", json!({})).as_deref(), Some("rule_off"));
}
