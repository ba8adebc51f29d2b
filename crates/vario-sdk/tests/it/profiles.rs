//! User profiles (sticky bucketing), checklist items 15–19.

use serde_json::json;
use vario_sdk::DecideOptions;

use crate::support::*;

const EXP: &str = "1886780721";

/// Checklist 15.
#[test]
fn whitelisted_and_runtime_forced_results_are_not_saved_to_the_profile() {
    let e = with(split_experiment("exp"), "forcedVariations", json!({"white": "b"}));
    let f = flag("f", "flag", &[EXP], "", json!([]));
    let profiles = Profiles::default();
    let h = Df::new().experiment(e).flag(f).client_with(|b| b.user_profile_service(profiles.clone()));
    assert!(h.client.set_forced_variation("exp", "forced", Some("b")));

    assert_eq!(h.variation("exp", "white", json!({})).as_deref(), Some("b"));
    assert_eq!(h.activate("exp", "forced", json!({})).as_deref(), Some("b"));
    assert_eq!(h.user("white", json!({})).decide("flag", DecideOptions::NONE).variation_key(), Some("b"));
    assert_eq!(h.user("forced", json!({})).decide("flag", DecideOptions::NONE).variation_key(), Some("b"));
    assert!(!h.client.is_feature_enabled("flag", "white", &attrs(json!({}))));
    assert!(profiles.saves().is_empty(), "{:?}", profiles.saves());
    assert!(profiles.lookups() >= 5, "profiles are still looked up");

    // A bucketed result is saved (so the above is not vacuous).
    assert_eq!(h.variation("exp", "user3808", json!({})).as_deref(), Some("a"));
    assert_eq!(profiles.stored("user3808").unwrap()[EXP], "A");
}

/// Checklist 16.
#[test]
fn stored_profile_variation_is_returned_without_rechecking_audiences() {
    let e = with(split_experiment("exp"), "audienceConditions", json!(["adults"]));
    let f = flag("f", "flag", &[EXP], "", json!([]));
    let df = Df::new()
        .typed_audience("adults", json!({"name": "age", "type": "custom_attribute", "match": "ge", "value": 18}))
        .experiment(e)
        .flag(f);
    // user3808 would bucket into "a" (4999); the profile says "B".
    let profiles = Profiles::with("user3808", &[(EXP, "B")]);
    let h = df.client_with(|b| b.user_profile_service(profiles.clone()));
    assert_eq!(h.variation("exp", "user3808", json!({"age": 3})).as_deref(), Some("b"));
    assert_eq!(h.variation("exp", "user3808", json!({})).as_deref(), Some("b"));
    assert_eq!(h.user("user3808", json!({})).decide("flag", DecideOptions::NONE).rule_key(), Some("exp"));
    assert!(profiles.saves().is_empty(), "a stored result is not saved again");
    // Without the profile the audience decides.
    assert_eq!(h.variation("exp", "user22025", json!({"age": 3})), None);
}

/// Checklist 17.
#[test]
fn unknown_stored_variation_id_is_ignored_and_overwritten_after_bucketing() {
    let other = experiment("999", "other", &[("O", "o", true)], &[("O", 10000)]);
    let df = Df::new().experiment(split_experiment("exp")).experiment(other);
    let profiles = Profiles::with("user3808", &[(EXP, "ghost"), ("999", "O")]);
    let h = df.client_with(|b| b.user_profile_service(profiles.clone()));
    assert_eq!(h.variation("exp", "user3808", json!({})).as_deref(), Some("a"), "bucketed: 4999");
    let saves = profiles.saves();
    assert_eq!(saves.len(), 1);
    assert_eq!(saves[0].experiment_bucket_map[EXP], "A", "overwritten");
    assert_eq!(saves[0].experiment_bucket_map["999"], "O", "other entries kept");
}

/// Checklist 18.
#[test]
fn ignore_user_profile_service_means_no_lookup_and_no_save() {
    let f = flag("f", "flag", &[EXP], "", json!([]));
    let profiles = Profiles::with("user3808", &[(EXP, "B")]);
    let h =
        Df::new().experiment(split_experiment("exp")).flag(f).client_with(|b| b.user_profile_service(profiles.clone()));
    let ignore = DecideOptions::IGNORE_USER_PROFILE_SERVICE;

    let ctx = h.user("user3808", json!({}));
    assert_eq!(ctx.decide("flag", ignore).variation_key(), Some("a"), "stored b not read");
    let fresh = h.user("user22025", json!({}));
    assert_eq!(fresh.decide("flag", ignore).variation_key(), Some("b"));
    assert_eq!(fresh.decide_all(ignore).len(), 1);
    assert_eq!(fresh.decide_for_keys(["flag"], ignore).len(), 1);
    assert_eq!(profiles.lookups(), 0);
    assert!(profiles.saves().is_empty());

    // Without the option: one lookup per call, the stored variation, and a save for the new user.
    assert_eq!(ctx.decide("flag", DecideOptions::NONE).variation_key(), Some("b"));
    assert_eq!(fresh.decide("flag", DecideOptions::NONE).variation_key(), Some("b"));
    assert_eq!(profiles.lookups(), 2);
    assert_eq!(profiles.stored("user22025").unwrap()[EXP], "B");
}

/// Checklist 19.
#[test]
fn rollout_decisions_are_never_read_from_or_stored_in_the_profile() {
    let r = rule("81001", "everyone", "r", &[("81011", "on", true), ("81012", "off", false)], 10000);
    let df = Df::new().rollout(rollout("r", vec![r])).flag(flag("f", "flag", &[], "r", json!([])));
    let profiles = Profiles::with("u", &[("81001", "81012")]);
    let h = df.client_with(|b| b.user_profile_service(profiles.clone()));
    let d = h.user("u", json!({})).decide("flag", DecideOptions::NONE);
    assert_eq!(d.variation_key(), Some("on"), "the stored 'off' is not used for a delivery rule");
    assert!(h.client.is_feature_enabled("flag", "v", &attrs(json!({}))));
    assert_eq!(h.user("v", json!({})).decide_all(DecideOptions::NONE)[0].variation_key(), Some("on"));
    assert!(profiles.saves().is_empty(), "{:?}", profiles.saves());
}
