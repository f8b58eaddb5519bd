//! Property tests of the contract recipes: rid round-trips, derived ids are stable, and canonical
//! JSON is a fixed point that never panics on arbitrary input.

use autocapture_core::contract::{
    canonical_json, derived_id, rid, rid_decode, run_of, sha256_canonical,
};
use proptest::prelude::*;
use serde_json::Value;

/// Arbitrary JSON values with integers, unicode strings (including combining marks), nesting.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        "[a-zA-Z0-9 \\\\\"\\u{0}-\\u{1f}\\u{e9}\\u{301}\\u{1F600}]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z\\u{e9}\\u{301}]{0,6}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn rid_round_trips_any_string(source in any::<String>()) {
        let component = rid(&source);
        prop_assert!(component.starts_with("rid_"));
        prop_assert!(component[4..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        prop_assert_eq!(rid_decode(&component), Ok(source));
    }

    #[test]
    fn derived_ids_are_stable_and_keep_the_run(source in "[a-z0-9]{1,8}(/[a-z.]{1,12}/[0-9]{1,4})?", kind in "[a-z.]{1,20}") {
        let id = derived_id(&source, &kind);
        prop_assert_eq!(&id, &derived_id(&source, &kind));
        prop_assert_eq!(run_of(&id), run_of(&source));
        prop_assert!(id.ends_with(&rid(&source)));
    }

    #[test]
    fn canonical_json_is_a_fixed_point(value in json_value()) {
        match canonical_json(&value) {
            Ok(bytes) => {
                let reparsed: Value = serde_json::from_slice(&bytes).expect("canonical bytes parse");
                prop_assert_eq!(canonical_json(&reparsed).expect("still canonical"), bytes.clone());
                // No whitespace between tokens, and control characters are always escaped.
                prop_assert!(!bytes.iter().any(|&b| b == b'\n' || b == b'\r' || b == b'\t'));
                prop_assert_eq!(sha256_canonical(&value).expect("hashes"), sha256_canonical(&reparsed).expect("hashes"));
            }
            // Only NFC key collisions can fail here (the strategy makes no floats).
            Err(e) => prop_assert_eq!(e.code(), "canonical_json_duplicate_key"),
        }
    }

    #[test]
    fn canonical_json_never_panics_on_arbitrary_text(text in any::<String>()) {
        if let Ok(value) = serde_json::from_str::<Value>(&text) {
            let _ = canonical_json(&value);
        }
    }
}
