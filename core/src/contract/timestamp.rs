//! ISO-8601 UTC timestamps (`2026-02-20T19:40:01.123456Z`: microseconds, `Z`) and the
//! `ingest_run_id` format. Time is always passed in; nothing here reads the clock.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use super::error::ContractError;

/// Formats `at` in UTC with exactly six fractional digits and a `Z` suffix.
pub fn format_ts_utc(at: OffsetDateTime) -> String {
    let utc = at.to_offset(UtcOffset::UTC);
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    // Formatting a UTC datetime with this fixed description only fails for years beyond 9999.
    utc.format(&format)
        .unwrap_or_else(|_| format!("{:04}-01-01T00:00:00.000000Z", utc.year().clamp(0, 9999)))
}

/// Parses an RFC 3339 / ISO-8601 timestamp with an explicit offset (`Z` or `±hh:mm`), any number
/// of fractional digits, and returns it in UTC.
pub fn parse_ts_utc(value: &str) -> Result<OffsetDateTime, ContractError> {
    OffsetDateTime::parse(value, &Rfc3339)
        .map(|at| at.to_offset(UtcOffset::UTC))
        .map_err(|e| ContractError::TimestampInvalid {
            value: value.chars().take(64).collect(),
            reason: e.to_string(),
        })
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
