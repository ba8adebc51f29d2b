//! Audience-level conditions: leaves `{"name", "type", "match", "value"}` compiled once
//! so that evaluation only compares (audiences.md §4–§5).

use serde_json::Value;

use crate::semver::TargetVersion;
use crate::tree::{self, Tree};

/// An audience's compiled condition tree.
pub type ConditionTree = Tree<Condition>;

/// One attribute condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The user attribute the condition reads.
    pub attribute: Box<str>,
    /// The attribute's slot: conditions reading the same attribute share a slot, so a
    /// decision can look each attribute up once ([`crate::ProjectConfig::condition_attributes`]).
    pub slot: u32,
    /// How the attribute is matched.
    pub matcher: Matcher,
}

/// Gives every distinct attribute name read by a condition a small number.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    by_name: rustc_hash::FxHashMap<Box<str>, u32>,
    pub(crate) names: Vec<Box<str>>,
}

impl Slots {
    fn slot(&mut self, name: &str) -> u32 {
        if let Some(&slot) = self.by_name.get(name) {
            return slot;
        }
        let slot = self.names.len() as u32;
        self.names.push(name.into());
        self.by_name.insert(name.into(), slot);
        slot
    }
}

/// A match type together with its already-validated condition value.
///
/// Conditions whose value can never match (wrong type, non-finite or beyond ±2^53, an
/// invalid version) and unknown match or condition types compile to [`Tree::Unknown`]
/// instead, since they evaluate to unknown whatever the user sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// `exact` against a string, boolean or number.
    Exact(ExactValue),
    /// `exists`: the attribute is present and not null.
    Exists,
    /// `gt`, `ge`, `lt`, `le` against a number.
    Compare(Ordering, f64),
    /// `substring`: the condition value occurs in the user's string.
    Substring(Box<str>),
    /// `semver_*` against a version that parses.
    Semver(Ordering, TargetVersion),
    /// `qualified`: the user is in this ODP segment.
    Qualified(Box<str>),
}

/// The comparison of an ordered match (`gt`, `semver_le`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordering {
    /// `semver_eq` (numeric `exact` uses [`Matcher::Exact`]).
    Eq,
    /// `gt`, `semver_gt`.
    Gt,
    /// `ge`, `semver_ge`.
    Ge,
    /// `lt`, `semver_lt`.
    Lt,
    /// `le`, `semver_le`.
    Le,
}

impl Ordering {
    /// Whether `sign` (of `user - condition`) satisfies this comparison.
    pub fn holds(self, sign: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Self::Eq => sign == Equal,
            Self::Gt => sign == Greater,
            Self::Ge => sign != Less,
            Self::Lt => sign == Less,
            Self::Le => sign != Greater,
        }
    }
}

/// The condition value of an `exact` match.
#[derive(Debug, Clone, PartialEq)]
pub enum ExactValue {
    /// Equal strings (case-sensitive).
    String(Box<str>),
    /// Equal booleans (never equal to a number).
    Bool(bool),
    /// Numerically equal numbers (`1 == 1.0`), both within ±2^53.
    Number(f64),
}

/// 2^53: numbers beyond it are "unknown" in every numeric match.
pub const MAX_SAFE_NUMBER: f64 = 9_007_199_254_740_992.0;

/// A JSON number as the reference SDK accepts it for matching: finite and within
/// ±2^53, judged on the exact integer when the number is an integer token.
#[inline]
pub fn finite_number(n: &serde_json::Number) -> Option<f64> {
    const LIMIT: u64 = 1 << 53;
    if let Some(i) = n.as_i64() {
        return (i.unsigned_abs() <= LIMIT).then_some(i as f64);
    }
    if let Some(u) = n.as_u64() {
        return (u <= LIMIT).then_some(u as f64);
    }
    n.as_f64().filter(|f| f.is_finite() && f.abs() <= MAX_SAFE_NUMBER)
}

/// Compiles an audience's `conditions` value. Operands are put cheapest first: the
/// result of `and`/`or` does not depend on their order (conditions have no effects),
/// and a cheap operand that decides spares evaluating the dearer ones.
pub(crate) fn compile_conditions(value: &Value, slots: &mut Slots) -> ConditionTree {
    let mut tree = tree::compile(value, &mut |leaf| compile_leaf(leaf, slots));
    tree.order_operands_by_cost(&|c: &Condition| match c.matcher {
        Matcher::Exists | Matcher::Qualified(_) | Matcher::Exact(_) | Matcher::Compare(..) => 1,
        Matcher::Substring(_) | Matcher::Semver(..) => 3,
    });
    tree
}

fn compile_leaf(value: &Value, slots: &mut Slots) -> ConditionTree {
    // A non-object leaf (a string, a number) crashes the reference SDK; here: unknown.
    let Value::Object(leaf) = value else {
        return Tree::Unknown;
    };
    let condition_type = leaf.get("type").and_then(Value::as_str);
    if !matches!(condition_type, Some("custom_attribute" | "third_party_dimension")) {
        return Tree::Unknown;
    }
    let Some(name) = leaf.get("name").and_then(Value::as_str) else {
        return Tree::Unknown;
    };
    let cond = leaf.get("value").unwrap_or(&Value::Null);
    let as_number = || match cond {
        Value::Number(n) => finite_number(n),
        _ => None,
    };
    let as_string = || cond.as_str().map(Box::<str>::from);
    let matcher = match leaf.get("match").unwrap_or(&Value::Null) {
        Value::Null => exact(cond),
        Value::String(m) => match m.as_str() {
            "exact" => exact(cond),
            "exists" => Some(Matcher::Exists),
            "gt" => as_number().map(|n| Matcher::Compare(Ordering::Gt, n)),
            "ge" => as_number().map(|n| Matcher::Compare(Ordering::Ge, n)),
            "lt" => as_number().map(|n| Matcher::Compare(Ordering::Lt, n)),
            "le" => as_number().map(|n| Matcher::Compare(Ordering::Le, n)),
            "substring" => as_string().map(Matcher::Substring),
            "semver_eq" => semver(Ordering::Eq, cond),
            "semver_gt" => semver(Ordering::Gt, cond),
            "semver_ge" => semver(Ordering::Ge, cond),
            "semver_lt" => semver(Ordering::Lt, cond),
            "semver_le" => semver(Ordering::Le, cond),
            "qualified" => as_string().map(Matcher::Qualified),
            _ => None,
        },
        _ => None,
    };
    match matcher {
        Some(matcher) => Tree::Leaf(Condition { attribute: name.into(), slot: slots.slot(name), matcher }),
        None => Tree::Unknown,
    }
}

fn exact(cond: &Value) -> Option<Matcher> {
    let value = match cond {
        Value::String(s) => ExactValue::String(s.as_str().into()),
        Value::Bool(b) => ExactValue::Bool(*b),
        Value::Number(n) => ExactValue::Number(finite_number(n)?),
        _ => return None,
    };
    Some(Matcher::Exact(value))
}

fn semver(op: Ordering, cond: &Value) -> Option<Matcher> {
    Some(Matcher::Semver(op, TargetVersion::parse(cond.as_str()?)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_match_means_exact() {
        let t =
            compile_conditions(&json!({"name": "a", "type": "custom_attribute", "value": "x"}), &mut Slots::default());
        assert_eq!(
            t,
            Tree::Leaf(Condition {
                attribute: "a".into(),
                slot: 0,
                matcher: Matcher::Exact(ExactValue::String("x".into()))
            })
        );
    }

    #[test]
    fn unknown_type_match_or_value_is_unknown() {
        for leaf in [
            json!({"name": "a", "type": "other", "value": "x"}),
            json!({"name": "a", "value": "x"}),
            json!({"name": "a", "type": "custom_attribute", "match": "unknown_match", "value": "x"}),
            json!({"name": "a", "type": "custom_attribute", "match": "gt", "value": "10"}),
            json!({"name": "a", "type": "custom_attribute", "match": "gt", "value": true}),
            json!({"name": "a", "type": "custom_attribute", "match": "gt", "value": 9_007_199_254_740_993_u64}),
            json!({"name": "a", "type": "custom_attribute", "match": "exact", "value": null}),
            json!({"name": "a", "type": "custom_attribute", "match": "exact", "value": [1]}),
            json!({"name": "a", "type": "custom_attribute", "match": "semver_eq", "value": "v1"}),
            json!({"name": "a", "type": "custom_attribute", "match": "substring", "value": 1}),
            json!("a string leaf"),
        ] {
            assert_eq!(compile_conditions(&leaf, &mut Slots::default()), Tree::Unknown, "{leaf}");
        }
    }

    #[test]
    fn two_pow_53_is_still_a_valid_number() {
        let n = serde_json::Number::from(9_007_199_254_740_992_u64);
        assert_eq!(finite_number(&n), Some(MAX_SAFE_NUMBER));
        let n = serde_json::Number::from(-9_007_199_254_740_993_i64);
        assert_eq!(finite_number(&n), None);
    }
}
