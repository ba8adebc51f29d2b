//! What a decision knows about the user: id, attributes, and the per-user state the
//! SDK keeps (forced decisions, forced variations, the user profile).

use rustc_hash::FxHashMap;

use crate::attributes::Attributes;

/// Forced decisions of a user context: `(flag key, rule key or None) → variation key`
/// (decisions.md §6.4). Few entries, so a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForcedDecisions(Vec<(String, Option<String>, String)>);

impl ForcedDecisions {
    /// Sets (or replaces) the forced variation for `(flag, rule)`.
    pub fn set(&mut self, flag: &str, rule: Option<&str>, variation: &str) {
        match self.0.iter_mut().find(|(f, r, _)| f == flag && r.as_deref() == rule) {
            Some(entry) => entry.2 = variation.to_owned(),
            None => self.0.push((flag.to_owned(), rule.map(str::to_owned), variation.to_owned())),
        }
    }

    /// The forced variation key for `(flag, rule)`.
    pub fn get(&self, flag: &str, rule: Option<&str>) -> Option<&str> {
        self.0.iter().find(|(f, r, _)| f == flag && r.as_deref() == rule).map(|(_, _, v)| v.as_str())
    }

    /// Removes the entry for `(flag, rule)`; whether there was one.
    pub fn remove(&mut self, flag: &str, rule: Option<&str>) -> bool {
        let before = self.0.len();
        self.0.retain(|(f, r, _)| !(f == flag && r.as_deref() == rule));
        self.0.len() != before
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Forced variations of one user from `set_forced_variation`: experiment id → variation id.
pub type ForcedVariations = FxHashMap<String, String>;

/// The sticky-bucketing state of one user during one API call: experiment id →
/// variation id, and whether the call recorded anything new (then the SDK saves it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileState {
    /// experiment id → variation id.
    pub bucket_map: FxHashMap<String, String>,
    /// Set when a bucketing result was recorded.
    pub changed: bool,
}

/// The user a decision is made for.
#[derive(Debug, Clone, Copy)]
pub struct User<'a> {
    /// User id: whitelists, forced variations, profiles and events use it.
    pub id: &'a str,
    /// Attributes for audiences (and `$opt_bucketing_id`).
    pub attributes: &'a Attributes,
    /// Forced decisions of the user context (empty for the legacy APIs).
    pub forced_decisions: &'a ForcedDecisions,
    /// This user's forced variations, if any were set.
    pub forced_variations: Option<&'a ForcedVariations>,
    /// Qualified ODP segments for `qualified` conditions.
    pub segments: &'a [String],
    /// What bucketing hashes: `$opt_bucketing_id` when it is a string, else the user id.
    pub bucketing_id: &'a str,
    /// Whether a non-string `$opt_bucketing_id` was ignored.
    pub bucketing_id_ignored: bool,
}

static NO_FORCED_DECISIONS: ForcedDecisions = ForcedDecisions(Vec::new());

impl<'a> User<'a> {
    /// A user with attributes and no other state.
    #[inline]
    pub fn new(id: &'a str, attributes: &'a Attributes) -> Self {
        let (bucketing_id, bucketing_id_ignored) = attributes.bucketing_id(id);
        Self {
            id,
            attributes,
            forced_decisions: &NO_FORCED_DECISIONS,
            forced_variations: None,
            segments: &[],
            bucketing_id,
            bucketing_id_ignored,
        }
    }
}
