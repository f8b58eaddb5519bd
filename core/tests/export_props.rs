//! Properties of the export sanitiser on arbitrary text: it never panics, masking keeps the
//! byte length and every character outside a match, and a second pass changes nothing.

use autocapture_core::export::Rules;
use autocapture_core::export::sanitize::{Redactions, Sanitizer};
use proptest::prelude::*;

fn sanitizer() -> Sanitizer {
    Sanitizer::new(&Rules::default()).expect("default rules compile")
}

proptest! {
    #[test]
    fn masking_keeps_length_and_is_idempotent(text in "\\PC{0,200}") {
        let s = sanitizer();
        let once = s.redact_text(&text, &mut Redactions::new());
        prop_assert_eq!(once.len(), text.len());
        for (a, b) in text.chars().zip(once.chars()) {
            prop_assert!(a == b || b == '*', "{:?} became {:?}", a, b);
        }
        let mut counts = Redactions::new();
        let twice = s.redact_text(&once, &mut counts);
        prop_assert_eq!(&twice, &once);
        prop_assert!(counts.is_empty(), "{:?}", counts);
    }

    #[test]
    fn personal_data_in_any_context_is_masked(
        prefix in "[a-z ,;:()]{0,20}",
        suffix in "[a-z ,;:()]{0,20}",
        user in "[a-z][a-z0-9.]{0,10}[a-z0-9]",
        domain in "[a-z]{2,10}",
    ) {
        let email = format!("{user}@{domain}.example");
        let text = format!("{prefix} {email} {suffix}");
        let out = sanitizer().redact_text(&text, &mut Redactions::new());
        prop_assert!(!out.contains(&email), "{}", out);
        let card = format!("{prefix} 4111 1111 1111 1111 {suffix}");
        let out = sanitizer().redact_text(&card, &mut Redactions::new());
        prop_assert!(!out.contains("4111"), "{}", out);
    }

    #[test]
    fn sanitising_arbitrary_json_never_panics(text in "\\PC{0,300}") {
        let mut value = serde_json::json!({"title": text, "record_id": text, "nodes": [{"name": text}]});
        sanitizer().sanitize_value(&mut value, &mut Redactions::new());
        prop_assert_eq!(value["record_id"].as_str(), Some(text.as_str()));
    }
}
