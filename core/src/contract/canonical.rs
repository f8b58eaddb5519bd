//! Canonical JSON (contract §8): sorted keys, no whitespace, UTF-8 unescaped, NFC strings,
//! integers only. The same value always yields the same bytes, on every machine and in both
//! repositories, so hashes over canonical JSON are comparable.

use serde_json::Value;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use super::error::ContractError;

/// The canonical bytes of `value`. Floats are rejected with the JSON pointer of the first one.
pub fn canonical_json(value: &Value) -> Result<Vec<u8>, ContractError> {
    let mut out = Vec::with_capacity(256);
    let mut path = String::new();
    write_value(value, &mut out, &mut path)?;
    Ok(out)
}

/// [`canonical_json`] as a `String` (canonical JSON is always valid UTF-8).
pub fn canonical_json_string(value: &Value) -> Result<String, ContractError> {
    let bytes = canonical_json(value)?;
    // Every byte written comes from `&str` data or ASCII punctuation.
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

fn write_value(value: &Value, out: &mut Vec<u8>, path: &mut String) -> Result<(), ContractError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => {
            if let Some(int) = number.as_i64() {
                out.extend_from_slice(int.to_string().as_bytes());
            } else if let Some(uint) = number.as_u64() {
                out.extend_from_slice(uint.to_string().as_bytes());
            } else {
                return Err(ContractError::FloatInCanonicalJson {
                    path: pointer_or_root(path),
                });
            }
        }
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                let len = path.len();
                path.push('/');
                path.push_str(&index.to_string());
                write_value(item, out, path)?;
                path.truncate(len);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(std::borrow::Cow<'_, str>, &Value)> =
                map.iter().map(|(key, item)| (nfc(key), item)).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            if let Some(pair) = entries.windows(2).find(|pair| pair[0].0 == pair[1].0) {
                return Err(ContractError::DuplicateKeyAfterNfc {
                    path: pointer_or_root(path),
                    key: pair[0].0.to_string(),
                });
            }
            out.push(b'{');
            for (index, (key, item)) in entries.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                let len = path.len();
                path.push('/');
                path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                write_value(item, out, path)?;
                path.truncate(len);
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// Writes `text` NFC-normalised as a JSON string: only `"`, `\` and control characters are
/// escaped (`\b \t \n \f \r` by name, others as lowercase `\u00xx`), everything else is raw UTF-8.
fn write_string(text: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for ch in nfc(text).chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{08}' => out.extend_from_slice(b"\\b"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\u{0c}' => out.extend_from_slice(b"\\f"),
            '\r' => out.extend_from_slice(b"\\r"),
            c if (c as u32) < 0x20 => {
                let code = c as u32 as usize;
                out.extend_from_slice(b"\\u00");
                out.push(HEX[code >> 4]);
                out.push(HEX[code & 0xf]);
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// `text` in NFC, borrowed when it already is (always for ASCII, the common case).
fn nfc(text: &str) -> std::borrow::Cow<'_, str> {
    if text.is_ascii() || is_nfc_quick(text.chars()) == IsNormalized::Yes {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(text.nfc().collect())
    }
}

fn pointer_or_root(path: &str) -> String {
    if path.is_empty() {
        "/".to_owned()
    } else {
        path.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[track_caller]
    fn check(input: Value, expected: &str) {
        assert_eq!(canonical_json_string(&input).as_deref(), Ok(expected));
    }

    #[test]
    fn fixed_vectors() {
        check(
            json!({"b": 1, "a": [true, null, "x"]}),
            r#"{"a":[true,null,"x"],"b":1}"#,
        );
        check(
            json!({"z": {"y": -3, "x": 18446744073709551615u64}}),
            r#"{"z":{"x":18446744073709551615,"y":-3}}"#,
        );
        check(
            json!("naïve ✓ \"q\" \\ \n\t\u{1}\u{7f}"),
            "\"naïve ✓ \\\"q\\\" \\\\ \\n\\t\\u0001\u{7f}\"",
        );
        // Keys sort by code point (UTF-8 byte order), so upper case precedes lower case.
        check(
            json!({"b": 0, "B": 0, "é": 0, "e": 0}),
            r#"{"B":0,"b":0,"e":0,"é":0}"#,
        );
        check(json!([]), "[]");
        check(json!({}), "{}");
    }

    #[test]
    fn strings_and_keys_are_nfc() {
        // "e" + combining acute accent becomes the precomposed "é".
        check(
            json!({"cafe\u{301}": "cafe\u{301}"}),
            "{\"caf\u{e9}\":\"caf\u{e9}\"}",
        );
        let collide = json!({"caf\u{e9}": 1, "cafe\u{301}": 2});
        let err = canonical_json(&collide).expect_err("keys collide");
        assert_eq!(err.code(), "canonical_json_duplicate_key");
    }

    #[test]
    fn floats_are_rejected_with_their_path() {
        let err = canonical_json(&json!({"a": [1, {"b~/c": 1.5}]})).expect_err("float");
        assert_eq!(
            err,
            ContractError::FloatInCanonicalJson {
                path: "/a/1/b~0~1c".into()
            }
        );
        let whole: Value = serde_json::from_str("1.0").expect("parses");
        assert_eq!(
            canonical_json(&whole).map_err(|e| e.code()),
            Err("canonical_json_float")
        );
    }

    #[test]
    fn agrees_with_serde_for_nfc_integer_documents() {
        // serde_json's compact writer with a sorted map is canonical whenever the strings are NFC.
        let value = json!({"k": ["a\u{0}b", "\u{1f600}", 7, {"n": null}], "a": "\u{2028}"});
        let expected = serde_json::to_string(&value).expect("serialises");
        check(value, &expected);
    }
}
