//! Audience evaluation through the public API (checklist items 23–41).
//!
//! A condition tree's three-valued result is observed with two experiments: one
//! targeting the audience, one targeting `["not", audience]`. True qualifies for the
//! first, false for the second, unknown for neither.

use serde_json::{Value, json};

use crate::support::*;

fn full(id: &str, key: &str) -> Value {
    experiment(id, key, &[(&format!("{id}1"), "on", true)], &[(&format!("{id}1"), 10000)])
}

/// The result of audience `a` of `df` for a user with `attributes`.
fn outcome_in(df: Df, attributes: Value) -> Option<bool> {
    let plain = with(full("1", "plain"), "audienceConditions", json!(["a"]));
    let negated = with(full("2", "negated"), "audienceConditions", json!(["not", "a"]));
    let h = df.experiment(plain).experiment(negated).client();
    let yes = h.variation("plain", "u", attributes.clone()).is_some();
    let no = h.variation("negated", "u", attributes).is_some();
    match (yes, no) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        (false, false) => None,
        (true, true) => panic!("an audience and its negation both qualified"),
    }
}

/// The result of a typed audience with these `conditions`.
fn outcome(conditions: Value, attributes: Value) -> Option<bool> {
    outcome_in(Df::new().typed_audience("a", conditions), attributes)
}

/// A leaf condition on attribute `name`.
fn leaf(name: &str, matcher: &str, value: Value) -> Value {
    json!({"name": name, "type": "custom_attribute", "match": matcher, "value": value})
}

/// One leaf against one user value (`None`: attribute absent).
fn check(matcher: &str, cond: Value, user: Option<Value>) -> Option<bool> {
    let attributes = match user {
        Some(v) => json!({"x": v}),
        None => json!({}),
    };
    outcome(leaf("x", matcher, cond), attributes)
}

// Leaves evaluating to true, false and unknown for the user `{"t": 1}`.
fn t() -> Value {
    json!({"name": "t", "type": "custom_attribute", "match": "exists"})
}
fn f() -> Value {
    json!({"name": "f", "type": "custom_attribute", "match": "exists"})
}
fn n() -> Value {
    leaf("n", "exact", json!("x"))
}
fn tfn(conditions: Value) -> Option<bool> {
    outcome(conditions, json!({"t": 1}))
}

/// Whether a user with `attributes` gets into an experiment whose rule-level audience
/// fields are `fields`, in a datafile with audiences `yes` (always true) and `no`
/// (always false).
fn qualifies(fields: &[(&str, Value)], attributes: Value) -> bool {
    let mut e = full("1", "exp");
    for (k, v) in fields {
        e = with(e, k, v.clone());
    }
    let df = Df::new().typed_audience("yes", t()).typed_audience("no", f()).experiment(e);
    df.client().variation("exp", "u", attributes).is_some()
}

/// Checklist 23.
#[test]
fn empty_audience_conditions_replace_non_empty_audience_ids() {
    let user = json!({"t": 1});
    assert!(!qualifies(&[("audienceIds", json!(["no"]))], user.clone()), "sanity: audienceIds alone exclude");
    assert!(qualifies(&[("audienceIds", json!(["no"])), ("audienceConditions", json!([]))], user.clone()));
    assert!(!qualifies(&[("audienceIds", json!(["yes"])), ("audienceConditions", json!(["no"]))], user.clone()));
    // A null `audienceConditions` is absent: `audienceIds` decide.
    assert!(!qualifies(&[("audienceIds", json!(["no"])), ("audienceConditions", json!(null))], user));
}

/// Checklist 24.
#[test]
fn empty_audience_list_qualifies_everyone() {
    assert!(qualifies(&[("audienceIds", json!([]))], json!({})));
    assert!(qualifies(&[("audienceIds", json!([])), ("audienceConditions", json!([]))], json!({})));
}

/// Checklist 25.
#[test]
fn unknown_audience_id_does_not_qualify_even_under_not() {
    let user = json!({"t": 1});
    assert!(!qualifies(&[("audienceIds", json!(["ghost"]))], user.clone()));
    assert!(!qualifies(&[("audienceConditions", json!(["not", "ghost"]))], user.clone()));
    assert!(!qualifies(&[("audienceConditions", json!(["or", "no", "ghost"]))], user.clone()));
    assert!(qualifies(&[("audienceConditions", json!(["or", "ghost", "yes"]))], user));
}

/// Checklist 26.
#[test]
fn bare_and_is_true_bare_or_is_false_bare_not_is_unknown() {
    assert_eq!(tfn(json!(["and"])), Some(true));
    assert_eq!(tfn(json!(["or"])), Some(false));
    assert_eq!(tfn(json!(["not"])), None);
    // The same at rule level.
    assert!(qualifies(&[("audienceConditions", json!(["and"]))], json!({})));
    assert!(!qualifies(&[("audienceConditions", json!(["or"]))], json!({})));
    assert!(!qualifies(&[("audienceConditions", json!(["not"]))], json!({})));
    assert!(!qualifies(&[("audienceConditions", json!(["not", ["not"]]))], json!({})), "not(unknown) is unknown");
}

/// Checklist 27.
#[test]
fn three_valued_and_or_with_unknown_operands() {
    assert_eq!(tfn(json!(["and", f(), n()])), Some(false));
    assert_eq!(tfn(json!(["and", n(), f()])), Some(false));
    assert_eq!(tfn(json!(["and", t(), n()])), None);
    assert_eq!(tfn(json!(["or", t(), n()])), Some(true));
    assert_eq!(tfn(json!(["or", n(), t()])), Some(true));
    assert_eq!(tfn(json!(["or", f(), n()])), None);
    assert_eq!(tfn(json!(["and", t(), t()])), Some(true));
    assert_eq!(tfn(json!(["or", f(), f()])), Some(false));
    assert_eq!(tfn(json!(["and", ["or", f(), n()], t()])), None);
}

/// Checklist 28.
#[test]
fn not_uses_only_its_first_operand() {
    assert_eq!(tfn(json!(["not", f(), t()])), Some(true));
    assert_eq!(tfn(json!(["not", t(), f()])), Some(false));
    assert_eq!(tfn(json!(["not", n(), t()])), None);
    assert_eq!(tfn(json!(["not", f(), n()])), Some(true));
}

/// Checklist 29.
#[test]
fn list_without_leading_operator_is_or_of_all_elements() {
    assert_eq!(tfn(json!([f(), t()])), Some(true));
    assert_eq!(tfn(json!([f(), f()])), Some(false));
    assert_eq!(tfn(json!([f(), n()])), None);
    assert_eq!(tfn(json!([[f()], [t()]])), Some(true));
    assert_eq!(tfn(t()), Some(true), "a bare object is a single leaf");
    // At rule level an operator in second position is an (unknown) audience id.
    let user = json!({"t": 1});
    assert!(qualifies(&[("audienceIds", json!(["no", "yes"]))], user.clone()));
    assert!(qualifies(&[("audienceConditions", json!(["yes", "and"]))], user.clone()));
    assert!(!qualifies(&[("audienceConditions", json!(["no", "and"]))], user));
}

/// Checklist 30.
#[test]
fn typed_audience_replaces_legacy_audience_with_the_same_id() {
    let df = Df::new()
        .legacy_audience("a", json!(["and", {"name": "device", "type": "custom_attribute", "value": "iphone"}]))
        .typed_audience("a", leaf("device", "exact", json!("android")));
    assert_eq!(outcome_in(df.clone(), json!({"device": "android"})), Some(true));
    assert_eq!(outcome_in(df, json!({"device": "iphone"})), Some(false));
    // The legacy audience alone does work.
    let legacy = Df::new()
        .legacy_audience("a", json!(["and", {"name": "device", "type": "custom_attribute", "value": "iphone"}]));
    assert_eq!(outcome_in(legacy, json!({"device": "iphone"})), Some(true));
}

/// Checklist 31.
#[test]
fn leaf_type_other_than_custom_attribute_or_third_party_dimension_is_unknown() {
    let with_type = |ty: Value| {
        let mut c = leaf("x", "exact", json!("v"));
        c["type"] = ty;
        outcome(c, json!({"x": "v"}))
    };
    assert_eq!(with_type(json!("custom_attribute")), Some(true));
    assert_eq!(with_type(json!("third_party_dimension")), Some(true));
    assert_eq!(with_type(json!("other")), None);
    assert_eq!(with_type(json!("Custom_Attribute")), None);
    assert_eq!(with_type(json!(null)), None);
    let mut untyped = leaf("x", "exact", json!("v"));
    untyped.as_object_mut().unwrap().remove("type");
    assert_eq!(outcome(untyped, json!({"x": "v"})), None);
}

/// Checklist 32.
#[test]
fn missing_match_means_exact_and_unknown_match_is_unknown() {
    let no_match = json!({"name": "x", "type": "custom_attribute", "value": "v"});
    assert_eq!(outcome(no_match.clone(), json!({"x": "v"})), Some(true));
    assert_eq!(outcome(no_match, json!({"x": "w"})), Some(false));
    assert_eq!(check("exact", json!("v"), Some(json!("v"))), Some(true));
    let null_match = json!({"name": "x", "type": "custom_attribute", "match": null, "value": "v"});
    assert_eq!(outcome(null_match, json!({"x": "v"})), Some(true));
    for unknown in ["unknown_match", "EXACT", "Exists", "regex", ""] {
        assert_eq!(check(unknown, json!("v"), Some(json!("v"))), None, "{unknown:?}");
    }
}

/// Checklist 33.
#[test]
fn missing_or_null_attribute_is_unknown_for_every_match_but_exists() {
    let cases = [
        ("exact", json!("v")),
        ("exact", json!(1)),
        ("exact", json!(true)),
        ("gt", json!(1)),
        ("ge", json!(1)),
        ("lt", json!(1)),
        ("le", json!(1)),
        ("substring", json!("v")),
        ("semver_eq", json!("1.0.0")),
        ("semver_ge", json!("1.0.0")),
        ("semver_gt", json!("1.0.0")),
        ("semver_le", json!("1.0.0")),
        ("semver_lt", json!("1.0.0")),
    ];
    for (matcher, cond) in cases {
        assert_eq!(check(matcher, cond.clone(), None), None, "{matcher} {cond}, missing");
        assert_eq!(check(matcher, cond.clone(), Some(Value::Null)), None, "{matcher} {cond}, null");
    }
    assert_eq!(check("exists", json!(null), None), Some(false));
    assert_eq!(check("exists", json!(null), Some(Value::Null)), Some(false));
}

/// Checklist 34.
#[test]
fn exact_equates_int_and_float_but_never_bool_number_or_string_number() {
    assert_eq!(check("exact", json!(1), Some(json!(1.0))), Some(true));
    assert_eq!(check("exact", json!(1.0), Some(json!(1))), Some(true));
    assert_eq!(check("exact", json!(1), Some(json!(2))), Some(false));
    assert_eq!(check("exact", json!(1), Some(json!(true))), None);
    assert_eq!(check("exact", json!(true), Some(json!(1))), None);
    assert_eq!(check("exact", json!(false), Some(json!(0))), None);
    assert_eq!(check("exact", json!("1"), Some(json!(1))), None);
    assert_eq!(check("exact", json!(1), Some(json!("1"))), None);
    assert_eq!(check("exact", json!("abc"), Some(json!("abc"))), Some(true));
    assert_eq!(check("exact", json!("abc"), Some(json!("ABC"))), Some(false));
    assert_eq!(check("exact", json!(true), Some(json!(true))), Some(true));
    assert_eq!(check("exact", json!(true), Some(json!(false))), Some(false));
    assert_eq!(check("exact", json!("x"), Some(json!(["x"]))), None);
    assert_eq!(check("exact", json!(["x"]), Some(json!(["x"]))), None);
}

/// Checklist 35.
#[test]
fn numbers_beyond_two_pow_53_are_unknown_and_two_pow_53_is_fine() {
    let max = json!(9_007_199_254_740_992_u64);
    let over = json!(9_007_199_254_740_993_u64);
    let under = json!(-9_007_199_254_740_993_i64);
    assert_eq!(check("exact", max.clone(), Some(max.clone())), Some(true));
    assert_eq!(check("exact", json!(-9_007_199_254_740_992_i64), Some(json!(-9_007_199_254_740_992_i64))), Some(true));
    assert_eq!(check("ge", max.clone(), Some(max.clone())), Some(true));
    assert_eq!(check("exact", over.clone(), Some(over.clone())), None);
    assert_eq!(check("exact", json!(5), Some(over.clone())), None);
    assert_eq!(check("exact", max.clone(), Some(over.clone())), None);
    assert_eq!(check("gt", json!(10), Some(over.clone())), None);
    assert_eq!(check("lt", json!(10), Some(under.clone())), None);
    assert_eq!(check("gt", over, Some(json!(1))), None);
    assert_eq!(check("lt", under, Some(json!(1))), None);
    assert_eq!(check("gt", json!(1e300), Some(json!(1))), None);
    assert_eq!(check("lt", json!(1), Some(json!(-1e300))), None);
    assert_eq!(check("le", json!(9_007_199_254_740_992.0), Some(max)), Some(true));
}

/// Checklist 36.
#[test]
fn ordered_matches_reject_boolean_and_numeric_string_values() {
    for matcher in ["gt", "ge", "lt", "le"] {
        assert_eq!(check(matcher, json!(10), Some(json!(true))), None, "{matcher} bool");
        assert_eq!(check(matcher, json!(10), Some(json!(false))), None, "{matcher} bool");
        assert_eq!(check(matcher, json!(10), Some(json!("11"))), None, "{matcher} numeric string");
        assert_eq!(check(matcher, json!("10"), Some(json!(11))), None, "{matcher} string condition");
        assert_eq!(check(matcher, json!(true), Some(json!(2))), None, "{matcher} bool condition");
    }
    assert_eq!(check("gt", json!(10), Some(json!(11))), Some(true));
    assert_eq!(check("gt", json!(10), Some(json!(10))), Some(false));
    assert_eq!(check("gt", json!(10), Some(json!(10.5))), Some(true));
    assert_eq!(check("ge", json!(10), Some(json!(10))), Some(true));
    assert_eq!(check("lt", json!(10), Some(json!(9.99))), Some(true));
    assert_eq!(check("le", json!(10), Some(json!(10))), Some(true));
    assert_eq!(check("le", json!(10), Some(json!(10.01))), Some(false));
}

/// Checklist 37.
#[test]
fn substring_is_case_sensitive_and_needs_strings_on_both_sides() {
    assert_eq!(check("substring", json!("ell"), Some(json!("hello"))), Some(true));
    assert_eq!(check("substring", json!("ell"), Some(json!("HELLO"))), Some(false));
    assert_eq!(check("substring", json!("hello"), Some(json!("ell"))), Some(false), "condition inside user value");
    assert_eq!(check("substring", json!(""), Some(json!("x"))), Some(true));
    assert_eq!(check("substring", json!(""), Some(json!(""))), Some(true));
    assert_eq!(check("substring", json!("a"), Some(json!(1))), None);
    assert_eq!(check("substring", json!("t"), Some(json!(true))), None);
    assert_eq!(check("substring", json!(1), Some(json!("1"))), None);
}

/// Checklist 38.
#[test]
fn semver_short_target_prefix_prerelease_order_and_opaque_suffix() {
    assert_eq!(check("semver_eq", json!("2.0"), Some(json!("2.0.9"))), Some(true));
    assert_eq!(check("semver_ge", json!("2.0"), Some(json!("2.0.7"))), Some(true));
    assert_eq!(check("semver_eq", json!("2.0"), Some(json!("2.1"))), Some(false));
    assert_eq!(check("semver_lt", json!("2.0.0"), Some(json!("2.0.0-beta"))), Some(true));
    assert_eq!(check("semver_gt", json!("2.0.0-beta"), Some(json!("2.0.0"))), Some(true));
    // "beta.10" < "beta.2" as plain strings.
    assert_eq!(check("semver_lt", json!("2.0.0-beta.2"), Some(json!("2.0.0-beta.10"))), Some(true));
    assert_eq!(check("semver_gt", json!("2.0.0-beta.2"), Some(json!("2.0.0-beta.10"))), Some(false));
    assert_eq!(check("semver_gt", json!("1.2.3"), Some(json!("1.10.0"))), Some(true), "numeric parts");
    assert_eq!(check("semver_eq", json!("1.2.3"), Some(json!("01.2.3"))), Some(true));
    assert_eq!(check("semver_le", json!("2.0.0"), Some(json!("2.0.0"))), Some(true));
}

/// Checklist 39.
#[test]
fn semver_with_space_extra_dots_or_bad_numeric_parts_is_unknown() {
    for user in
        ["2.0.0 ", " 2.0.0", "2. 0", "1.2.3.4", "2.0.0.0", "", "1..2", "2.0.", ".1", "v2.0.0", "a.b.c", "-1.0.0", "1.x"]
    {
        for matcher in ["semver_eq", "semver_ge", "semver_lt"] {
            assert_eq!(check(matcher, json!("2.0.0"), Some(json!(user))), None, "{matcher} {user:?}");
        }
    }
    for target in ["1.2.3.4", "", "2..0", "v1"] {
        assert_eq!(check("semver_eq", json!(target), Some(json!("1.2.3"))), None, "target {target:?}");
    }
    assert_eq!(check("semver_eq", json!("2.0.0"), Some(json!(2))), None, "not a string");
    assert_eq!(check("semver_eq", json!(2), Some(json!("2"))), None, "condition not a string");
    assert_eq!(check("semver_eq", json!("1.2.3-beta"), Some(json!("1.2.3-4"))), None, "digit vs text part");
}

/// Checklist 40.
#[test]
fn exists_is_true_for_falsy_values_and_lists_false_for_null_or_missing() {
    for present in [json!(0), json!(false), json!(""), json!([]), json!([1]), json!({}), json!("x")] {
        assert_eq!(check("exists", json!(null), Some(present.clone())), Some(true), "{present}");
    }
    assert_eq!(check("exists", json!(null), Some(Value::Null)), Some(false));
    assert_eq!(check("exists", json!(null), None), Some(false));
    assert_eq!(check("exists", json!("ignored"), Some(json!(1))), Some(true), "the condition value is ignored");
}

/// Checklist 41.
#[test]
fn undeclared_attributes_take_part_in_audience_evaluation() {
    // The datafile declares only "declared"; audiences may use any attribute.
    let df = Df::new().attribute("20001", "declared").typed_audience("a", leaf("undeclared", "exact", json!("v")));
    assert_eq!(outcome_in(df.clone(), json!({"undeclared": "v"})), Some(true));
    assert_eq!(outcome_in(df, json!({"undeclared": "w"})), Some(false));
    let opt = Df::new().typed_audience("a", leaf("$opt_custom", "exact", json!("v")));
    assert_eq!(outcome_in(opt, json!({"$opt_custom": "v"})), Some(true));
}
