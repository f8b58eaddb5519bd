//! ISO-8601 UTC timestamps (`2026-02-20T19:40:01.123456Z`: microseconds, `Z`) and the
//! `ingest_run_id` format. Time is always passed in; nothing here reads the clock.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use super::error::ContractError;

/// Formats `at` in UTC with exactly six fractional digits and a `Z` suffix.
pub fn format_ts_utc(at: OffsetDateTime) -> String {
    // An instant whose UTC date falls outside year 1..=9999 has no such form; it is clamped
    // the same way as the formatting error below.
    let Some(utc) = at.checked_to_offset(UtcOffset::UTC) else {
        let year = if at.year() > 0 { 9999 } else { 0 };
        return format!("{year:04}-01-01T00:00:00.000000Z");
    };
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    // Formatting a UTC datetime with this fixed description only fails for years beyond 9999.
    utc.format(&format)
        .unwrap_or_else(|_| format!("{:04}-01-01T00:00:00.000000Z", utc.year().clamp(0, 9999)))
}

/// Parses an RFC 3339 / ISO-8601 timestamp with an explicit offset (`Z` or `±hh:mm`), any number
/// of fractional digits, and returns it in UTC.
pub fn parse_ts_utc(value: &str) -> Result<OffsetDateTime, ContractError> {
    let invalid = |reason: String| ContractError::TimestampInvalid {
        value: value.chars().take(64).collect(),
        reason,
    };
    let at = OffsetDateTime::parse(value, &Rfc3339).map_err(|e| invalid(e.to_string()))?;
    // `9999-12-31T23:00:00-01:00` is valid RFC 3339 but lies past the last representable UTC
    // date: refused, never converted with the panicking `to_offset`.
    at.checked_to_offset(UtcOffset::UTC)
        .ok_or_else(|| invalid("the instant lies past 9999-12-31 in UTC".into()))
}

/// `ingest_` + the start time formatted by [`format_ts_utc`] with `:`, `-` and `.` removed,
/// e.g. `ingest_20260220T194001123456Z`.
pub fn ingest_run_id(started_at: OffsetDateTime) -> String {
    let compact: String = format_ts_utc(started_at)
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    format!("ingest_{compact}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn fixed_vectors() {
        let at = datetime!(2026-02-20 19:40:01.123456789 UTC);
        assert_eq!(format_ts_utc(at), "2026-02-20T19:40:01.123456Z");
        assert_eq!(ingest_run_id(at), "ingest_20260220T194001123456Z");
        let whole = datetime!(2026-02-20 19:40:01 UTC);
        assert_eq!(format_ts_utc(whole), "2026-02-20T19:40:01.000000Z");
        // Offsets are converted to UTC.
        let east = datetime!(2026-02-21 01:10:01.5 +05:30);
        assert_eq!(format_ts_utc(east), "2026-02-20T19:40:01.500000Z");
    }

    #[test]
    fn parse_accepts_offsets_and_fractions() {
        for (input, expected) in [
            ("2026-02-20T19:40:01Z", "2026-02-20T19:40:01.000000Z"),
            ("2026-02-20T19:40:01.1Z", "2026-02-20T19:40:01.100000Z"),
            ("2026-02-20T19:40:01.123456Z", "2026-02-20T19:40:01.123456Z"),
            (
                "2026-02-20T20:40:01.123456+01:00",
                "2026-02-20T19:40:01.123456Z",
            ),
        ] {
            let parsed = parse_ts_utc(input).expect(input);
            assert_eq!(format_ts_utc(parsed), expected);
        }
    }

    // Regression: an offset that moves the instant past 9999-12-31 in UTC panicked in `to_offset` (found by the payload and activity-signal property runs).
    #[test]
    fn regression_timestamp_offset_out_of_utc_range() {
        for edge in ["9999-12-31T23:59:59-23:59", "9999-12-31T23:00:00-01:00"] {
            let error = parse_ts_utc(edge).expect_err(edge);
            assert_eq!(error.code(), "timestamp_invalid", "{edge}");
        }
        let last = parse_ts_utc("9999-12-31T23:59:59+00:00").expect("last UTC second");
        assert_eq!(format_ts_utc(last), "9999-12-31T23:59:59.000000Z");
        // The other end stays representable (the library's years reach -9999).
        assert!(parse_ts_utc("0000-01-01T00:00:00+23:59").is_ok());
        let beyond = time::macros::datetime!(9999-12-31 23:00 -01:00);
        assert_eq!(format_ts_utc(beyond), "9999-01-01T00:00:00.000000Z");
    }

    #[test]
    fn parse_rejects_naive_and_garbage() {
        for bad in [
            "2026-02-20T19:40:01",
            "2026-02-20",
            "yesterday",
            "",
            "2026-13-20T19:40:01Z",
        ] {
            let err = parse_ts_utc(bad).expect_err(bad);
            assert_eq!(err.code(), "timestamp_invalid");
        }
    }
}
