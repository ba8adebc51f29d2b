//! Decide options (decisions.md §6.3).

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// A set of decide options. Combine with `|`; options passed to a call are added to the
/// client's defaults.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DecideOptions(u8);

impl DecideOptions {
    /// No options.
    pub const NONE: Self = Self(0);
    /// Send no impression for this call.
    pub const DISABLE_DECISION_EVENT: Self = Self(1);
    /// `decide_for_keys`/`decide_all`: leave out decisions whose flag is off.
    pub const ENABLED_FLAGS_ONLY: Self = Self(1 << 1);
    /// Neither read nor write the user profile service.
    pub const IGNORE_USER_PROFILE_SERVICE: Self = Self(1 << 2);
    /// Fill the decision's reasons.
    pub const INCLUDE_REASONS: Self = Self(1 << 3);
    /// Leave the decision's variables empty.
    pub const EXCLUDE_VARIABLES: Self = Self(1 << 4);

    const NAMES: [(&'static str, Self); 5] = [
        ("DISABLE_DECISION_EVENT", Self::DISABLE_DECISION_EVENT),
        ("ENABLED_FLAGS_ONLY", Self::ENABLED_FLAGS_ONLY),
        ("IGNORE_USER_PROFILE_SERVICE", Self::IGNORE_USER_PROFILE_SERVICE),
        ("INCLUDE_REASONS", Self::INCLUDE_REASONS),
        ("EXCLUDE_VARIABLES", Self::EXCLUDE_VARIABLES),
    ];

    /// Whether every option of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The option with this exact (upper-case) name, as the other SDKs spell it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMES.iter().find(|(n, _)| *n == name).map(|(_, o)| *o)
    }
}

impl BitOr for DecideOptions {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign for DecideOptions {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for DecideOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = Self::NAMES.iter().filter(|(_, o)| self.contains(*o)).map(|(n, _)| *n).collect();
        write!(f, "DecideOptions({})", names.join(" | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for (name, option) in DecideOptions::NAMES {
            assert_eq!(DecideOptions::from_name(name), Some(option));
        }
        assert_eq!(DecideOptions::from_name("include_reasons"), None);
        let both = DecideOptions::INCLUDE_REASONS | DecideOptions::EXCLUDE_VARIABLES;
        assert!(both.contains(DecideOptions::INCLUDE_REASONS));
        assert!(!both.contains(DecideOptions::ENABLED_FLAGS_ONLY));
        assert_eq!(format!("{both:?}"), "DecideOptions(INCLUDE_REASONS | EXCLUDE_VARIABLES)");
    }
}
