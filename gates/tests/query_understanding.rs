//! How the engine understands a question, on a generated, ingested and indexed DataRoot: the
//! explanation `--explain` shows (times read, cues, the rule chosen and its runners-up, the apps
//! a name links to, a fall to search), and the search fallback that loosens a question nothing
//! matches whole without answering a question about something never on screen.

use autocapture_core::base::clock::SteppingClock;
use autocapture_core::query::{self, AnswerState, QueryHandle, QueryOptions};
use autocapture_core::store::DataRoot;
use autocapture_gates::corpus::build::{BUILD_TIME, index_while_idle};
use serde_json::Value;

fn indexed(dir: &std::path::Path) -> DataRoot {
    let (data, _) = autocapture_gates::corpus::build::ingested(dir, 6, 900, 3).expect("ingested");
    index_while_idle(&data, &SteppingClock::new(BUILD_TIME, time::Duration::ZERO))
        .expect("stage 2");
    data
}

fn explained(handle: &QueryHandle, question: &str) -> (query::Answer, Value) {
    let answer = query::answer(
        handle,
        question,
        &QueryOptions {
            explain: true,
            ..QueryOptions::default()
        },
    )
    .expect("answers");
    let explain = answer.explain.clone().expect("an explanation when asked");
    (answer, explain)
}

#[test]
fn the_explanation_names_times_rule_runners_up_and_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = indexed(dir.path());
    let handle = QueryHandle::open(&data).expect("open");

    let (answer, explain) = explained(&handle, "how long was I in the browser today");
    assert_eq!(answer.state, AnswerState::Ok, "{}", answer.summary);
    assert_eq!(explain["rule"], "focus_duration");
    assert_eq!(
        explain["linked"]["processes"],
        serde_json::json!(["firefox.exe"])
    );
    assert_eq!(explain["linked"]["links"][0]["how"], "kind of app");
    // The answer says what the name matched.
    assert!(
        answer.summary.contains("(firefox.exe)"),
        "{}",
        answer.summary
    );

    let (_, explain) = explained(
        &handle,
        "where was the cancel button on the save as dialog at 10:21am",
    );
    assert_eq!(explain["rule"], "bbox");
    assert_eq!(explain["times"], serde_json::json!(["10:21:00"]));
    let runners: Vec<&str> = explain["runners_up"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(runners.contains(&"focus_at"), "{explain}");
    assert_eq!(explain["fell_to_search"], false);

    // An unknown phrasing that falls to search says so, with its terms.
    let (_, explain) = explained(&handle, "Globex invoice amount");
    assert_eq!(explain["fell_to_search"], true);
    assert_eq!(explain["rule"], "search");
    assert!(
        explain["search"]["terms"]
            .as_str()
            .is_some_and(|t| t.contains("globex"))
    );

    // Without --explain the answer carries none (the popup's shape is unchanged).
    let plain = query::answer(
        &handle,
        "how long was I in the browser today",
        &QueryOptions::default(),
    )
    .expect("answers");
    assert!(plain.explain.is_none());
    assert!(plain.to_popup(0).get("explain").is_none());
}

#[test]
fn search_loosens_to_most_terms_but_never_answers_one_word_of_a_question() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = indexed(dir.path());
    let handle = QueryHandle::open(&data).expect("open");
    // Extra words nothing holds: the contents holding most of the words answer.
    let (answer, explain) = explained(&handle, "reconciled 318 invoices yesterday evening");
    assert_eq!(answer.state, AnswerState::Ok, "{}", answer.summary);
    assert_eq!(explain["search"]["matched"], "most terms");
    assert!(
        answer.summary.contains("reconciled 318 invoices"),
        "{}",
        answer.summary
    );
    // An identifier on screen answers even when the words around it are not.
    let (answer, explain) = explained(&handle, "frobnicated quux about INV-20931");
    assert_eq!(answer.state, AnswerState::Ok, "{}", answer.summary);
    assert_eq!(explain["search"]["matched"], "the quoted text");
    // One word of three on screen ("Marco") is no answer about what was never there.
    for question in [
        "What did Marco say about the Kubernetes migration?",
        "marco kubernetes migration",
    ] {
        let answer = query::answer(&handle, question, &QueryOptions::default()).expect("answers");
        assert_eq!(
            answer.state,
            AnswerState::NoEvidence,
            "{question}: {}",
            answer.summary
        );
        assert!(answer.citations.is_empty());
    }
}
