//! The reference SDKs' version comparison for `semver_*` matches (audiences.md §6).
//!
//! This is not SemVer 2.0: the pre-release or build suffix is compared as one opaque
//! string, a shorter target matches any version with that prefix, and a build suffix
//! on the target sorts it *above* the plain version. Parsing borrows; nothing allocates.

use std::cmp::Ordering;

/// A version split into at most three numeric parts and an optional opaque suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version<'a> {
    parts: [&'a str; 4],
    len: usize,
    pre_release: bool,
    build: bool,
}

impl<'a> Version<'a> {
    /// Splits `v`, or `None` when it is not a version the reference SDK accepts
    /// (a space, more than two dots before the suffix, empty or non-digit numeric parts).
    pub fn parse(v: &'a str) -> Option<Self> {
        // One pass over the bytes: the decision hot path parses every user version.
        let bytes = v.as_bytes();
        let (mut dash, mut plus) = (None, None);
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b' ' => return None,
                b'-' if dash.is_none() => dash = Some(i),
                b'+' if plus.is_none() => plus = Some(i),
                _ => {}
            }
        }
        let pre_release = matches!((dash, plus), (Some(d), p) if p.is_none_or(|p| d < p));
        let build = matches!((dash, plus), (d, Some(p)) if d.is_none_or(|d| p < d));
        let split_at = if pre_release {
            dash
        } else if build {
            plus
        } else {
            None
        };
        let (prefix, suffix) = match split_at {
            Some(i) => (&v[..i], &v[i + 1..]),
            None => (v, ""),
        };
        let mut parts = [""; 4];
        let mut len = 0;
        let mut start = 0;
        let prefix_bytes = prefix.as_bytes();
        for i in 0..=prefix_bytes.len() {
            if i < prefix_bytes.len() && prefix_bytes[i] != b'.' {
                if !prefix_bytes[i].is_ascii_digit() {
                    return None;
                }
                continue;
            }
            // A part ends here: it must be non-empty, and there are at most three.
            if i == start || len == 3 {
                return None;
            }
            parts[len] = &prefix[start..i];
            len += 1;
            start = i + 1;
        }
        // The suffix is a part even when empty: `1.0.0-` sorts above `1.0.0`.
        if split_at.is_some() {
            parts[len] = suffix;
            len += 1;
        }
        Some(Self { parts, len, pre_release, build })
    }

    fn parts(&self) -> &[&'a str] {
        &self.parts[..self.len]
    }
}

/// A condition's version, checked once when the datafile loads, with its numeric parts
/// as numbers for the usual comparison. Small (it sits in every semver condition, and
/// conditions are scanned on every decision).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetVersion {
    text: Box<str>,
    /// Values of the parts made of digits (bit `i` of `digits` set), in order.
    parts: [u64; 4],
    digits: u8,
    len: u8,
    pre_release: bool,
    build: bool,
    /// Whether every digit part fits `parts`; if not, only the general comparison runs.
    fits: bool,
}

/// Significant digits that always fit a `u64` (10^19 - 1 < 2^64).
const MAX_DIGITS: usize = 19;

/// A digit string's value, leading zeros ignored; `None` when it has more than
/// [`MAX_DIGITS`] significant digits.
fn digits_value(s: &str) -> Option<u64> {
    let s = s.trim_start_matches('0');
    if s.len() > MAX_DIGITS {
        return None;
    }
    Some(s.bytes().fold(0, |n, b| n * 10 + u64::from(b - b'0')))
}

/// A user version made only of digits and dots, as at most three numbers; `None` for
/// anything else (a suffix, an invalid version, a part too long for a `u64`), which the
/// general parser then handles.
#[inline]
fn numeric_user(v: &str) -> Option<([u64; 3], usize)> {
    let mut parts = [0u64; 3];
    let mut len = 0;
    let (mut value, mut significant, mut empty) = (0u64, 0usize, true);
    for &b in v.as_bytes() {
        match b {
            b'0'..=b'9' => {
                let d = u64::from(b - b'0');
                if value != 0 || d != 0 {
                    significant += 1;
                    if significant > MAX_DIGITS {
                        return None;
                    }
                }
                value = value * 10 + d;
                empty = false;
            }
            b'.' if !empty && len < 2 => {
                parts[len] = value;
                len += 1;
                (value, significant, empty) = (0, 0, true);
            }
            _ => return None,
        }
    }
    if empty {
        return None;
    }
    parts[len] = value;
    Some((parts, len + 1))
}

impl TargetVersion {
    /// Splits `text`, or `None` when it is not a valid version.
    pub fn parse(text: &str) -> Option<Self> {
        let v = Version::parse(text)?;
        let (mut parts, mut digits, mut fits) = ([0; 4], 0, true);
        for (i, part) in v.parts().iter().enumerate() {
            if is_digits(part) {
                match digits_value(part) {
                    Some(n) => (parts[i], digits) = (n, digits | 1 << i),
                    None => fits = false,
                }
            }
        }
        Some(Self {
            text: text.into(),
            parts,
            digits,
            len: v.len as u8,
            pre_release: v.pre_release,
            build: v.build,
            fits,
        })
    }

    /// [`compare`] of this target with the user's version `user`, parsed on the way;
    /// `None` when `user` is not a valid version or the comparison fails.
    #[inline]
    pub fn compare_with(&self, user: &str) -> Option<i8> {
        // The hot path: a plain numeric user version compares as numbers, with the
        // results `compare` gives for a user version without a suffix.
        if self.fits
            && let Some((user_parts, user_len)) = numeric_user(user)
        {
            for (i, target) in self.parts.iter().enumerate().take(usize::from(self.len)) {
                let Some(user_part) = user_parts.get(i).filter(|_| i < user_len) else {
                    return Some(if self.pre_release || self.build { 1 } else { -1 });
                };
                if self.digits & 1 << i == 0 {
                    return None;
                }
                match user_part.cmp(target) {
                    Ordering::Greater => return Some(1),
                    Ordering::Less => return Some(-1),
                    Ordering::Equal => {}
                }
            }
            return Some(0);
        }
        self.compare_general(user)
    }

    /// [`Self::compare_with`] for versions outside the numeric fast path; kept out of line
    /// so that the callers on the decision path stay small.
    #[inline(never)]
    fn compare_general(&self, user: &str) -> Option<i8> {
        compare(&self.version(), &Version::parse(user)?)
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The split version, borrowing the stored text (split again on each call: only
    /// versions outside the numeric fast path need it).
    pub fn version(&self) -> Version<'_> {
        // The text parsed when the target was made, so this never falls back.
        Version::parse(&self.text).unwrap_or(Version { parts: [""; 4], len: 0, pre_release: false, build: false })
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Compares two digit strings as unbounded integers.
fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// `compare(target, user)` as the reference SDK computes it: the sign of
/// `user - target` (so `semver_ge` holds for `>= 0`), or `None` when a numeric user part
/// meets a non-numeric target part (the reference SDK raises there).
pub fn compare(target: &Version<'_>, user: &Version<'_>) -> Option<i8> {
    let (t_parts, u_parts) = (target.parts(), user.parts());
    for (i, t) in t_parts.iter().enumerate() {
        let Some(u) = u_parts.get(i) else {
            return Some(if target.pre_release || target.build { 1 } else { -1 });
        };
        if is_digits(u) {
            if !is_digits(t) {
                return None;
            }
            match cmp_digits(u, t) {
                Ordering::Greater => return Some(1),
                Ordering::Less => return Some(-1),
                Ordering::Equal => {}
            }
        } else if u < t {
            return Some(if target.pre_release && !user.pre_release { 1 } else { -1 });
        } else if u > t {
            return Some(if !target.pre_release && user.pre_release { -1 } else { 1 });
        }
    }
    Some(if user.pre_release && !target.pre_release { -1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(target: &str, user: &str) -> Option<i8> {
        let stored = TargetVersion::parse(target)?;
        let direct = Version::parse(user).and_then(|u| compare(&Version::parse(target)?, &u));
        assert_eq!(stored.compare_with(user), direct, "compare_with, target {target:?}, user {user:?}");
        assert_eq!(compare(&stored.version(), &Version::parse(user)?), direct, "stored target {target:?}");
        direct
    }

    #[test]
    fn numeric_fast_path_agrees_with_the_general_comparison() {
        let versions = [
            "0",
            "1",
            "2",
            "10",
            "01",
            "001",
            "1.0",
            "1.2",
            "1.10",
            "2.0",
            "2.0.0",
            "2.0.1",
            "1.2.3",
            "01.2.3",
            "1.2.3.4",
            "1..2",
            ".1",
            "1.",
            "",
            " ",
            "1 .2",
            "2.0.0-beta",
            "2.0.0+b",
            "1.2.3-4",
            "1.0.0-",
            "3.7.1+",
            "a.b",
            "v1",
            "18446744073709551615",
            "18446744073709551616",
            "9999999999999999999",
            "10000000000000000000",
            "0000000000000000000000000001",
            "1.99999999999999999999999",
            "1.100000000000000000000000",
            "2.-1",
            "2.+1",
        ];
        for target in versions {
            for user in versions {
                let Some(stored) = TargetVersion::parse(target) else { continue };
                let want = Version::parse(user).and_then(|u| compare(&stored.version(), &u));
                assert_eq!(stored.compare_with(user), want, "target {target:?}, user {user:?}");
            }
        }
    }

    #[test]
    fn observed_results_from_the_spec() {
        let table: &[(&str, &str, Option<i8>)] = &[
            ("2.0.0", "2.0.0", Some(0)),
            ("2.0", "2.0.1", Some(0)),
            ("2.0", "2.1", Some(1)),
            ("2", "2.9.9", Some(0)),
            ("2.0.0", "2.0", Some(-1)),
            ("2.0.0", "2", Some(-1)),
            ("1.2.3", "1.2.4", Some(1)),
            ("1.2.3", "1.10.0", Some(1)),
            ("1.2.3", "01.2.3", Some(0)),
            ("2.0.0", "2.0.0-beta", Some(-1)),
            ("2.0.0-beta", "2.0.0", Some(1)),
            ("2.0.0-beta", "2.0.0-beta", Some(0)),
            ("2.0.0-beta", "2.0.0-alpha", Some(-1)),
            ("2.0.0-beta.2", "2.0.0-beta.10", Some(-1)),
            ("2.0.0-beta", "2.0.0-beta.1", Some(1)),
            ("2.0.0+build1", "2.0.0", Some(1)),
            ("2.0.0", "2.0.0+build1", Some(0)),
            ("2.0.0+b1", "2.0.0+b2", Some(1)),
            ("2.0.0-beta+b1", "2.0.0-beta+b2", Some(1)),
            ("2.0.0-rc.1", "2.0.0-rc.1+build", Some(1)),
            ("2.0", "2.0.0-beta", Some(-1)),
            ("3.7.1", "3.7.1-", Some(-1)),
            ("3.7.1", "3.7.1+", Some(0)),
            ("1.0.0-", "1.0.0", Some(1)),
            ("1.2.3", "1.2.3-beta-2", Some(-1)),
            ("1.2.3", "1.2.3+build-2", Some(0)),
            ("1.2.3-beta", "1.2.3-4", None),
            ("", "2.0.0", None),
        ];
        for &(t, u, want) in table {
            assert_eq!(cmp(t, u), want, "compare({t:?}, {u:?})");
        }
    }

    proptest::proptest! {
        #[test]
        fn compare_with_agrees_with_compare(target in "[0-9.+a-]{0,8}|[0-9]{15,24}(\\.[0-9]{1,22}){0,2}(-[0-9a]{0,3})?", user in "[0-9.+ a-]{0,10}|[0-9]{15,24}(\\.[0-9]{1,22}){0,3}") {
            if let Some(stored) = TargetVersion::parse(&target) {
                let want = Version::parse(&user).and_then(|u| compare(&stored.version(), &u));
                proptest::prop_assert_eq!(stored.compare_with(&user), want);
            }
        }
    }

    #[test]
    fn invalid_versions() {
        for v in ["2.0.0.0", "a.b.c", "", "v2.0.0", "2..0", "2.0.", "-1.0.0", "2.0.0 ", "1.", ".1"] {
            assert_eq!(cmp("2.0.0", v), None, "{v:?} must be invalid");
        }
    }

    #[test]
    fn huge_numeric_parts_compare_without_overflow() {
        assert_eq!(cmp("1.99999999999999999999999", "1.100000000000000000000000"), Some(1));
        assert_eq!(cmp("0001.2", "1.2"), Some(0));
    }
}
