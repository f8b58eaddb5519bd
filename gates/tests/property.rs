//! Property runs over every parser and entry point that takes outside bytes: the seeded runs the
//! `hostile` gate reports, planted panics, crashes and slow inputs they must catch, and proptest
//! properties (fixed seeds, bounded cases) over the same targets: no panic on arbitrary bytes or
//! on generated structured inputs; a served fixture answers every body over a real socket.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use autocapture_gates::harness::gate::GateContext;
use autocapture_gates::hostile::generate::{Bases, input};
use autocapture_gates::hostile::property::{
    self, INPUT_BOUND, inputs_per_target, run_inputs, to_case,
};
use autocapture_gates::hostile::targets::{self, Outcome, ServedFixture, Target};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The folder of the binary's shared fixture: under cargo's per-target temp folder, cleared at
/// the start of each run (a static is never dropped, so a temp dir would be left behind).
struct SharedDir(PathBuf);

impl SharedDir {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

/// One served fixture (indexed DataRoot + popup server) and the mutation bases for the binary.
fn shared() -> &'static (SharedDir, ServedFixture, Bases) {
    static SHARED: OnceLock<(SharedDir, ServedFixture, Bases)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("property-shared");
        let _ = std::fs::remove_dir_all(&dir);
        let served = ServedFixture::start(&dir.join("served"), 3).expect("served fixture");
        let bases = Bases::build(&dir.join("bases"), 3).expect("bases");
        (SharedDir(dir), served, bases)
    })
}

fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

#[test]
fn every_property_run_is_clean_under_a_fixed_seed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = GateContext {
        seed: 11,
        jobs: 2,
        ..GateContext::new(dir.path().join("no-corpus"), dir.path().join("work"))
    };
    let cases = property::cases(&ctx).expect("property runs");
    assert_eq!(cases.len(), Target::ALL.len());
    for (case, target) in cases.iter().zip(Target::ALL) {
        assert_eq!(case.name, format!("property/{}", target.name()));
        assert!(case.passed(), "{case:?}");
        assert_eq!(case.inputs, inputs_per_target(target), "{case:?}");
        // The generators reach both sides of each target: accepted and refused inputs.
        assert!(case.detail.contains("ok="), "{case:?}");
        assert!(
            case.detail.split("outcomes ").nth(1).is_some_and(|o| o
                .split(' ')
                .filter(|c| !c.starts_with("ok="))
                .count()
                >= 1),
            "{case:?}"
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_inputs() {
    let (_, _, bases) = shared();
    let dir = tempfile::tempdir().expect("temp dir");
    for target in Target::ALL {
        let mut a = ChaCha8Rng::seed_from_u64(5);
        let mut b = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..20 {
            assert_eq!(
                input(target, &mut a, bases, dir.path()),
                input(target, &mut b, bases, dir.path()),
                "{}",
                target.name()
            );
        }
    }
}

#[test]
fn a_planted_panic_is_counted_and_its_input_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let summary = run_inputs(
        "planted",
        10,
        |idx| vec![idx as u8],
        |bytes| {
            if bytes == [7] {
                panic!("planted panic on input 7");
            }
            Ok(Outcome::Accepted)
        },
        INPUT_BOUND,
        dir.path(),
    )
    .expect("run");
    assert_eq!((summary.inputs, summary.panics), (10, 1));
    let (idx, what, path) = summary.first_failure.clone().expect("kept");
    assert_eq!(idx, 7);
    assert!(what.contains("planted panic on input 7"), "{what}");
    assert_eq!(std::fs::read(path).expect("kept input"), vec![7]);
    let case = to_case(&summary);
    assert!(!case.passed());
    assert_eq!(case.observed, "panic");
}

#[test]
fn a_planted_crash_across_the_socket_counts_as_a_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let summary = run_inputs(
        "planted",
        3,
        |idx| vec![idx as u8],
        |bytes| {
            Ok(if bytes == [1] {
                Outcome::Crashed("no HTTP response".into())
            } else {
                Outcome::Rejected("request_invalid".into())
            })
        },
        INPUT_BOUND,
        dir.path(),
    )
    .expect("run");
    assert_eq!(summary.panics, 1);
    assert!(!to_case(&summary).passed());
}

#[test]
fn a_planted_slow_input_fails_the_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A zero bound makes every input "slow" without waiting for anything.
    let summary = run_inputs(
        "planted",
        4,
        |idx| vec![idx as u8],
        |_| Ok(Outcome::Accepted),
        Duration::ZERO,
        dir.path(),
    )
    .expect("run");
    assert_eq!((summary.panics, summary.slow), (0, 4));
    let case = to_case(&summary);
    assert_eq!(case.observed, "input_over_bound");
    assert!(!case.passed());
}

#[test]
fn the_server_answers_a_malformed_body_with_a_code() {
    let (_, served, _) = shared();
    assert_eq!(
        targets::popup_body(served, b"{\"query\":"),
        Outcome::Rejected("request_invalid".into())
    );
    assert_eq!(
        targets::popup_body(served, br#"{"query":"what did I see"}"#),
        Outcome::Accepted
    );
    assert_eq!(
        targets::http_request(
            served,
            b"DELETE /api/query/popup HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        ),
        Outcome::Rejected("http_405".into())
    );
    assert_eq!(
        targets::http_request(
            served,
            b"GET /api/auth/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ),
        Outcome::Rejected("host_not_loopback".into())
    );
}

// Regression: a NUL in a query reached the FTS5 match text: `query_store_error` instead of an
// answer (found by the query_text property run).
#[test]
fn regression_query_with_nul_gets_an_answer() {
    let (_, served, _) = shared();
    for text in ["a\0b", "what did I see\0 in \"Edi\0tor\""] {
        assert_eq!(
            targets::query_text(&served.query, text.as_bytes()),
            Outcome::Accepted,
            "{text:?}"
        );
    }
}

// Regression: a UTF-16 handoff database failed the ingest as a DataRoot store error, not as the
// handoff's fault (found by the metadata_db property run; the input is in fuzz/regressions/).
#[test]
fn regression_utf16_metadata_db_is_the_handoffs_fault() {
    let path = autocapture_gates::hostile::fuzz::fuzz_dir()
        .expect("a checkout")
        .join("regressions/metadata_db/utf16-text-encoding.db");
    let bytes = std::fs::read(&path).expect("committed regression input");
    assert_eq!(
        targets::metadata_db(&bytes),
        Outcome::Rejected("handoff_metadata_corrupt".into())
    );
    // The same with a text-encoding field out of range, which SQLite opens alone as UTF-8.
    let path = autocapture_gates::hostile::fuzz::fuzz_dir()
        .expect("a checkout")
        .join("regressions/metadata_db/encoding-field-out-of-range.db");
    let bytes = std::fs::read(&path).expect("committed regression input");
    assert_eq!(
        targets::metadata_db(&bytes),
        Outcome::Rejected("handoff_metadata_corrupt".into())
    );
}

// Regression: an HTTP/1.0 request gets an HTTP/1.0 answer, which the harness took for no answer
// at all, a crash (found by the http_request fuzz target; the input is in fuzz/regressions/).
#[test]
fn regression_http10_answer_is_an_answer() {
    let answer = b"HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n{\"ok\":true}";
    assert_eq!(targets::judge_response(answer), Outcome::Accepted);
    let refused =
        b"HTTP/1.0 401 Unauthorized\r\n\r\n{\"ok\":false,\"error\":{\"code\":\"token_required\"}}";
    assert_eq!(
        targets::judge_response(refused),
        Outcome::Rejected("token_required".into())
    );
    let (_, served, _) = shared();
    let path = autocapture_gates::hostile::fuzz::fuzz_dir()
        .expect("a checkout")
        .join("regressions/http_request/http10-request.http");
    let bytes = std::fs::read(&path).expect("committed regression input");
    // Answered, or closed when the half-close wins the race with the answer; never a crash.
    let outcome = targets::http_request(served, &bytes);
    assert!(!matches!(outcome, Outcome::Crashed(_)), "{outcome:?}");
}

proptest! {
    #![proptest_config(config(64, 0x5eed_0001))]

    #[test]
    fn arbitrary_bytes_as_metadata_db_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let outcome = targets::metadata_db(&bytes);
        prop_assert!(!matches!(outcome, Outcome::Crashed(_)), "{outcome:?}");
        // Random bytes are never a readable handoff.
        prop_assert_ne!(outcome, Outcome::Accepted);
    }

    #[test]
    fn arbitrary_bytes_as_payload_snapshot_and_signal_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        for outcome in [targets::payload_json(&bytes), targets::uia_snapshot(&bytes), targets::activity_signal(&bytes)] {
            prop_assert!(!matches!(outcome, Outcome::Crashed(_)), "{outcome:?}");
        }
    }

    #[test]
    fn arbitrary_query_strings_never_panic(text in "\\PC{0,200}") {
        let (_, served, _) = shared();
        let outcome = targets::query_text(&served.query, text.as_bytes());
        prop_assert!(!matches!(outcome, Outcome::Crashed(_)), "{outcome:?}");
    }
}

proptest! {
    #![proptest_config(config(48, 0x5eed_0002))]

    #[test]
    fn generated_structured_inputs_never_panic(seed in any::<u64>(), which in 0..Target::ALL.len()) {
        let (dir, served, bases) = shared();
        let target = Target::ALL[which];
        let scratch: PathBuf = dir.path().join("scratch");
        std::fs::create_dir_all(&scratch).expect("scratch");
        let bytes = input(target, &mut ChaCha8Rng::seed_from_u64(seed), bases, &scratch);
        let outcome = target.run(Some(served), &bytes).expect("target runs");
        prop_assert!(!matches!(outcome, Outcome::Crashed(_)), "{}: {outcome:?}", target.name());
    }

    #[test]
    fn arbitrary_popup_bodies_get_an_http_answer(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let (_, served, _) = shared();
        let outcome = targets::popup_body(served, &bytes);
        prop_assert!(!matches!(outcome, Outcome::Crashed(_)), "{outcome:?}");
    }
}

#[test]
fn regression_half_closed_request_is_answered() {
    let (_, served, _) = shared();
    for _ in 0..20 {
        assert_eq!(
            targets::http_request(
                served,
                b"DELETE /api/query/popup HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            ),
            Outcome::Rejected("http_405".into())
        );
    }
}
