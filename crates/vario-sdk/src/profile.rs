//! User profile service: sticky bucketing across calls and processes (bucketing.md §9).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// A stored profile: the variation each experiment gave the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserProfile {
    /// The user.
    pub user_id: String,
    /// Experiment id → variation id.
    pub experiment_bucket_map: HashMap<String, String>,
}

/// The error a profile service reports; the SDK logs it and carries on without profile.
pub type ProfileServiceError = Box<dyn std::error::Error + Send + Sync>;

/// Where profiles live (a database, a cache...). Called once per API call to look up,
/// and at most once per call to save. Failures never change a decision: a failed lookup
/// reads as an empty profile, a failed save is logged.
pub trait UserProfileService: Send + Sync {
    /// The user's profile, if stored.
    fn lookup(&self, user_id: &str) -> Result<Option<UserProfile>, ProfileServiceError>;
    /// Stores the whole profile (entries of other experiments included).
    fn save(&self, profile: &UserProfile) -> Result<(), ProfileServiceError>;
}

/// A shared service is a service (so that its owner can also read and write profiles
/// directly, as Agent's `/v1/lookup` and `/v1/save` do).
impl<T: UserProfileService + ?Sized> UserProfileService for std::sync::Arc<T> {
    fn lookup(&self, user_id: &str) -> Result<Option<UserProfile>, ProfileServiceError> {
        (**self).lookup(user_id)
    }

    fn save(&self, profile: &UserProfile) -> Result<(), ProfileServiceError> {
        (**self).save(profile)
    }
}

/// Profiles in process memory, at most `capacity` users: past it, the user stored
/// first is forgotten first (a forgotten user is bucketed again, as a new one).
#[derive(Debug)]
pub struct InMemoryUserProfileService {
    capacity: usize,
    profiles: Mutex<Profiles>,
}

#[derive(Debug, Default)]
struct Profiles {
    by_user: HashMap<String, UserProfile>,
    // Users in the order first stored, oldest in front.
    order: VecDeque<String>,
}

impl Default for InMemoryUserProfileService {
    fn default() -> Self {
        Self::with_capacity(usize::MAX)
    }
}

impl InMemoryUserProfileService {
    /// An empty store without a bound.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store that keeps at most `capacity` users.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { capacity, profiles: Mutex::default() }
    }

    /// How many users are stored.
    pub fn len(&self) -> usize {
        self.profiles.lock().unwrap_or_else(std::sync::PoisonError::into_inner).by_user.len()
    }

    /// No user is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl UserProfileService for InMemoryUserProfileService {
    fn lookup(&self, user_id: &str) -> Result<Option<UserProfile>, ProfileServiceError> {
        let profiles = self.profiles.lock().map_err(|_| "profile store lock poisoned")?;
        Ok(profiles.by_user.get(user_id).cloned())
    }

    fn save(&self, profile: &UserProfile) -> Result<(), ProfileServiceError> {
        if self.capacity == 0 {
            return Ok(());
        }
        let mut profiles = self.profiles.lock().map_err(|_| "profile store lock poisoned")?;
        let Profiles { by_user, order } = &mut *profiles;
        if by_user.insert(profile.user_id.clone(), profile.clone()).is_none() {
            order.push_back(profile.user_id.clone());
            while by_user.len() > self.capacity {
                let Some(oldest) = order.pop_front() else { break };
                by_user.remove(&oldest);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(user: &str, variation: &str) -> UserProfile {
        UserProfile { user_id: user.into(), experiment_bucket_map: HashMap::from([("e1".into(), variation.into())]) }
    }

    #[test]
    fn a_full_store_forgets_the_user_stored_first_and_updates_keep_their_place() {
        let store = InMemoryUserProfileService::with_capacity(2);
        store.save(&profile("a", "v1")).unwrap();
        store.save(&profile("b", "v1")).unwrap();
        store.save(&profile("a", "v2")).unwrap();
        assert_eq!(store.len(), 2);
        store.save(&profile("c", "v1")).unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(store.lookup("a").unwrap(), None, "a was stored first");
        assert_eq!(store.lookup("b").unwrap(), Some(profile("b", "v1")));
        assert_eq!(store.lookup("c").unwrap(), Some(profile("c", "v1")));
    }

    #[test]
    fn a_store_of_capacity_zero_keeps_nothing() {
        let store = InMemoryUserProfileService::with_capacity(0);
        store.save(&profile("a", "v1")).unwrap();
        assert!(store.is_empty());
        assert_eq!(store.lookup("a").unwrap(), None);
    }
}
