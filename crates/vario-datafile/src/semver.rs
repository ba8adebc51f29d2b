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

/// A condition's version, split once when the datafile loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetVersion {
    text: Box<str>,
    ranges: [(u32, u32); 4],
    len: usize,
    pre_release: bool,
    build: bool,
}

impl TargetVersion {
    /// Splits `text`, or `None` when it is not a valid version.
    pub fn parse(text: &str) -> Option<Self> {
        let v = Version::parse(text)?;
        let base = text.as_ptr() as usize;
        let mut ranges = [(0, 0); 4];
        for (range, part) in ranges.iter_mut().zip(v.parts()) {
            let start = (part.as_ptr() as usize - base) as u32;
            *range = (start, start + part.len() as u32);
        }
        Some(Self { text: text.into(), ranges, len: v.len, pre_release: v.pre_release, build: v.build })
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The split version, borrowing the stored text.
    pub fn version(&self) -> Version<'_> {
        let mut parts = [""; 4];
        for (part, &(start, end)) in parts.iter_mut().zip(&self.ranges[..self.len]) {
            *part = self.text.get(start as usize..end as usize).unwrap_or("");
        }
        Version { parts, len: self.len, pre_release: self.pre_release, build: self.build }
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
        let direct = compare(&Version::parse(target)?, &Version::parse(user)?);
        assert_eq!(compare(&stored.version(), &Version::parse(user)?), direct, "stored target {target:?}");
        direct
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
