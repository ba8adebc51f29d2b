//! Audience evaluation: a rule's audience combination, then each audience's
//! conditions against the user's attributes (audiences.md).

use vario_datafile::{AudienceTree, Condition, ExactValue, Matcher, ProjectConfig, finite_number};

use crate::attributes::{AttributeValue, Attributes, short_eq};

/// The user's attributes as conditions read them: each attribute name (slot) is looked
/// up at most once per decision, however many conditions read it.
#[derive(Debug)]
pub struct AttributeCache<'a> {
    attributes: &'a Attributes,
    // Per slot: 0 not looked up yet, 1 absent, k + 2 at position k.
    found: [u8; CACHED_SLOTS],
    // Per audience index: 0 not evaluated yet, else `AUDIENCE_*`. An audience's result
    // depends only on the attributes and segments, both fixed for a decision, and rules
    // of one flag often share audiences.
    audiences: [u8; CACHED_AUDIENCES],
}

const CACHED_SLOTS: usize = 64;
const CACHED_AUDIENCES: usize = 64;
const AUDIENCE_FALSE: u8 = 1;
const AUDIENCE_TRUE: u8 = 2;
const AUDIENCE_UNKNOWN: u8 = 3;

impl<'a> AttributeCache<'a> {
    /// A cache over `attributes`.
    pub fn new(attributes: &'a Attributes) -> Self {
        Self { attributes, found: [0; CACHED_SLOTS], audiences: [0; CACHED_AUDIENCES] }
    }

    /// The attributes behind the cache.
    pub fn attributes(&self) -> &'a Attributes {
        self.attributes
    }

    fn get(&mut self, condition: &Condition) -> Option<&'a AttributeValue> {
        let Some(cached) = self.found.get_mut(condition.slot as usize) else {
            return self.attributes.get(&condition.attribute);
        };
        match *cached {
            0 => {
                let position = self.attributes.position(&condition.attribute);
                *cached = match position {
                    None => 1,
                    Some(i) if i < usize::from(u8::MAX) - 2 => i as u8 + 2,
                    Some(_) => 0, // too far to cache; look it up again next time
                };
                position.and_then(|i| self.attributes.value_at(i))
            }
            1 => None,
            k => self.attributes.value_at(usize::from(k) - 2),
        }
    }
}

/// Evaluates a rule's audiences: `None` (everyone) is true; otherwise the tree's result,
/// where unknown counts as not qualified for the caller.
pub fn rule_audience_result(
    config: &ProjectConfig,
    audience: Option<&AudienceTree>,
    attributes: &mut AttributeCache<'_>,
    segments: &[String],
) -> Option<bool> {
    let Some(tree) = audience else { return Some(true) };
    tree.evaluate(&mut |&audience: &usize| {
        let cached = attributes.audiences.get(audience).copied();
        match cached {
            Some(AUDIENCE_FALSE) => return Some(false),
            Some(AUDIENCE_TRUE) => return Some(true),
            Some(AUDIENCE_UNKNOWN) => return None,
            _ => {}
        }
        let result = config.audiences[audience]
            .conditions
            .evaluate(&mut |c: &Condition| match_value(c, attributes.get(c), segments));
        if let Some(slot) = attributes.audiences.get_mut(audience) {
            *slot = match result {
                Some(false) => AUDIENCE_FALSE,
                Some(true) => AUDIENCE_TRUE,
                None => AUDIENCE_UNKNOWN,
            };
        }
        result
    })
}

/// One attribute condition (audiences.md §4–§5): `None` means unknown.
pub fn evaluate_condition(condition: &Condition, attributes: &Attributes, segments: &[String]) -> Option<bool> {
    match_value(condition, attributes.get(&condition.attribute), segments)
}

/// One condition against the attribute's value (`None`: attribute absent).
#[inline]
fn match_value(condition: &Condition, value: Option<&AttributeValue>, segments: &[String]) -> Option<bool> {
    match &condition.matcher {
        Matcher::Exists => return Some(!matches!(value, None | Some(AttributeValue::Null))),
        Matcher::Qualified(segment) => return Some(segments.iter().any(|s| **s == **segment)),
        _ => {}
    }
    let value = value?;
    match (&condition.matcher, value) {
        (Matcher::Exact(ExactValue::String(c)), AttributeValue::String(u)) => {
            Some(short_eq(c.as_bytes(), u.as_bytes()))
        }
        (Matcher::Exact(ExactValue::Bool(c)), AttributeValue::Bool(u)) => Some(c == u),
        (Matcher::Exact(ExactValue::Number(c)), AttributeValue::Number(u)) => Some(finite_number(u)? == *c),
        (Matcher::Compare(op, c), AttributeValue::Number(u)) => {
            let u = finite_number(u)?;
            Some(op.holds(u.partial_cmp(c)?))
        }
        (Matcher::Substring(c), AttributeValue::String(u)) => Some(u.contains(&**c)),
        (Matcher::Semver(op, target), AttributeValue::String(u)) => {
            let sign = target.compare_with(u)?;
            Some(op.holds(sign.cmp(&0)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use vario_datafile::Tree;

    fn leaf(v: serde_json::Value) -> Condition {
        // Compile through a datafile so the tests exercise the real compiler.
        let df = json!({"version": "4", "accountId": "1", "projectId": "2", "revision": "3",
            "groups": [], "experiments": [], "events": [], "attributes": [],
            "audiences": [], "typedAudiences": [{"id": "a", "name": "a", "conditions": v}]});
        let config = ProjectConfig::from_value(&df).unwrap();
        match &config.audiences[0].conditions {
            Tree::Leaf(c) => c.clone(),
            other => panic!("not a leaf: {other:?}"),
        }
    }

    fn eval(cond_match: &str, cond: serde_json::Value, user: Option<serde_json::Value>) -> Option<bool> {
        let df_leaf = json!({"name": "x", "type": "custom_attribute", "match": cond_match, "value": cond});
        let df = json!({"version": "4", "accountId": "1", "projectId": "2", "revision": "3",
            "groups": [], "experiments": [], "events": [], "attributes": [],
            "audiences": [], "typedAudiences": [{"id": "a", "name": "a", "conditions": df_leaf}]});
        let config = ProjectConfig::from_value(&df).unwrap();
        let mut attrs = Attributes::new();
        if let Some(u) = user {
            attrs.insert("x", AttributeValue::from(u));
        }
        config.audiences[0].conditions.evaluate(&mut |c: &Condition| evaluate_condition(c, &attrs, &[]))
    }

    #[test]
    fn observed_outcomes_from_the_spec() {
        let big = json!(9_007_199_254_740_993_u64);
        let cases: Vec<(&str, serde_json::Value, Option<serde_json::Value>, Option<bool>)> = vec![
            ("exact", json!("abc"), Some(json!("abc")), Some(true)),
            ("exact", json!("abc"), Some(json!("ABC")), Some(false)),
            ("exact", json!(1), Some(json!(1.0)), Some(true)),
            ("exact", json!(1), Some(json!(true)), None),
            ("exact", json!(true), Some(json!(1)), None),
            ("exact", json!(true), Some(json!(true)), Some(true)),
            ("exact", json!(false), Some(json!(false)), Some(true)),
            ("exact", json!("1"), Some(json!(1)), None),
            ("exact", json!(9_007_199_254_740_992_u64), Some(json!(9_007_199_254_740_992_u64)), Some(true)),
            ("exact", big.clone(), Some(big.clone()), None),
            ("exact", json!(5), Some(big.clone()), None),
            ("exact", json!(null), Some(json!("x")), None),
            ("exact", json!([1]), Some(json!([1])), None),
            ("exact", json!("x"), Some(json!([1])), None),
            ("exact", json!("x"), Some(json!({"a": 1})), None),
            ("exact", json!("x"), None, None),
            ("exact", json!("x"), Some(json!(null)), None),
            ("exists", json!(null), Some(json!("x")), Some(true)),
            ("exists", json!(null), Some(json!(0)), Some(true)),
            ("exists", json!(null), Some(json!(false)), Some(true)),
            ("exists", json!(null), Some(json!([1])), Some(true)),
            ("exists", json!(null), Some(json!(null)), Some(false)),
            ("exists", json!(null), None, Some(false)),
            ("gt", json!(10), Some(json!(11)), Some(true)),
            ("gt", json!(10), Some(json!(10)), Some(false)),
            ("gt", json!(10), Some(json!(10.5)), Some(true)),
            ("gt", json!(10), Some(json!("11")), None),
            ("gt", json!(10), Some(json!(true)), None),
            ("gt", json!("10"), Some(json!(11)), None),
            ("gt", json!(true), Some(json!(2)), None),
            ("gt", json!(10), Some(big.clone()), None),
            ("gt", big, Some(json!(1)), None),
            ("ge", json!(10), Some(json!(10)), Some(true)),
            ("lt", json!(10), Some(json!(9.99)), Some(true)),
            ("le", json!(10), Some(json!(10)), Some(true)),
            ("le", json!(10), Some(json!(10.01)), Some(false)),
            ("substring", json!("ell"), Some(json!("hello")), Some(true)),
            ("substring", json!("ell"), Some(json!("HELLO")), Some(false)),
            ("substring", json!(""), Some(json!("x")), Some(true)),
            ("substring", json!("a"), Some(json!(1)), None),
            ("substring", json!(1), Some(json!("1")), None),
            ("unknown_match", json!("x"), Some(json!("x")), None),
            ("qualified", json!("seg1"), None, Some(false)),
            ("semver_ge", json!("2.0"), Some(json!("2.0.7")), Some(true)),
            ("semver_eq", json!("2.0"), Some(json!("2.0.7")), Some(true)),
            ("semver_lt", json!("2.0.0"), Some(json!("2.0.0-beta")), Some(true)),
            ("semver_eq", json!("1.2.3-beta"), Some(json!("1.2.3-4")), None),
            ("semver_eq", json!("2.0.0"), Some(json!(2)), None),
        ];
        for (m, c, u, want) in cases {
            assert_eq!(eval(m, c.clone(), u.clone()), want, "{m} {c} vs {u:?}");
        }
    }

    #[test]
    fn remembered_audience_results_match_fresh_evaluations() {
        // 70 audiences, so that indices past the memo's 64 are evaluated every time.
        let audiences: Vec<serde_json::Value> = (0..70)
            .map(|i| {
                let condition = match i % 3 {
                    0 => json!({"name": "age", "type": "custom_attribute", "match": "ge", "value": i}),
                    1 => json!({"name": "country", "type": "custom_attribute", "match": "exact", "value": "us"}),
                    _ => json!({"name": "missing", "type": "custom_attribute", "match": "exact", "value": "x"}),
                };
                json!({"id": format!("a{i}"), "name": "a", "conditions": ["and", condition]})
            })
            .collect();
        let df = json!({"version": "4", "accountId": "1", "projectId": "2", "revision": "3",
            "groups": [], "experiments": [], "events": [], "attributes": [],
            "audiences": [], "typedAudiences": audiences});
        let config = ProjectConfig::from_value(&df).unwrap();
        let attrs: Attributes = [("age", AttributeValue::from(40i64)), ("country", "us".into())].into_iter().collect();
        let mut shared = AttributeCache::new(&attrs);
        for round in 0..2 {
            for a in 0..70 {
                for tree in [
                    Tree::Leaf(a),
                    Tree::Not(Some(Box::new(Tree::Leaf(a)))),
                    Tree::Or(vec![Tree::Leaf(a), Tree::Leaf(a)]),
                ] {
                    let fresh = rule_audience_result(&config, Some(&tree), &mut AttributeCache::new(&attrs), &[]);
                    let remembered = rule_audience_result(&config, Some(&tree), &mut shared, &[]);
                    assert_eq!(remembered, fresh, "audience {a}, round {round}, tree {tree:?}");
                }
            }
        }
        // All three outcomes occur: true (age 40 >= 0), false (age 40 >= 42), unknown (missing).
        let results: Vec<_> =
            [0, 42, 2].iter().map(|&a| rule_audience_result(&config, Some(&Tree::Leaf(a)), &mut shared, &[])).collect();
        assert_eq!(results, [Some(true), Some(false), None]);
    }

    #[test]
    fn third_party_dimension_is_a_valid_type() {
        let c = leaf(json!({"name": "x", "type": "third_party_dimension", "value": "x"}));
        let attrs: Attributes = [("x", "x")].into_iter().collect();
        assert_eq!(evaluate_condition(&c, &attrs, &[]), Some(true));
    }
}
