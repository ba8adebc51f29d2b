//! User profile service: sticky bucketing across calls and processes (bucketing.md §9).

use std::collections::HashMap;
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

/// Profiles in process memory.
#[derive(Debug, Default)]
pub struct InMemoryUserProfileService {
    profiles: Mutex<HashMap<String, UserProfile>>,
}

impl InMemoryUserProfileService {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl UserProfileService for InMemoryUserProfileService {
    fn lookup(&self, user_id: &str) -> Result<Option<UserProfile>, ProfileServiceError> {
        let profiles = self.profiles.lock().map_err(|_| "profile store lock poisoned")?;
        Ok(profiles.get(user_id).cloned())
    }

    fn save(&self, profile: &UserProfile) -> Result<(), ProfileServiceError> {
        let mut profiles = self.profiles.lock().map_err(|_| "profile store lock poisoned")?;
        profiles.insert(profile.user_id.clone(), profile.clone());
        Ok(())
    }
}
