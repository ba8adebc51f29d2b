//! Runtime forced variations (`set_forced_variation`): user id → experiment id →
//! variation id, shared by all calls of a client (bucketing.md §8).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

use rustc_hash::FxHashMap;
use vario_core::ForcedVariations;

#[derive(Debug, Default)]
pub(crate) struct ForcedVariationStore {
    map: RwLock<FxHashMap<String, ForcedVariations>>,
    // Lets the hot path skip the lock entirely while nothing was ever forced.
    used: AtomicBool,
}

/// A read view of the store during one decision.
pub(crate) struct ForcedView<'a>(Option<RwLockReadGuard<'a, FxHashMap<String, ForcedVariations>>>);

impl ForcedView<'_> {
    pub(crate) fn for_user(&self, user_id: &str) -> Option<&ForcedVariations> {
        self.0.as_ref()?.get(user_id).filter(|m| !m.is_empty())
    }
}

impl ForcedVariationStore {
    pub(crate) fn view(&self) -> ForcedView<'_> {
        if !self.used.load(Ordering::Acquire) {
            return ForcedView(None);
        }
        // A poisoned lock only means a panic elsewhere mid-write of a map of strings;
        // the data is still well-formed, so keep using it.
        ForcedView(Some(self.map.read().unwrap_or_else(|e| e.into_inner())))
    }

    pub(crate) fn set(&self, user_id: &str, experiment_id: &str, variation_id: &str) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        map.entry(user_id.to_owned()).or_default().insert(experiment_id.to_owned(), variation_id.to_owned());
        self.used.store(true, Ordering::Release);
    }

    pub(crate) fn clear(&self, user_id: &str, experiment_id: &str) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if let Some(user) = map.get_mut(user_id) {
            user.remove(experiment_id);
        }
    }

    pub(crate) fn get(&self, user_id: &str, experiment_id: &str) -> Option<String> {
        self.view().for_user(user_id)?.get(experiment_id).cloned()
    }
}
