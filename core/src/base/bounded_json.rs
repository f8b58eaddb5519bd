//! Parses a payload as JSON with its UIA node lists bounded: the `focus_path`, `context_peers`
//! and `operables` arrays (at the top level, or inside a `payload` wrapper) keep at most
//! [`MAX_SECTION_ITEMS`] items; the rest are read and skipped without being kept. A snapshot with
//! a million nodes then costs the memory of its first items, not of all of them.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Items kept per UIA section: eight times the largest node limit (8192) a setting may ask for.
pub const MAX_SECTION_ITEMS: usize = 65_536;

/// The keys whose arrays are bounded.
pub const SECTION_KEYS: [&str; 3] = ["focus_path", "context_peers", "operables"];

/// `bytes` as JSON, sections bounded; an error when they are not JSON.
pub fn parse(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Bounded { depth: 0 }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// `bytes` as a JSON object, sections bounded; `None` when they are not one.
pub fn parse_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match parse(bytes) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// A value at `depth` (0: the payload, 1: inside its `payload` wrapper).
struct Bounded {
    depth: u8,
}

impl<'de> DeserializeSeed<'de> for Bounded {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value = if SECTION_KEYS.contains(&key.as_str()) {
                access.next_value_seed(Section)?
            } else if key == "payload" && self.depth == 0 {
                access.next_value_seed(Bounded { depth: 1 })?
            } else {
                access.next_value::<Value>()?
            };
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, access: A) -> Result<Value, A::Error> {
        Value::deserialize_seq_from(access)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// Reads a plain JSON array element by element.
trait SeqFrom {
    fn deserialize_seq_from<'de, A: SeqAccess<'de>>(access: A) -> Result<Value, A::Error>;
}

impl SeqFrom for Value {
    fn deserialize_seq_from<'de, A: SeqAccess<'de>>(mut access: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = access.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
}

/// A UIA section: its first [`MAX_SECTION_ITEMS`] items; any other value as it is.
struct Section;

impl<'de> DeserializeSeed<'de> for Section {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Section {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a UIA node list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while items.len() < MAX_SECTION_ITEMS {
            match access.next_element::<Value>()? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
        while access.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            map.insert(key, access.next_value::<Value>()?);
        }
        Ok(Value::Object(map))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_payloads_parse_as_serde_json_does() {
        for text in [
            r#"{"a": [1, 2.5, "x", null, true], "b": {"c": -3}}"#,
            r#"{"payload": {"operables": [{"eid": "1"}], "k": 1}}"#,
            r#"[1, 2]"#,
            r#""s""#,
        ] {
            assert_eq!(
                parse(text.as_bytes()).expect("parse"),
                serde_json::from_str::<Value>(text).expect("serde_json"),
                "{text}"
            );
        }
        assert!(parse(b"{\"a\": 1} trailing").is_err());
        assert!(parse(b"not json").is_err());
    }

    /// Regression: a million-node snapshot was parsed whole (about 1 GiB); its sections are bounded.
    #[test]
    fn regression_huge_uia_section_is_bounded() {
        let n = MAX_SECTION_ITEMS + 10;
        let items: Vec<String> = (0..n).map(|i| format!("{{\"eid\":\"{i}\"}}")).collect();
        let text = format!(
            "{{\"payload\": {{\"operables\": [{}], \"focus_path\": 7}}}}",
            items.join(",")
        );
        let value = parse(text.as_bytes()).expect("parse");
        let operables = value["payload"]["operables"].as_array().expect("array");
        assert_eq!(operables.len(), MAX_SECTION_ITEMS);
        assert_eq!(operables[0]["eid"], "0");
        assert_eq!(value["payload"]["focus_path"], 7);
    }
}
