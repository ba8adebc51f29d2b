//! Bucketing through the public API (checklist items 1–7, 9–11, 13), with the hash
//! vectors of bucketing.md §11 choosing the users.

use serde_json::json;
use vario_sdk::DecideOptions;

use crate::support::*;

fn split(traffic: &[(&str, i64)]) -> Harness {
    let e = experiment("1886780721", "exp", &[("A", "a", true), ("B", "b", true)], traffic);
    Df::new().experiment(e).client()
}

/// Checklist 1.
#[test]
fn end_of_range_is_exclusive_bucket_4999_first_range_5000_next() {
    let h = split(&[("A", 5000), ("B", 10000)]);
    assert_eq!(h.variation("exp", "user3808", json!({})).as_deref(), Some("a"), "bucket 4999");
    assert_eq!(h.variation("exp", "user22025", json!({})).as_deref(), Some("b"), "bucket 5000");
    assert_eq!(h.variation("exp", "user6187", json!({})).as_deref(), Some("a"), "bucket 0");
    assert_eq!(h.variation("exp", "user2867", json!({})).as_deref(), Some("b"), "bucket 9999");
}

/// Checklist 2.
#[test]
fn non_ascii_user_ids_hash_their_utf8_bytes() {
    for (user, bucket) in [("élodie", 9557), ("用户", 3407), ("user🙂", 8308)] {
        // Only the one bucket the vector predicts lands on "hit".
        let e = experiment(
            "1000",
            "exp",
            &[("LO", "lo", true), ("HIT", "hit", true), ("HI", "hi", true)],
            &[("LO", bucket), ("HIT", bucket + 1), ("HI", 10000)],
        );
        let h = Df::new().experiment(e).client();
        assert_eq!(h.variation("exp", user, json!({})).as_deref(), Some("hit"), "{user} → bucket {bucket}");
    }
}

/// Checklist 3.
#[test]
fn empty_user_id_buckets_on_the_entity_id_alone() {
    // "" ++ "1886780721" → bucket 7140.
    let h = split(&[("A", 7140), ("B", 7141)]);
    assert_eq!(h.activate("exp", "", json!({})).as_deref(), Some("b"));
    let batch = h.one_event();
    assert_eq!(batch["visitors"][0]["visitor_id"], json!(""));
}

/// Checklist 4.
#[test]
fn traffic_entry_with_empty_entity_id_yields_no_variation() {
    let h = split(&[("", 5000), ("B", 10000)]);
    assert_eq!(h.variation("exp", "user3808", json!({})), None, "bucket 4999 lands in the hole");
    assert_eq!(h.activate("exp", "user3808", json!({})), None);
    assert!(h.events().is_empty(), "no variation, no impression");
    assert_eq!(h.variation("exp", "user22025", json!({})).as_deref(), Some("b"));
}

/// Checklist 5.
#[test]
fn bucketed_entity_id_that_is_not_a_variation_yields_no_variation() {
    // "C" is a variation of another experiment, "999" of none.
    let other = experiment("2000", "other", &[("C", "c", true)], &[("C", 10000)]);
    let e = experiment("1886780721", "exp", &[("A", "a", true), ("B", "b", true)], &[("C", 2500), ("999", 5000)]);
    let h = Df::new().experiment(other).experiment(e).client();
    assert_eq!(h.variation("exp", "user6187", json!({})), None, "bucket 0 → C of another experiment");
    assert_eq!(h.variation("exp", "user3808", json!({})), None, "bucket 4999 → unknown id 999");
}

/// Checklist 6.
#[test]
fn buckets_above_the_last_end_of_range_yield_no_variation() {
    let h = split(&[("A", 5000)]);
    assert_eq!(h.variation("exp", "user3808", json!({})).as_deref(), Some("a"));
    assert_eq!(h.variation("exp", "user22025", json!({})), None, "bucket 5000 is past the last end");
    assert_eq!(h.variation("exp", "user2867", json!({})), None, "bucket 9999");
}

/// Checklist 7.
#[test]
fn string_bucketing_id_replaces_the_user_id_and_other_types_are_ignored() {
    // Experiment 1886780721: user22025 → 5000 (b), user3808 → 4999 (a).
    // Rollout rule 40001 (50%): user_1 → 7121 (miss), user_4 → 1630 (hit).
    let ab = split_experiment("exp");
    let r = rule("40001", "half", "r", &[("ON", "on", true)], 5000);
    let df = Df::new().experiment(ab).rollout(rollout("r", vec![r])).flag(flag("f", "flag", &[], "r", json!([])));
    let h = df.client();

    let bid = |v: serde_json::Value| json!({"$opt_bucketing_id": v});
    assert_eq!(h.variation("exp", "user22025", json!({})).as_deref(), Some("b"));
    assert_eq!(h.variation("exp", "user22025", bid(json!("user3808"))).as_deref(), Some("a"));
    assert_eq!(h.variation("exp", "user3808", bid(json!(""))).as_deref(), Some("b"), "\"\" is a string: bucket 7140");
    for not_a_string in [json!(3808), json!(true), json!(null), json!(["user3808"])] {
        assert_eq!(
            h.variation("exp", "user22025", bid(not_a_string.clone())).as_deref(),
            Some("b"),
            "{not_a_string} is ignored"
        );
    }

    let rollout_decision = |user: &str, attributes| h.user(user, attributes).decide("flag", DecideOptions::NONE);
    assert_eq!(rollout_decision("user_1", json!({})).variation_key(), None);
    assert_eq!(rollout_decision("user_1", bid(json!("user_4"))).variation_key(), Some("on"));
    assert_eq!(rollout_decision("user_4", bid(json!(4))).variation_key(), Some("on"));
}

fn group_datafile(policy: &str) -> Df {
    let member =
        |id: &str, key: &str| experiment(id, key, &[(&format!("{id}1"), "on", true)], &[(&format!("{id}1"), 10000)]);
    Df::new().group(json!({
        "id": "50001", "policy": policy,
        "trafficAllocation": [{"entityId": "50011", "endOfRange": 4000}, {"entityId": "50012", "endOfRange": 8000}],
        "experiments": [member("50011", "first"), member("50012", "second")]
    }))
}

/// Checklist 9.
#[test]
fn random_group_user_must_land_on_the_experiment_in_the_group_hash() {
    let h = group_datafile("random").client();
    let of = |user: &str, attributes| {
        (h.variation("first", user, json!(attributes)), h.variation("second", user, json!(attributes)))
    };
    let none = json!({});
    assert_eq!(of("user_3", none.clone()), (Some("on".into()), None), "group bucket 1580");
    assert_eq!(of("user_2", none.clone()), (None, Some("on".into())), "group bucket 6343");
    assert_eq!(of("user6", none), (None, None), "group bucket 8719 is in no experiment");
    // The group hash uses the bucketing id too.
    assert_eq!(of("user6", json!({"$opt_bucketing_id": "user_3"})), (Some("on".into()), None));
}

/// Checklist 10.
#[test]
fn group_with_a_policy_other_than_random_adds_no_group_step() {
    for policy in ["overlapping", "Random", ""] {
        let h = group_datafile(policy).client();
        for user in ["user_3", "user_2", "user6"] {
            assert_eq!(h.variation("first", user, json!({})).as_deref(), Some("on"), "{policy} {user}");
            assert_eq!(h.variation("second", user, json!({})).as_deref(), Some("on"), "{policy} {user}");
        }
    }
}

/// Checklist 11.
#[test]
fn only_status_running_buckets_get_variation_and_activate() {
    for status in ["Launched", "Paused", "Archived", "Not started", "running", "RUNNING", "Whatever", ""] {
        let e = with(split_experiment("exp"), "status", json!(status));
        let h = Df::new().experiment(e).client();
        assert_eq!(h.variation("exp", "user3808", json!({})), None, "{status:?}");
        assert_eq!(h.activate("exp", "user3808", json!({})), None, "{status:?}");
        assert!(h.events().is_empty(), "{status:?} sends no impression");
    }
    let h = Df::new().experiment(split_experiment("exp")).client();
    assert_eq!(h.activate("exp", "user3808", json!({})).as_deref(), Some("a"));
    assert_eq!(h.events().len(), 1);
}

/// Checklist 13.
#[test]
fn paused_rollout_rule_is_still_evaluated() {
    let paused = with(rule("81001", "paused_rule", "r", &[("81011", "on", true)], 10000), "status", json!("Paused"));
    let everyone = rule("81002", "everyone_else", "r", &[("81021", "fallback", false)], 10000);
    let df = Df::new()
        .rollout(rollout("r", vec![paused, everyone]))
        .flag(flag("f", "flag", &[], "r", json!([])))
        .set("sendFlagDecisions", json!(true));
    let h = df.client();
    let d = h.user("u", json!({})).decide("flag", DecideOptions::NONE);
    assert_eq!((d.variation_key(), d.rule_key(), d.enabled()), (Some("on"), Some("paused_rule"), true));
    assert!(h.client.is_feature_enabled("flag", "u", &attrs(json!({}))));
}
