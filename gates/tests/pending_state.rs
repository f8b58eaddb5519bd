//! An honest pending state: while captured frames that could hold the answer are not in the
//! search index yet, a question that finds nothing answers `not_available_yet` with the pending
//! count, never `no_evidence`. Two ways to get there, both on real files: a handoff ingested
//! late whose frames are older than everything Stage 2 has indexed, and questions asked while
//! the first Stage-2 run is still going. Once Stage 2 has run, the same questions answer `ok`.

use std::path::{Path, PathBuf};

use autocapture_core::base::clock::SteppingClock;
use autocapture_core::query::{self, AnswerState, QueryHandle, QueryOptions};
use autocapture_core::stage1::ingest::{IngestOptions, ingest_handoff};
use autocapture_core::store::DataRoot;
use autocapture_gates::corpus::build::{self, BUILD_TIME, index_while_idle};
use serde_json::Value;

const FRAMES: u64 = 1200;

fn ask(data: &DataRoot, question: &str) -> query::Answer {
    let handle = QueryHandle::open(data).expect("open");
    query::answer(&handle, question, &QueryOptions::default()).expect("answers")
}

fn ingest(handoff: &Path, data: &DataRoot) {
    let clock = SteppingClock::new(BUILD_TIME, time::Duration::milliseconds(1));
    ingest_handoff(handoff, data, &IngestOptions::default(), &clock).expect("ingest");
}

fn index(data: &DataRoot) {
    index_while_idle(data, &SteppingClock::new(BUILD_TIME, time::Duration::ZERO)).expect("stage 2");
}

/// A spool of three handoffs and its truth.
fn spool(dir: &Path) -> (Vec<PathBuf>, Value) {
    let (spool, handoffs) = build::spool(dir, 7, FRAMES, 3).expect("spool");
    (handoffs, build::truth(&spool).expect("truth"))
}

/// Questions for the texts first shown inside one handoff's time span, in the truth's order.
fn questions_first_seen_in(truth: &Value, handoff: usize) -> Vec<String> {
    let span = &truth["handoffs"][handoff];
    let (from, to) = (
        span["first_ts_utc"].as_str().expect("first"),
        span["last_ts_utc"].as_str().expect("last"),
    );
    truth["texts"]
        .as_object()
        .expect("texts")
        .iter()
        .filter(|(text, seen)| {
            let first = seen["first"]["ts_utc"].as_str().unwrap_or_default();
            first >= from
                && first <= to
                && text.len() > 8
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || " -#.,:".contains(c))
        })
        .map(|(text, _)| format!("when did I first see \"{text}\"?"))
        .collect()
}

#[test]
fn a_late_older_handoff_is_not_yet_not_absent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (handoffs, truth) = spool(dir.path());
    let data = DataRoot::new(dir.path().join("data"));
    // The later handoffs first, fully indexed; then the morning's arrives.
    ingest(&handoffs[1], &data);
    ingest(&handoffs[2], &data);
    index(&data);
    // A text the later handoffs never show: nothing to find before the morning arrives.
    let (question, before) = questions_first_seen_in(&truth, 0)
        .into_iter()
        .map(|q| {
            let answer = ask(&data, &q);
            (q, answer)
        })
        .find(|(_, answer)| answer.state == AnswerState::NoEvidence)
        .expect("a text only the morning's handoff shows");
    ingest(&handoffs[0], &data);
    let pending = ask(&data, &question);
    assert_eq!(
        pending.state,
        AnswerState::NotAvailableYet,
        "{}",
        pending.summary
    );
    assert!(pending.needs_processing);
    assert_eq!(
        pending.fields["pending_frames"], truth["handoffs"][0]["frames"],
        "{}",
        pending.summary
    );
    assert_eq!(
        pending.processing_blocked_reason.as_deref(),
        Some("stage2_pending")
    );
    assert_ne!(pending.query_run_id, before.query_run_id);
    index(&data);
    let after = ask(&data, &question);
    assert_eq!(after.state, AnswerState::Ok, "{}", after.summary);
    // Once everything is indexed, a question about nothing that exists is no evidence again.
    let absent = ask(&data, "when did I first see \"zz no such text anywhere\"?");
    assert_eq!(absent.state, AnswerState::NoEvidence, "{}", absent.summary);
}

#[test]
fn questions_racing_the_first_stage2_run_never_answer_no_evidence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (handoffs, truth) = spool(dir.path());
    let data = DataRoot::new(dir.path().join("data"));
    for handoff in &handoffs {
        ingest(handoff, &data);
    }
    let question = questions_first_seen_in(&truth, 2)
        .into_iter()
        .next()
        .expect("a text first shown in the last handoff");
    let running = {
        let data = data.clone();
        std::thread::spawn(move || index(&data))
    };
    let mut states = Vec::new();
    while !running.is_finished() {
        let answer = ask(&data, &question);
        states.push((answer.state, answer.summary));
    }
    running.join().expect("stage 2 thread");
    assert!(!states.is_empty(), "no question was asked during the run");
    let wrong: Vec<_> = states
        .iter()
        .filter(|(state, _)| *state == AnswerState::NoEvidence)
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} answers during the run said no evidence: {:?}",
        wrong.len(),
        states.len(),
        wrong.first()
    );
    assert_eq!(ask(&data, &question).state, AnswerState::Ok);
}
