//! Window bounds as people write them.

use chrono::{DateTime, NaiveDate};

use crate::ResultsError;

/// Which end of a window a bound is: a bare date means its first millisecond as a
/// start and its last as an end, so `--from 2026-11-01 --to 2026-11-01` is that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The window's first millisecond.
    Start,
    /// The window's last millisecond.
    End,
}

/// Parses Unix epoch milliseconds, an RFC 3339 time (`2026-11-01T12:00:00Z`) or a UTC
/// date (`2026-11-01`).
pub fn parse_time(text: &str, bound: Bound) -> Result<i64, ResultsError> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let start = day.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis());
        if let Some(start) = start {
            return Ok(match bound {
                Bound::Start => start,
                Bound::End => start + 86_400_000 - 1,
            });
        }
    }
    Err(ResultsError::InvalidRequest(format!(
        "{text:?} is not a time: use a date (2026-11-01), an RFC 3339 time (2026-11-01T12:00:00Z) or Unix milliseconds"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_cover_the_whole_day() {
        assert_eq!(parse_time("2026-11-02", Bound::Start).unwrap(), 1_793_577_600_000);
        assert_eq!(parse_time("2026-11-02", Bound::End).unwrap(), 1_793_577_600_000 + 86_399_999);
        assert_eq!(parse_time("2026-11-02T01:00:00+01:00", Bound::Start).unwrap(), 1_793_577_600_000);
        assert_eq!(parse_time("17", Bound::End).unwrap(), 17);
        let err = parse_time("yesterday", Bound::Start).unwrap_err().to_string();
        assert!(err.contains("\"yesterday\""), "{err}");
    }
}
