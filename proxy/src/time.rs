//! Timestamps as the audit trail writes them, and the ages and times operators type.

use std::time::Duration;

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// Now, as `2026-11-23T20:19:40.123Z`.
pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

/// `at` in UTC with milliseconds, always the same width, so rows compare correctly as text.
pub fn rfc3339(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// Milliseconds since the Unix epoch, for leases and counters that are compared, not read.
pub fn now_ms() -> i64 {
    let now = OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Microseconds since the Unix epoch, for rate limits fine enough for thousands a minute.
pub fn now_us() -> i64 {
    let now = OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000) as i64
}

/// A duration in whole milliseconds, saturating.
pub fn millis(duration: Duration) -> i64 {
    duration.as_millis().try_into().unwrap_or(i64::MAX)
}

/// Reads `--since`: an RFC 3339 time (`2026-11-23T00:00:00Z`) or an age (`24h`, `30m`).
pub fn parse_since(value: &str) -> Result<OffsetDateTime, String> {
    if let Ok(at) = OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(at);
    }
    humantime::parse_duration(value)
        .map(|age| OffsetDateTime::now_utc() - age)
        .map_err(|_| {
            format!("{value:?} is neither an RFC 3339 time (2026-11-23T00:00:00Z) nor an age (24h)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_times_and_ages() {
        let at = parse_since("2026-11-23T00:00:00Z").unwrap();
        assert_eq!(at.year(), 2026);
        let age = parse_since("24h").unwrap();
        let expected = OffsetDateTime::now_utc() - Duration::from_secs(86_400);
        assert!((age - expected).abs() < time::Duration::seconds(5));
        assert!(parse_since("yesterday").unwrap_err().contains("neither"));
    }

    #[test]
    fn timestamps_are_fixed_width() {
        let at = OffsetDateTime::from_unix_timestamp(0).unwrap();
        assert_eq!(rfc3339(at), "1970-01-01T00:00:00.000Z");
        assert_eq!(now_rfc3339().len(), 24);
    }
}
