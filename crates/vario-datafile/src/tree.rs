//! Condition trees with three-valued logic (audiences.md §2–§3).
//!
//! One generic tree serves both levels: a rule's audience combination (leaves are
//! audiences) and an audience's conditions (leaves are attribute conditions).

/// A compiled `and`/`or`/`not` tree. Evaluation yields `Some(bool)` or `None` (unknown).
#[derive(Debug, Clone, PartialEq)]
pub enum Tree<L> {
    /// `["and", ...]`: false if any operand is false, else unknown if any is unknown, else true.
    And(Vec<Self>),
    /// `["or", ...]` and lists without an operator: true if any operand is true, else
    /// unknown if any is unknown, else false.
    Or(Vec<Self>),
    /// `["not", x, ...]`: negates its first operand only; `["not"]` is unknown.
    Not(Option<Box<Self>>),
    /// A leaf.
    Leaf(L),
    /// A sub-tree that can never be evaluated (unknown audience id, malformed node,
    /// unknown match type, invalid condition value): always unknown.
    Unknown,
}

impl<L> Tree<L> {
    /// Evaluates the tree left to right with short-circuiting, the way the reference
    /// SDK does (later operands are not evaluated once the result is known).
    #[inline]
    pub fn evaluate(&self, leaf: &mut impl FnMut(&L) -> Option<bool>) -> Option<bool> {
        match self {
            Self::And(items) => {
                let mut saw_unknown = false;
                for item in items {
                    match item.evaluate_operand(leaf) {
                        Some(false) => return Some(false),
                        None => saw_unknown = true,
                        Some(true) => {}
                    }
                }
                if saw_unknown { None } else { Some(true) }
            }
            Self::Or(items) => {
                let mut saw_unknown = false;
                for item in items {
                    match item.evaluate_operand(leaf) {
                        Some(true) => return Some(true),
                        None => saw_unknown = true,
                        Some(false) => {}
                    }
                }
                if saw_unknown { None } else { Some(false) }
            }
            Self::Not(inner) => inner.as_ref()?.evaluate(leaf).map(|b| !b),
            Self::Leaf(l) => leaf(l),
            Self::Unknown => None,
        }
    }

    /// An operand of `and`/`or`: leaves (most operands) without a recursive call.
    #[inline(always)]
    fn evaluate_operand(&self, leaf: &mut impl FnMut(&L) -> Option<bool>) -> Option<bool> {
        match self {
            Self::Leaf(l) => leaf(l),
            _ => self.evaluate(leaf),
        }
    }

    /// Sorts the operands of every `and`/`or` by their cost (stable: equal costs keep
    /// their order), where a leaf costs `cost(leaf)` and a sub-tree the sum of its
    /// leaves; returns the tree's cost. Only for trees whose leaves have no effects.
    pub fn order_operands_by_cost(&mut self, cost: &impl Fn(&L) -> u32) -> u32 {
        match self {
            Self::And(items) | Self::Or(items) => {
                let mut costed: Vec<(u32, Self)> =
                    std::mem::take(items).into_iter().map(|mut t| (t.order_operands_by_cost(cost), t)).collect();
                costed.sort_by_key(|(c, _)| *c);
                let total = costed.iter().fold(0u32, |sum, (c, _)| sum.saturating_add(*c));
                *items = costed.into_iter().map(|(_, t)| t).collect();
                total
            }
            Self::Not(Some(inner)) => inner.order_operands_by_cost(cost),
            Self::Leaf(l) => cost(l),
            Self::Not(None) | Self::Unknown => 0,
        }
    }

    /// Visits every leaf.
    pub fn for_each_leaf(&self, f: &mut impl FnMut(&L)) {
        match self {
            Self::And(items) | Self::Or(items) => items.iter().for_each(|t| t.for_each_leaf(f)),
            Self::Not(Some(inner)) => inner.for_each_leaf(f),
            Self::Leaf(l) => f(l),
            Self::Not(None) | Self::Unknown => {}
        }
    }
}

/// Builds a tree from the JSON grammar shared by both levels: a list whose first element
/// is `"and"`, `"or"` or `"not"` is that operator over the rest; any other list is an
/// implicit `or` over all its elements; anything else is a leaf for `leaf` to compile.
pub(crate) fn compile<L>(value: &serde_json::Value, leaf: &mut impl FnMut(&serde_json::Value) -> Tree<L>) -> Tree<L> {
    let serde_json::Value::Array(items) = value else {
        return leaf(value);
    };
    // An empty list nested inside a tree crashes the reference SDK; here it is unknown.
    let Some(first) = items.first() else {
        return Tree::Unknown;
    };
    let operator = first.as_str().filter(|s| matches!(*s, "and" | "or" | "not"));
    let operands = if operator.is_some() { &items[1..] } else { &items[..] };
    let mut children = operands.iter().map(|v| compile(v, leaf));
    match operator {
        Some("and") => Tree::And(children.collect()),
        Some("not") => Tree::Not(children.next().map(Box::new)),
        _ => Tree::Or(children.collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(v: serde_json::Value) -> Option<bool> {
        // Leaves: "T" true, "F" false, anything else unknown.
        let tree = compile(&v, &mut |leaf| Tree::Leaf(leaf.as_str().unwrap_or("").to_owned()));
        tree.evaluate(&mut |l: &String| match l.as_str() {
            "T" => Some(true),
            "F" => Some(false),
            _ => None,
        })
    }

    #[test]
    fn three_valued_table_from_the_spec() {
        assert_eq!(eval(json!(["and", "T", "N"])), None);
        assert_eq!(eval(json!(["and", "F", "N"])), Some(false));
        assert_eq!(eval(json!(["or", "T", "N"])), Some(true));
        assert_eq!(eval(json!(["or", "F", "N"])), None);
        assert_eq!(eval(json!(["not", "N"])), None);
        assert_eq!(eval(json!(["not", "T"])), Some(false));
        assert_eq!(eval(json!(["not", "F", "T"])), Some(true));
        assert_eq!(eval(json!(["T", "F"])), Some(true));
        assert_eq!(eval(json!(["F", "N"])), None);
        assert_eq!(eval(json!([["F"], ["T"]])), Some(true));
        assert_eq!(eval(json!(["and", ["or", "F", "N"], "T"])), None);
    }

    #[test]
    fn empty_operators() {
        assert_eq!(eval(json!(["and"])), Some(true));
        assert_eq!(eval(json!(["or"])), Some(false));
        assert_eq!(eval(json!(["not"])), None);
        assert_eq!(eval(json!(["and", []])), None);
    }

    #[test]
    fn operands_go_cheapest_first_keeping_order_among_equals() {
        let mut tree = compile(&json!(["and", "dear", "a", ["or", "dear", "b"], "c", ["not", "d"]]), &mut |leaf| {
            Tree::Leaf(leaf.as_str().unwrap_or("").to_owned())
        });
        let cost = |l: &String| if l == "dear" { 3 } else { 1 };
        assert_eq!(tree.order_operands_by_cost(&cost), 10);
        let mut leaves = Vec::new();
        tree.for_each_leaf(&mut |l: &String| leaves.push(l.clone()));
        assert_eq!(leaves, ["a", "c", "d", "dear", "b", "dear"]);
    }

    fn arbitrary_tree() -> impl proptest::strategy::Strategy<Value = Tree<(u8, Option<bool>)>> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            (0u8..5, prop::option::of(any::<bool>())).prop_map(Tree::Leaf),
            Just(Tree::Unknown),
            Just(Tree::Not(None)),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Tree::And),
                prop::collection::vec(inner.clone(), 0..5).prop_map(Tree::Or),
                inner.prop_map(|t| Tree::Not(Some(Box::new(t)))),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn ordering_operands_never_changes_a_result(tree in arbitrary_tree()) {
            let before = tree.evaluate(&mut |&(_, r): &(u8, Option<bool>)| r);
            let mut ordered = tree.clone();
            ordered.order_operands_by_cost(&|&(c, _): &(u8, Option<bool>)| u32::from(c));
            proptest::prop_assert_eq!(ordered.evaluate(&mut |&(_, r): &(u8, Option<bool>)| r), before);
        }
    }

    #[test]
    fn operator_only_recognised_first() {
        // "and" in second position is a leaf (unknown here), so this is or(T, unknown).
        assert_eq!(eval(json!(["T", "and"])), Some(true));
        assert_eq!(eval(json!(["F", "and"])), None);
    }
}
