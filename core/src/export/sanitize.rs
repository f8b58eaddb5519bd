//! The sanitiser: applies [`Rules`] to exported values. Reached only from the export path (the
//! `raw-first` gate proves it by module graph): nothing stored in the DataRoot is ever sanitised.
//!
//! - Text: every string value except protected ones (ids, hashes, timestamps, media refs, UIA
//!   structure keys) has matches of the enabled patterns masked with `*`, byte for byte, so
//!   offsets into doc text (citation spans, line numbers behind bboxes) stay valid.
//! - Process paths (`process_path`) become the executable name.
//! - Records whose window belongs to a dropped app are recognised by [`Sanitizer::dropped_app`].

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use serde_json::Value;

use super::rules::Rules;
use crate::contract::process_name;
use crate::handoff::is_media_key;

/// Counts of masked matches per pattern name (`email`, `phone`, … and custom names).
pub type Redactions = BTreeMap<String, u64>;

/// A pattern with an optional check of each candidate match.
struct Pattern {
    name: String,
    regex: Regex,
    accept: fn(&str) -> bool,
}

/// Rules compiled for use.
pub struct Sanitizer {
    patterns: Vec<Pattern>,
    reduce_process_paths: bool,
    drop_apps: BTreeSet<String>,
}

fn always(_: &str) -> bool {
    true
}

fn digits(text: &str) -> Vec<u32> {
    text.chars().filter_map(|c| c.to_digit(10)).collect()
}

/// The Luhn checksum of a card number's digits.
pub fn luhn_valid(text: &str) -> bool {
    let digits = digits(text);
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A phone number has 9 to 15 digits and is neither a dotted IPv4 address nor a date
/// (`2026-02-20 08` is a date and an hour).
fn phone_like(text: &str) -> bool {
    let n = digits(text).len();
    let dotted_quad =
        text.split('.').count() == 4 && text.split('.').all(|p| p.parse::<u8>().is_ok());
    let bytes = text.as_bytes();
    let iso_date = bytes.len() >= 10
        && bytes[..10].iter().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    (9..=15).contains(&n) && !dotted_quad && !iso_date
}

/// A US social security number whose area, group and serial are not the unassigned zeros,
/// 666, or 9xx.
fn ssn_like(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    match parts.as_slice() {
        [area, group, serial] => {
            *area != "000"
                && *area != "666"
                && !area.starts_with('9')
                && *group != "00"
                && *serial != "0000"
        }
        _ => false,
    }
}

fn builtin(name: &str, pattern: &str, accept: fn(&str) -> bool) -> Result<Pattern, String> {
    Ok(Pattern {
        name: name.to_owned(),
        regex: Regex::new(pattern).map_err(|e| format!("pattern {name}: {e}"))?,
        accept,
    })
}

/// Keys whose string values are never redacted: they identify records, link them, place them
/// in time or on screen, or name UIA structure, so citations still resolve in a bundle.
fn protected_key(key: &str) -> bool {
    key == "id"
        || key.ends_with("_id")
        || key.ends_with("_hash")
        || key.ends_with("_utc")
        || key.ends_with("sha256")
        || is_media_key(key)
        || matches!(
            key,
            "hwnd"
                | "eid"
                | "aid"
                | "class"
                | "role"
                | "record_type"
                | "kind"
                | "doc_kind"
                | "stage"
                | "source"
                | "span_kind"
                | "schema"
                | "uia_section"
                | "state"
                | "topic"
        )
}

impl Sanitizer {
    /// Compiles `rules`; an invalid custom pattern is an error naming it.
    pub fn new(rules: &Rules) -> Result<Sanitizer, String> {
        let mut patterns = Vec::new();
        // Order matters: card numbers and national ids are masked before the looser phone
        // pattern sees their digits.
        if rules.redact.email {
            patterns.push(builtin(
                "email",
                r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
                always,
            )?);
        }
        if rules.redact.payment_card {
            patterns.push(builtin(
                "payment_card",
                r"\b[0-9](?:[ -]?[0-9]){12,18}\b",
                luhn_valid,
            )?);
        }
        if rules.redact.national_id {
            patterns.push(builtin(
                "national_id",
                r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b",
                ssn_like,
            )?);
            // UK National Insurance numbers: two prefix letters, six digits, a suffix letter.
            patterns.push(builtin(
                "national_id",
                r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]\b",
                always,
            )?);
        }
        if rules.redact.phone {
            patterns.push(builtin(
                "phone",
                r"(?:\+[0-9]{1,3}[ .-]?)?(?:\([0-9]{1,4}\)[ .-]?)?\b[0-9]{2,5}(?:[ .-][0-9]{2,5}){1,4}\b|\b[0-9]{9,15}\b",
                phone_like,
            )?);
        }
        for custom in &rules.patterns {
            patterns.push(Pattern {
                name: custom.name.clone(),
                regex: Regex::new(&custom.regex)
                    .map_err(|e| format!("pattern {}: {e}", custom.name))?,
                accept: always,
            });
        }
        Ok(Sanitizer {
            patterns,
            reduce_process_paths: rules.reduce_process_paths,
            drop_apps: rules
                .drop_apps
                .iter()
                .map(|a| a.trim().to_lowercase())
                .collect(),
        })
    }

    /// `text` with every accepted match of every pattern masked by as many `*` as it has bytes.
    pub fn redact_text(&self, text: &str, counts: &mut Redactions) -> String {
        let mut out = text.to_owned();
        for pattern in &self.patterns {
            let mut spans = Vec::new();
            for found in pattern.regex.find_iter(&out) {
                if (pattern.accept)(found.as_str()) {
                    spans.push(found.range());
                }
            }
            for range in spans.iter().rev() {
                out.replace_range(range.clone(), &"*".repeat(range.len()));
            }
            if !spans.is_empty() {
                *counts.entry(pattern.name.clone()).or_default() += spans.len() as u64;
            }
        }
        out
    }

    /// Sanitises a JSON value in place: strings under unprotected keys are redacted,
    /// `process_path` values reduced to executable names. Array items inherit their key.
    pub fn sanitize_value(&self, value: &mut Value, counts: &mut Redactions) {
        self.walk(None, value, counts);
    }

    fn walk(&self, key: Option<&str>, value: &mut Value, counts: &mut Redactions) {
        match value {
            Value::Object(map) => {
                for (k, item) in map.iter_mut() {
                    self.walk(Some(k), item, counts);
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.walk(key, item, counts);
                }
            }
            Value::String(text) => {
                let key = key.unwrap_or_default();
                if key == "process_path" && self.reduce_process_paths {
                    *text = self.redact_text(process_name(text), counts);
                } else if !protected_key(key) {
                    *text = self.redact_text(text, counts);
                }
            }
            _ => {}
        }
    }

    /// The dropped app a record's window belongs to, if any: its `window.process_path`,
    /// `window_ref.window.process_path`, `process_path` or `process_name` names a listed
    /// executable (compared without case).
    pub fn dropped_app(&self, payload: &Value) -> Option<String> {
        let candidates = [
            payload.pointer("/window/process_path"),
            payload.pointer("/window_ref/window/process_path"),
            payload.get("process_path"),
            payload.get("process_name"),
            payload.pointer("/payload/window/process_path"),
        ];
        candidates
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|path| process_name(path).trim().to_lowercase())
            .find(|name| self.drop_apps.contains(name))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::export::rules::CustomPattern;

    /// Redacts `input` with the default rules; `expected` uses `*` runs where matches were.
    fn check(input: &str, expected: &str, kind: Option<&str>) {
        check_with(&Rules::default(), input, expected, kind);
    }

    /// Like [`check`], with the phone pattern off (a 9-digit id shape is also phone-like).
    fn check_no_phone(input: &str, expected: &str, kind: Option<&str>) {
        let mut rules = Rules::default();
        rules.redact.phone = false;
        check_with(&rules, input, expected, kind);
    }

    fn check_with(rules: &Rules, input: &str, expected: &str, kind: Option<&str>) {
        let sanitizer = Sanitizer::new(rules).expect("rules compile");
        let mut counts = Redactions::new();
        let got = sanitizer.redact_text(input, &mut counts);
        assert_eq!(got, expected, "{input}");
        assert_eq!(got.len(), input.len(), "masking keeps the byte length");
        match kind {
            Some(kind) => assert_eq!(counts.get(kind), Some(&1), "{input}: {counts:?}"),
            None => assert!(counts.is_empty(), "{input}: {counts:?}"),
        }
    }

    #[test]
    fn email() {
        check(
            "Inbox - dana@northwind.example - Mail",
            "Inbox - ********************** - Mail",
            Some("email"),
        );
        check(
            "Priya <p.raman+x@mail.co.uk>",
            "Priya <********************>",
            Some("email"),
        );
        // A shell prompt's user@host has no domain suffix.
        check("dana@build-01:~/repos$", "dana@build-01:~/repos$", None);
        check("reply @ 5pm", "reply @ 5pm", None);
    }

    #[test]
    fn phone() {
        check(
            "call +1 (555) 010-2233 now",
            "call ***************** now",
            Some("phone"),
        );
        check("tel 030 1234 5678", "tel *************", Some("phone"));
        check("mobile 07700900123", "mobile ***********", Some("phone"));
        // Dates, times, invoice numbers, IP addresses and short numbers are not phones.
        check(
            "due 2026-02-20 at 09:00:00",
            "due 2026-02-20 at 09:00:00",
            None,
        );
        check("Fri 2026-02-20 08:41", "Fri 2026-02-20 08:41", None);
        check(
            "INC-4821 and INV 2026-0113",
            "INC-4821 and INV 2026-0113",
            None,
        );
        check("host 192.168.100.201", "host 192.168.100.201", None);
        check("total 1,240.50", "total 1,240.50", None);
    }

    #[test]
    fn payment_card() {
        check(
            "card 4111 1111 1111 1111 ok",
            "card ******************* ok",
            Some("payment_card"),
        );
        check(
            "pan 5500-0000-0000-0004",
            "pan *******************",
            Some("payment_card"),
        );
        check("378282246310005", "***************", Some("payment_card"));
        // Fails the Luhn check: not a card (and too long for a phone).
        check("ref 4111 1111 1111 1112", "ref 4111 1111 1111 1112", None);
    }

    #[test]
    fn national_id() {
        check("SSN 123-45-6789.", "SSN ***********.", Some("national_id"));
        check("NI AB 12 34 56 C", "NI *************", Some("national_id"));
        check("NI AB123456D", "NI *********", Some("national_id"));
        // Unassigned SSN areas and a prefix that is never issued.
        check_no_phone("code 000-12-3456", "code 000-12-3456", None);
        check_no_phone("code 666-12-3456", "code 666-12-3456", None);
        check_no_phone("code 923-12-3456", "code 923-12-3456", None);
        check_no_phone("SSN 123-45-6789", "SSN ***********", Some("national_id"));
        check("part DQ123456A", "part DQ123456A", None);
        check("part AQ123456A", "part AQ123456A", None);
    }

    #[test]
    fn disabled_kinds_and_custom_patterns() {
        let mut rules = Rules::default();
        rules.redact.email = false;
        rules.patterns.push(CustomPattern {
            name: "ticket".into(),
            regex: r"INC-[0-9]+".into(),
        });
        let sanitizer = Sanitizer::new(&rules).expect("compile");
        let mut counts = Redactions::new();
        assert_eq!(
            sanitizer.redact_text("dana@northwind.example INC-4821", &mut counts),
            "dana@northwind.example ********"
        );
        assert_eq!(counts, Redactions::from([("ticket".to_owned(), 1)]));
        rules.patterns[0].regex = "(".into();
        let error = Sanitizer::new(&rules).err().expect("bad regex refused");
        assert!(error.starts_with("pattern ticket:"), "{error}");
    }

    #[test]
    fn values_keep_ids_times_and_bboxes() {
        let sanitizer = Sanitizer::new(&Rules::default()).expect("compile");
        let mut value = json!({
            "record_id": "run1/evidence.capture.frame/0",
            "ts_utc": "2026-02-20T09:00:00.000000Z",
            "content_hash": "0a37334c1bff018a7c35c6ae4f9b92513376d5d628e92f6c832e5c7491b1a9b5",
            "blob_path": "media/run1/a@b.example.blob",
            "bbox": [296, 96, 990, 136],
            "window": {"title": "Inbox - dana@northwind.example", "process_path": "C:\\Program Files\\Northwind\\Mail\\nwmail.exe", "hwnd": "0x1A2B"},
            "nodes": [{"name": "Call 555 010 2233", "eid": "0x1A2B.1.0"}],
            "bullets": ["mail to x@y.example"],
        });
        let mut counts = Redactions::new();
        sanitizer.sanitize_value(&mut value, &mut counts);
        assert_eq!(value["record_id"], "run1/evidence.capture.frame/0");
        assert_eq!(value["ts_utc"], "2026-02-20T09:00:00.000000Z");
        assert_eq!(value["blob_path"], "media/run1/a@b.example.blob");
        assert_eq!(value["bbox"], json!([296, 96, 990, 136]));
        assert_eq!(value["window"]["title"], "Inbox - **********************");
        assert_eq!(value["window"]["process_path"], "nwmail.exe");
        assert_eq!(value["window"]["hwnd"], "0x1A2B");
        assert_eq!(value["nodes"][0]["name"], "Call ************");
        assert_eq!(value["bullets"][0], "mail to ***********");
        assert_eq!(counts.get("email"), Some(&2));
        assert_eq!(counts.get("phone"), Some(&1));
    }

    #[test]
    fn process_paths_are_kept_when_the_rule_is_off() {
        let rules = Rules {
            reduce_process_paths: false,
            ..Rules::default()
        };
        let sanitizer = Sanitizer::new(&rules).expect("compile");
        let mut value = json!({"process_path": "C:\\Tools\\app.exe"});
        sanitizer.sanitize_value(&mut value, &mut Redactions::new());
        assert_eq!(value["process_path"], "C:\\Tools\\app.exe");
    }

    #[test]
    fn dropped_apps() {
        let sanitizer = Sanitizer::new(&Rules::default()).expect("compile");
        let keepass =
            json!({"window": {"process_path": "C:\\Program Files\\KeePass\\KeePass.exe"}});
        assert_eq!(
            sanitizer.dropped_app(&keepass).as_deref(),
            Some("keepass.exe")
        );
        let frame = json!({"window_ref": {"window": {"process_path": "D:/apps/Bitwarden.exe"}}});
        assert_eq!(
            sanitizer.dropped_app(&frame).as_deref(),
            Some("bitwarden.exe")
        );
        let mail =
            json!({"window": {"process_path": "C:\\Program Files\\Northwind\\Mail\\nwmail.exe"}});
        assert_eq!(sanitizer.dropped_app(&mail), None);
        // A title that mentions a password manager is not its window.
        let browser =
            json!({"window": {"title": "KeePass.exe download", "process_path": "firefox.exe"}});
        assert_eq!(sanitizer.dropped_app(&browser), None);
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("4012-8888-8888-1881"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid("411111111111"), "too short");
    }
}
