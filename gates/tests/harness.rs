//! The harness with planted gates: a passing, a failing, an erroring, a panicking, an empty and a
//! flaky one. Verdicts and exit codes (a selection is `partial` with the rest `skipped`), the
//! signed report (the signature verifies; a changed byte, a wrong key and a truncated file are
//! refused), the schema of the predicate and JUnit that parses. The summaries are in
//! `tests/summary.rs`, what `verify` accepts in `tests/verify.rs`.

use autocapture_core::base::clock::SteppingClock;
use autocapture_gates::contract::workspace_root;
use autocapture_gates::harness::dsse::{self, VerifyError};
use autocapture_gates::harness::gate::Verdict;
use autocapture_gates::harness::report::predicate_violations;
use autocapture_gates::harness::runner::{RunResults, RunVerdict, exit_code, run_gates};
use autocapture_gates::harness::{junit, keys, sister, summary};
use serde_json::json;
use time::macros::datetime;

#[path = "support/planted.rs"]
mod planted;
use planted::{options, planted_registry, run, signed_report, summary_identity};

fn verdicts(results: &RunResults) -> Vec<(&str, Verdict)> {
    results
        .gates
        .iter()
        .map(|g| (g.name.as_str(), g.verdict))
        .collect()
}

#[test]
fn planted_verdicts_and_exit_codes() {
    let (_dir, results) = run(&[], 1);
    assert_eq!(
        verdicts(&results),
        vec![
            ("pass-gate", Verdict::Pass),
            ("fail-gate", Verdict::Fail),
            ("error-gate", Verdict::Error),
            ("panic-gate", Verdict::Error),
            ("empty-gate", Verdict::Error),
            ("flaky-gate", Verdict::Pass),
        ]
    );
    assert_eq!(exit_code(results.verdict()), 2);
    assert!(
        results.gates[0].measurements["corpus_exists"] == json!(true),
        "gates see the generated corpus"
    );
    let panic = &results.gates[3].evidence[0];
    assert!(
        panic
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("planted panic")
    );
    let (_dir, results) = run(&["pass-gate", "fail-gate"], 1);
    assert_eq!(results.verdict(), RunVerdict::Fail);
    assert_eq!(exit_code(results.verdict()), 1, "a failing gate exits 1");
    let (_dir, results) = run(&["error-gate", "pass-gate"], 1);
    assert_eq!(exit_code(results.verdict()), 2, "an erroring gate exits 2");
    assert_eq!(
        verdicts(&results)[0].0,
        "pass-gate",
        "registry order, whatever the order asked"
    );
}

#[test]
fn a_selection_reports_every_gate_and_is_partial_never_pass() {
    let (_dir, results) = run(&["pass-gate", "flaky-gate"], 1);
    assert_eq!(
        verdicts(&results),
        vec![
            ("pass-gate", Verdict::Pass),
            ("fail-gate", Verdict::Skipped),
            ("error-gate", Verdict::Skipped),
            ("panic-gate", Verdict::Skipped),
            ("empty-gate", Verdict::Skipped),
            ("flaky-gate", Verdict::Pass),
        ],
        "the unselected gates are listed, skipped, and never run"
    );
    assert_eq!(results.verdict(), RunVerdict::Partial);
    assert_eq!(results.verdict().as_str(), "partial");
    assert_eq!(
        exit_code(results.verdict()),
        0,
        "every selected gate passed"
    );
    assert!(results.gates[1].checks.is_empty() && results.gates[1].duration_ms == 0);
    let (dir, results) = run(&["pass-gate"], 1);
    let (statement, _, _) = signed_report(&results, dir.path());
    assert_eq!(statement["predicate"]["verdict"], "partial");
    assert_eq!(statement["predicate"]["gates"][1]["verdict"], "skipped");
    assert_eq!(
        predicate_violations(&statement["predicate"]).expect("validate"),
        Vec::<String>::new()
    );
    let xml = junit::render(&results, &[]).expect("junit");
    let doc = roxmltree::Document::parse(&xml).expect("junit.xml parses");
    let skipped: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter(|c| c.children().any(|n| n.has_tag_name("skipped")))
        .filter_map(|c| c.attribute("name"))
        .collect();
    assert_eq!(
        skipped,
        vec![
            "fail-gate",
            "error-gate",
            "panic-gate",
            "empty-gate",
            "flaky-gate"
        ]
    );
    let identity = summary_identity(&results, dir.path());
    let md = summary::markdown(&results, &identity);
    assert!(
        md.starts_with("# PARTIAL: every gate that ran passed, but not all ran"),
        "{md}"
    );
    assert!(
        md.contains("6 gates: 1 passed, 0 failed, 0 errored, 5 skipped."),
        "{md}"
    );
    assert!(md.contains("| fail-gate | ○ skipped | 0/0 |"), "{md}");
    assert!(
        !md.contains("## Failures"),
        "skipped is not a failure: {md}"
    );
    let html = summary::html(&results, &identity).expect("html");
    assert!(
        html.contains("<h1 id=\"verdict\" data-verdict=\"partial\">PARTIAL: "),
        "{html}"
    );
    assert!(
        !html.contains("id=\"failures\""),
        "skipped is not a failure"
    );
}

#[test]
fn an_unknown_gate_is_a_harness_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = SteppingClock::new(
        datetime!(2026-02-21 09:00:00 UTC),
        time::Duration::seconds(1),
    );
    let err = run_gates(
        &planted_registry(),
        &options(dir.path(), &["nope"], 1),
        &clock,
    )
    .expect_err("unknown");
    assert!(err.to_string().contains("unknown gate \"nope\""), "{err}");
}

#[test]
fn repeats_catch_a_flaky_gate_but_not_timings() {
    let (_dir, results) = run(&["pass-gate", "flaky-gate"], 3);
    assert_eq!(
        verdicts(&results)
            .into_iter()
            .filter(|(_, v)| *v != Verdict::Skipped)
            .collect::<Vec<_>>(),
        vec![("pass-gate", Verdict::Pass), ("flaky-gate", Verdict::Fail)]
    );
    assert_eq!(
        results.gates[0].flake_rate, 0,
        "elapsed_ms differs per call but is a timing"
    );
    assert_eq!(results.gates[5].flake_rate, 50);
    assert_eq!(results.gates[5].repeats, 3);
    // Repeats that error alike are not "deterministic" into a pass.
    let (_dir, results) = run(&["error-gate", "panic-gate", "empty-gate"], 2);
    assert_eq!(
        verdicts(&results)
            .into_iter()
            .filter(|(_, v)| *v != Verdict::Skipped)
            .collect::<Vec<_>>(),
        vec![
            ("error-gate", Verdict::Error),
            ("panic-gate", Verdict::Error),
            ("empty-gate", Verdict::Error)
        ]
    );
    assert_eq!(results.verdict(), RunVerdict::Error);
}

#[test]
fn the_report_validates_and_its_signature_is_strict() {
    let (dir, results) = run(&[], 1);
    let (statement, envelope, key) = signed_report(&results, dir.path());
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["predicate"]["verdict"], "error");
    assert_eq!(statement["predicate"]["controls"]["tz"], "UTC");
    let names: Vec<&str> = statement["subject"]
        .as_array()
        .expect("subjects")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(
        names.contains(&"contracts/contract.lock.json")
            && names.contains(&"fixture-corpus")
            && names.contains(&"fixtures/story/workday.toml")
            && names.contains(&"fixtures/golden/q40.toml")
            && names.contains(&"fixtures/story/support-night.toml")
            && names.contains(&"fixtures/golden/support-night.toml"),
        "{names:?}"
    );
    // What a gate generated besides the run's corpus (the golden gate's second corpus) is a
    // subject too.
    assert!(
        statement["subject"]
            .as_array()
            .expect("subjects")
            .iter()
            .any(|s| s["name"] == "planted-input" && s["digest"]["sha256"] == "ab".repeat(32)),
        "{names:?}"
    );
    let story = std::fs::read(
        workspace_root()
            .expect("a checkout")
            .join("fixtures/story/workday.toml"),
    )
    .expect("the story");
    assert!(
        statement["subject"]
            .as_array()
            .expect("subjects")
            .iter()
            .any(|s| s["name"] == "fixtures/story/workday.toml"
                && s["digest"]["sha256"] == autocapture_core::contract::sha256_hex(&story)),
        "the story subject names the committed story's digest"
    );
    assert_eq!(
        predicate_violations(&statement["predicate"]).expect("validate"),
        Vec::<String>::new()
    );
    let mut planted = statement["predicate"].clone();
    planted["verdict"] = json!("passed");
    assert!(
        !predicate_violations(&planted).expect("validate").is_empty(),
        "the schema refuses an unknown verdict"
    );

    let public = key.verifying_key();
    assert_eq!(
        dsse::verify(&envelope, &[public])
            .expect("verifies")
            .statement,
        statement
    );
    // One changed byte inside the base64 payload.
    let text = String::from_utf8(envelope.clone()).expect("utf8");
    let at = text.find("\"payload\": \"").expect("payload") + 30;
    let mut changed = envelope.clone();
    changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
    assert!(matches!(
        dsse::verify(&changed, &[public]),
        Err(VerifyError::BadSignature | VerifyError::Base64)
    ));
    // A signature's keyid is only a hint (DSSE): a changed hint still verifies, and the result
    // names the trusted key that verified, not the hint.
    let hint_start = text.find("\"keyid\": \"").expect("keyid") + "\"keyid\": \"".len();
    let hint_end = hint_start + text[hint_start..].find('"').expect("keyid end");
    let mut rehinted = envelope.clone();
    rehinted[hint_start] = if rehinted[hint_start] == b'0' {
        b'1'
    } else {
        b'0'
    };
    assert_eq!(
        dsse::verify(&rehinted, &[public]).expect("verifies").keyid,
        autocapture_gates::harness::keys::keyid(&public)
    );
    // Every other single-byte change is refused.
    for index in (0..envelope.len())
        .step_by(97)
        .filter(|i| !(hint_start..hint_end).contains(i))
    {
        let mut flipped = envelope.clone();
        flipped[index] ^= 0x01;
        assert!(
            dsse::verify(&flipped, &[public]).is_err(),
            "byte {index} changed and still verified"
        );
    }
    let other = keys::generate().expect("key").verifying_key();
    assert_eq!(
        dsse::verify(&envelope, &[other]).map_err(|e| e.code()),
        Err("envelope_wrong_key")
    );
    assert_eq!(
        dsse::verify(&envelope[..envelope.len() / 2], &[public]).map_err(|e| e.code()),
        Err("envelope_invalid")
    );
}

#[test]
fn key_files_round_trip_and_are_never_overwritten() {
    let dir = tempfile::tempdir().expect("temp dir");
    let private = dir.path().join("release.key");
    let (public_path, public) = keys::keygen(&private).expect("keygen");
    assert_eq!(
        keys::load_signing(&private)
            .expect("private")
            .verifying_key(),
        public
    );
    assert_eq!(keys::load_public(&public_path).expect("public"), public);
    assert_eq!(
        keys::load_public(&private).expect("public from private"),
        public
    );
    assert!(
        keys::load_signing(&public_path).is_err(),
        "a public key file cannot sign"
    );
    let pem = keys::pem_path(&public_path);
    let pem_text = std::fs::read_to_string(&pem).expect("keygen writes the PEM");
    assert!(
        pem_text.starts_with("-----BEGIN PUBLIC KEY-----\n"),
        "{pem_text}"
    );
    assert_eq!(keys::load_public(&pem).expect("PEM public key"), public);
    let garbage = dir.path().join("garbage.pub");
    std::fs::write(&garbage, "ssh-ed25519 AAAA").expect("write");
    let err = format!("{:#}", keys::load_public(&garbage).expect_err("not a key"));
    assert!(
        err.contains("garbage.pub") && err.contains("PEM public key") && err.contains("kty"),
        "the error names the file and the formats: {err}"
    );
    let not_ed25519 = dir.path().join("rsa.pem");
    std::fs::write(
        &not_ed25519,
        pem_text.replace("MCowBQYDK2VwAyEA", "MCowBQYDK2VxAyEA"),
    )
    .expect("write");
    assert!(
        keys::load_public(&not_ed25519).is_err(),
        "another algorithm's SPKI is refused"
    );
    assert!(keys::keygen(&private).is_err(), "refuses to overwrite");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&private).expect("meta").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let (key, dev_signed) = keys::resolve(Some(&private)).expect("resolve");
    assert!(!dev_signed);
    assert_eq!(key.verifying_key(), public);
}

#[test]
fn junit_has_a_suite_per_gate_each_failure_once_and_times_everywhere() {
    let (_dir, results) = run(&[], 1);
    let properties = [("commit", "c0ffee".to_owned())];
    let xml = junit::render(&results, &properties).expect("junit");
    let doc = roxmltree::Document::parse(&xml).expect("junit.xml parses");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let names: Vec<&str> = suites.iter().filter_map(|s| s.attribute("name")).collect();
    let gates: Vec<&str> = results.gates.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, gates, "one suite per gate, in run order");
    for suite in &suites {
        assert!(suite.attribute("time").is_some(), "suite without time");
        assert!(
            suite.attribute("timestamp").is_some(),
            "suite without timestamp"
        );
        let property = |name: &str| {
            suite
                .descendants()
                .find(|n| n.has_tag_name("property") && n.attribute("name") == Some(name))
                .and_then(|n| n.attribute("value"))
        };
        assert_eq!(property("commit"), Some("c0ffee"));
        assert_eq!(
            property("seed"),
            Some(results.options_seed.to_string().as_str())
        );
        assert!(property("corpus_sha256").is_some());
        for case in suite.children().filter(|n| n.has_tag_name("testcase")) {
            assert!(case.attribute("time").is_some(), "case without time");
        }
    }
    // The suite's counts add up to its cases, and a failing check is one failure, once.
    let kinds = |suite: &str| -> Vec<(String, Vec<String>)> {
        let node = suites
            .iter()
            .find(|s| s.attribute("name") == Some(suite))
            .expect("suite");
        node.children()
            .filter(|n| n.has_tag_name("testcase"))
            .map(|c| {
                (
                    c.attribute("name").unwrap_or_default().to_owned(),
                    c.children()
                        .filter(|n| n.is_element())
                        .map(|n| n.tag_name().name().to_owned())
                        .collect(),
                )
            })
            .collect()
    };
    let fail = kinds("fail-gate");
    let failures: usize = fail
        .iter()
        .filter(|(_, k)| k.contains(&"failure".to_owned()))
        .count();
    let failing_checks = results
        .gates
        .iter()
        .find(|g| g.name == "fail-gate")
        .map(|g| g.checks.iter().filter(|c| !c.passed).count())
        .expect("fail-gate");
    assert_eq!(failures, failing_checks, "{fail:?}");
    assert!(
        fail.iter().all(|(name, _)| name != "fail-gate"),
        "no second case for the gate itself: {fail:?}"
    );
    assert!(
        fail.iter()
            .any(|(name, _)| name == "count <matches> & \"more\""),
        "check names survive escaping: {fail:?}"
    );
    let fail_suite = suites
        .iter()
        .find(|s| s.attribute("name") == Some("fail-gate"))
        .expect("suite");
    assert_eq!(
        fail_suite.attribute("failures"),
        Some(failing_checks.to_string().as_str())
    );
    let error = kinds("error-gate");
    assert!(
        error
            .iter()
            .any(|(name, k)| name == "error-gate" && k == &vec!["error".to_owned()]),
        "{error:?}"
    );
    assert!(kinds("pass-gate").iter().all(|(_, k)| k.is_empty()));
}

#[test]
fn sister_checkpoint_matches_only_our_pair() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ours = autocapture_core::contract::ContractIdentity::embedded().expect("identity");
    let good = dir.path().join("good.json");
    std::fs::write(&good, json!({"hypervisor_version": "1.0.0", "contract_version": ours.contract_version, "schema_hash": ours.schema_hash}).to_string())
        .expect("write");
    assert!(sister::checkpoint(&good).expect("read").matches);
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        json!({"contract_version": ours.contract_version, "schema_hash": "0".repeat(64)})
            .to_string(),
    )
    .expect("write");
    assert!(!sister::checkpoint(&bad).expect("read").matches);
    // The committed sample is the Hypervisor's current document.
    let sample = workspace_root()
        .expect("a checkout")
        .join("contracts/sister/hypervisor.lock.json");
    assert!(
        sister::checkpoint(&sample).expect("sample").matches,
        "contracts/sister sample is stale"
    );
}

#[test]
fn a_markdown_sister_document_carries_the_pair_in_front_matter_or_a_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ours = autocapture_core::contract::ContractIdentity::embedded().expect("identity");
    let front = dir.path().join("front.md");
    std::fs::write(
        &front,
        format!(
            "---\nhypervisor_version: 2.0.0\ncontract_version: {}\nschema_hash: {}\n---\n# Hypervisor contract\n",
            ours.contract_version, ours.schema_hash
        ),
    )
    .expect("write");
    let checkpoint = sister::checkpoint(&front).expect("front matter");
    assert!(checkpoint.matches);
    assert_eq!(checkpoint.hypervisor_version.as_deref(), Some("2.0.0"));
    let table = dir.path().join("table.md");
    std::fs::write(
        &table,
        format!(
            "# Pair\n\n| field | value |\n|---|---|\n| contract_version | {} |\n| schema_hash | `{}` |\n",
            ours.contract_version,
            "f".repeat(64)
        ),
    )
    .expect("write");
    let checkpoint = sister::checkpoint(&table).expect("table");
    assert!(!checkpoint.matches, "a different hash must not match");
    assert_eq!(checkpoint.schema_hash, "f".repeat(64));
    let empty = dir.path().join("empty.md");
    std::fs::write(&empty, "# Nothing here\n").expect("write");
    let err = sister::read(&empty).expect_err("no pair");
    assert_eq!(err.code(), "sister_invalid", "{err}");
    assert!(err.to_string().contains("empty.md"), "{err}");
    let err = sister::read(&dir.path().join("absent.json")).expect_err("absent");
    assert_eq!(err.code(), "sister_unreadable", "{err}");
}

/// A run with a failing gate keeps its corpus and work copies for whoever looks into it; a run
/// whose selected gates passed removes them, unless told to keep them.
#[test]
fn work_copies_go_only_after_a_pass() {
    use autocapture_gates::harness::runner::tidy;
    use autocapture_gates::harness::scratch::Scratch;
    let (dir, failing) = run(&[], 1);
    let out = dir.path();
    assert!(out.join("corpus").is_dir() && out.join("work").is_dir());
    assert!(
        !out.join("work").join("pass-gate").exists(),
        "a passing gate's copies go as it ends"
    );
    assert!(
        out.join("work").join("fail-gate").is_dir() && out.join("work").join("error-gate").is_dir(),
        "a failing or erroring gate's copies stay"
    );
    assert!(
        !tidy(&failing, &Scratch::in_out(out), false).expect("tidy"),
        "a failing run keeps them"
    );
    assert!(out.join("corpus").is_dir() && out.join("work").is_dir());
    let (dir, passing) = run(&["pass-gate"], 1);
    let out = dir.path();
    assert!(
        !tidy(&passing, &Scratch::in_out(out), true).expect("tidy"),
        "--keep-work keeps them"
    );
    assert!(out.join("corpus").is_dir());
    assert!(tidy(&passing, &Scratch::in_out(out), false).expect("tidy"));
    assert!(!out.join("corpus").exists() && !out.join("work").exists());
}
