//! Figures for people: a gate's measurement with its unit and a sensible rounding, read off the
//! key's suffix (`_ms`, `_s`, `_us`, `_ratio`, `_mib`, `_per_s`, `_bytes`) and the value's shape
//! (a 64-hex digest is shortened, with the full value kept for hovering).

use serde::Serialize;
use serde_json::Value;

/// One figure as shown: `key`, the `text` to print and, when `text` is shortened, the `full` value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    pub key: String,
    pub text: String,
    pub full: Option<String>,
}

/// `12345678` → `12,345,678`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A number with about three significant digits, integers with thousands separators.
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        let sign = if x < 0.0 { "-" } else { "" };
        return format!("{sign}{}", thousands(x.abs() as u64));
    }
    let magnitude = x.abs();
    if magnitude >= 1000.0 {
        let sign = if x < 0.0 { "-" } else { "" };
        format!("{sign}{}", thousands(magnitude.round() as u64))
    } else if magnitude >= 100.0 {
        format!("{x:.0}")
    } else if magnitude >= 10.0 {
        format!("{x:.1}")
    } else if magnitude >= 0.01 || magnitude == 0.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.1e}")
    }
}

/// A duration in milliseconds, in the unit that reads best: `0.19 ms`, `871 ms`, `44.1 s`,
/// `7 min 38 s`, `7.6 h`.
pub fn millis(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{} ms", number(ms))
    } else {
        seconds(ms / 1000.0)
    }
}

/// A duration in seconds: `44.1 s`, `7 min 38 s`, `7.6 h`.
pub fn seconds(s: f64) -> String {
    if s < 1.0 {
        return millis(s * 1000.0);
    }
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        let whole = s.round() as u64;
        format!("{} min {} s", whole / 60, whole % 60)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

fn is_digest(text: &str) -> bool {
    text.len() >= 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A digest shortened to its first 12 characters and an ellipsis.
pub fn short_digest(text: &str) -> String {
    format!("{}…", &text[..12.min(text.len())])
}

/// The figure `key` = `value` with its unit.
pub fn figure(key: &str, value: &Value) -> Figure {
    let plain = |text: String| Figure {
        key: key.to_owned(),
        text,
        full: None,
    };
    match value {
        Value::String(s) if is_digest(s) => Figure {
            key: key.to_owned(),
            text: short_digest(s),
            full: Some(s.clone()),
        },
        Value::String(s) => plain(s.clone()),
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or_default();
            let text = if key.ends_with("_ms") {
                millis(x)
            } else if key.ends_with("_us") {
                millis(x / 1000.0)
            } else if key.ends_with("_per_s") {
                format!("{}/s", number(x))
            } else if key.ends_with("_s") {
                seconds(x)
            } else if key.ends_with("_ratio") {
                format!("{x:.2}")
            } else if key.ends_with("_mib") {
                format!("{x:.1} MiB")
            } else if key.ends_with("_bytes") {
                bytes(x)
            } else {
                number(x)
            };
            plain(text)
        }
        other => plain(other.to_string()),
    }
}

/// A size in bytes: `512 B`, `10.6 MiB`.
pub fn bytes(x: f64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if x < 1024.0 {
        return format!("{x:.0} B");
    }
    let mut value = x / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shown(key: &str, value: Value) -> String {
        figure(key, &value).text
    }

    #[test]
    fn units_and_rounding() {
        assert_eq!(
            shown("deployment_headroom_ratio", json!(12451.931880607968)),
            "12451.93"
        );
        assert_eq!(shown("crash_ms", json!(109554)), "109.6 s");
        assert_eq!(shown("crash_ms", json!(458000)), "7 min 38 s");
        assert_eq!(shown("budget_ms", json!(44139)), "44.1 s");
        assert_eq!(shown("ingest_ms", json!(534)), "534 ms");
        assert_eq!(shown("query_p50_ms", json!(0.188369)), "0.19 ms");
        assert_eq!(shown("deployment_catchup_s", json!(27504.0)), "7.6 h");
        assert_eq!(shown("rows_per_s", json!(10284.0)), "10,284/s");
        assert_eq!(shown("peak_rss_mib", json!(41.43)), "41.4 MiB");
        assert_eq!(shown("media_bytes_compared", json!(11103215)), "11,103,215");
        assert_eq!(shown("bundle_bytes", json!(11103215)), "10.6 MiB");
        assert_eq!(shown("rows", json!(5493)), "5,493");
        assert_eq!(shown("planted_bugs_found", json!("4/4")), "4/4");
    }

    #[test]
    fn digests_are_shortened_with_the_full_value_kept() {
        let hash = "512043936a0e460e4bf7dd4385d02e338c737ed1da088ba18aed3295e6f2f697";
        let f = figure("sister_schema_hash", &json!(hash));
        assert_eq!(f.text, "512043936a0e…");
        assert_eq!(f.full.as_deref(), Some(hash));
        assert_eq!(figure("name", &json!("fixtures/sla")).full, None);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
