//! The real `autocapture-gates` binary: usage errors exit 2 before any work, `keygen` writes the
//! key in both public formats, and `verify` refuses a changed, foreign or truncated envelope and
//! a Statement that is not a gate report, each with its exit code (the whole decision table is
//! in `tests/verify.rs`).

use std::process::{Command, Output};

use autocapture_gates::contract::workspace_root;
use autocapture_gates::harness::{dsse, keys};

const BIN: &str = env!("CARGO_BIN_EXE_autocapture-gates");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("run autocapture-gates")
}

#[test]
fn usage_errors_exit_2_before_any_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let output = run(&[
        "run",
        "--gate",
        "nope",
        "--out",
        out.to_str().expect("utf8"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("autocapture-gates: error[gate_unknown]: unknown gate \"nope\"")
    );
    assert!(!out.exists(), "nothing generated for a usage error");
    let output = run(&[
        "run",
        "--target",
        "http://10.1.2.3:8787",
        "--out",
        out.to_str().expect("utf8"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("autocapture-gates: error[target_invalid]: ")
            && stderr.contains("not on loopback"),
        "{stderr}"
    );
    let output = run(&["frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).starts_with("autocapture-gates: error[usage]: "),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn keygen_then_verify_refuses_by_code() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key_path = dir.path().join("release.key");
    let output = run(&["keygen", "--out", key_path.to_str().expect("utf8")]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let public = keys::public_path(&key_path);
    let key = keys::load_signing(&key_path).expect("key");
    assert_eq!(
        keys::load_public(&keys::pem_path(&public)).expect("the PEM keygen wrote"),
        key.verifying_key()
    );
    let statement = serde_json::json!({"_type": "https://in-toto.io/Statement/v1", "subject": [], "predicateType": "urn:x", "predicate": {"verdict": "pass", "gates": []}});
    let body = serde_json::to_vec(&statement).expect("json");
    let envelope = serde_json::to_vec_pretty(&dsse::sign(&body, &key)).expect("envelope");
    let good = dir.path().join("good.dsse.json");
    std::fs::write(&good, &envelope).expect("write");
    let verify = |path: &std::path::Path, public: &std::path::Path| {
        run(&[
            "verify",
            path.to_str().expect("utf8"),
            "--public-key",
            public.to_str().expect("utf8"),
        ])
    };
    let output = verify(&good, &public);
    assert_eq!(
        output.status.code(),
        Some(5),
        "a validly signed Statement that is not a gate report: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("autocapture-gates: error[report_invalid]: ")
    );

    let changed = dir.path().join("changed.dsse.json");
    let mut bytes = envelope.clone();
    let at = String::from_utf8(envelope.clone())
        .expect("utf8")
        .find("\"sig\": \"")
        .expect("sig")
        + 12;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&changed, &bytes).expect("write");
    let output = verify(&changed, &public);
    assert_eq!(output.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("autocapture-gates: error[envelope_signature_invalid]: ")
    );

    let other = dir.path().join("other.key");
    assert_eq!(
        run(&["keygen", "--out", other.to_str().expect("utf8")])
            .status
            .code(),
        Some(0)
    );
    let output = verify(&good, &keys::public_path(&other));
    assert_eq!(output.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("autocapture-gates: error[envelope_wrong_key]: ")
    );

    let truncated = dir.path().join("truncated.dsse.json");
    std::fs::write(&truncated, &envelope[..envelope.len() - 5]).expect("write");
    let output = verify(&truncated, &public);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("autocapture-gates: error[envelope_invalid]: ")
    );

    assert_eq!(
        run(&["keygen", "--out", key_path.to_str().expect("utf8")])
            .status
            .code(),
        Some(2),
        "never overwrites a key"
    );
}

/// `run --gate bind` with the real binary: every gate is reported, the 13 unselected ones
/// skipped (report, JUnit, summary), the run `partial` and exit 0; `verify` of its envelope with
/// the PEM key it wrote refuses it as partial (exit 8) and accepts it only with both relaxations.
#[test]
fn a_selected_run_is_partial_everywhere_and_verify_refuses_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let output = run(&[
        "run",
        "--gate",
        "bind",
        "--frames",
        "60",
        "--out",
        out.to_str().expect("utf8"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("verdict partial; 14 gates: 1 pass, 0 fail, 0 error, 13 skipped"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("running 1 of 14 gates") && stderr.contains("[1/1] bind pass in "),
        "the run says what it does as it goes: {stderr}"
    );
    // The copies were made in a scratch folder the run names, and went with it.
    let corpus = stderr
        .split(" in ")
        .nth(1)
        .and_then(|rest| rest.split(" (").next())
        .map(std::path::PathBuf::from)
        .expect("the run names its corpus");
    let scratch = corpus.parent().expect("the corpus's folder").to_path_buf();
    assert!(
        corpus.ends_with("corpus") && !scratch.exists(),
        "{} is left: {stderr}",
        scratch.display()
    );
    // The same run as one JSON document, its copies in a folder of our choosing.
    let json_out = dir.path().join("json-out");
    let chosen = dir.path().join("chosen-scratch");
    let as_json = run(&[
        "run",
        "--gate",
        "bind",
        "--frames",
        "60",
        "--json",
        "--out",
        json_out.to_str().expect("utf8"),
        "--scratch",
        chosen.to_str().expect("utf8"),
    ]);
    assert_eq!(
        std::fs::read_dir(&chosen)
            .expect("the chosen scratch")
            .count(),
        0,
        "the run's private folder in --scratch went with its copies"
    );
    assert_eq!(as_json.status.code(), Some(0));
    let document: serde_json::Value =
        serde_json::from_slice(as_json.stdout.trim_ascii()).expect("run --json is one document");
    assert_eq!(document["verdict"], "partial");
    assert_eq!(document["counts"]["skipped"], 13);
    assert_eq!(document["gates"][7]["name"], "bind");
    assert_eq!(document["gates"][7]["verdict"], "pass");
    // A passing run keeps what a reader needs and removes the corpus and the work copies.
    assert!(
        !out.join("corpus").exists() && !out.join("work").exists(),
        "{stderr}"
    );
    assert!(
        stderr.contains("the corpus and work copies were removed"),
        "{stderr}"
    );
    let mut kept: Vec<String> = std::fs::read_dir(&out)
        .expect("out")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        [
            "junit.xml",
            "report.dsse.json",
            "report.json",
            "signing-key.pub.json",
            "signing-key.pub.pem",
            "summary.html",
            "summary.md",
            "test-result.dsse.json",
            "test-result.json"
        ]
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("report.json"))
            .expect("json");
    let predicate = &report["predicate"];
    assert_eq!(predicate["verdict"], "partial");
    // One description per gate: the report's and `list`'s are the plan's.
    let listed = String::from_utf8_lossy(&run(&["list"]).stdout).into_owned();
    let listed_json: serde_json::Value =
        serde_json::from_slice(run(&["list", "--json"]).stdout.trim_ascii()).expect("list --json");
    assert_eq!(
        listed_json["gates"].as_array().map(Vec::len),
        Some(autocapture_gates::gates::PLAN.len())
    );
    assert_eq!(listed_json["gates"][0]["built"], true);
    for (i, (name, proves)) in autocapture_gates::gates::PLAN.iter().enumerate() {
        assert_eq!(predicate["gates"][i]["name"], *name);
        assert_eq!(predicate["gates"][i]["proves"], *proves, "{name}");
        assert!(
            listed
                .lines()
                .any(|l| l.starts_with(name) && l.contains(proves)),
            "{name}: {listed}"
        );
    }
    let gates = predicate["gates"].as_array().expect("gates");
    assert_eq!(gates.len(), 14);
    assert_eq!(
        gates.iter().filter(|g| g["verdict"] == "skipped").count(),
        13
    );
    let junit = std::fs::read_to_string(out.join("junit.xml")).expect("junit.xml");
    assert_eq!(junit.matches("<skipped").count(), 13, "{junit}");
    let tested: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("test-result.json")).expect("test-result"))
            .expect("json");
    assert_eq!(tested["predicate"]["result"], "WARNED");
    let envelope = out.join("report.dsse.json");
    let pem = out.join("signing-key.pub.pem");
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            envelope.to_str().expect("utf8"),
            "--public-key",
            pem.to_str().expect("utf8"),
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let refused = verify(&["--allow-dev-signed"]);
    assert_eq!(refused.status.code(), Some(8));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("autocapture-gates: error[report_partial]: ")
    );
    let refused = verify(&["--allow-partial"]);
    assert_eq!(
        refused.status.code(),
        Some(9),
        "dev-signed: no key was given"
    );
    let accepted = verify(&["--allow-partial", "--allow-dev-signed"]);
    assert_eq!(
        accepted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    let text = String::from_utf8_lossy(&accepted.stdout);
    assert!(
        text.contains("relaxed: accepted although the report is partial")
            && text.contains("relaxed: accepted although the report is dev-signed"),
        "{text}"
    );
}

/// A failing run keeps its corpus and work copies in its scratch folder and says where.
#[test]
fn a_failing_run_keeps_its_copies_and_says_where() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let scratch = dir.path().join("scratch");
    let profile = workspace_root()
        .expect("a checkout")
        .join("fixtures/sla/known/fail/burst-week.json");
    let output = run(&[
        "run",
        "--gate",
        "sla",
        "--sla-input",
        profile.to_str().expect("utf8"),
        "--frames",
        "60",
        "--out",
        out.to_str().expect("utf8"),
        "--scratch",
        scratch.to_str().expect("utf8"),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let private: Vec<std::path::PathBuf> = std::fs::read_dir(&scratch)
        .expect("scratch")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(private.len(), 1, "one private folder: {private:?}");
    let (corpus, work) = (private[0].join("corpus"), private[0].join("work"));
    assert!(corpus.join("truth.json").is_file() && work.join("sla").is_dir());
    assert!(
        stderr.contains(&format!(
            "the corpus and work copies are kept in {} and {}",
            corpus.display(),
            work.display()
        )),
        "{stderr}"
    );
}

#[test]
fn bench_ingest_compares_a_real_ingest_with_the_floor() {
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path().join("bench");
    // A PATH with the floor's shell tools but no sqlite3 CLI: the floor's SQL runs through the
    // bundled SQLite, on any machine.
    let tools = dir.path().join("tools");
    std::fs::create_dir_all(&tools).expect("tools dir");
    for tool in ["sh", "cp", "find", "xargs", "sha256sum"] {
        let found = std::env::split_paths(&std::env::var_os("PATH").expect("PATH"))
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{tool} is on every Linux"));
        std::os::unix::fs::symlink(found, tools.join(tool)).expect("link tool");
    }
    let output = Command::new(BIN)
        .args([
            "bench",
            "ingest",
            "--frames",
            "300",
            "--runs",
            "1",
            "--json",
            "--work",
            work.to_str().expect("utf8"),
        ])
        .env("TZ", "UTC")
        .env("PATH", &tools)
        .output()
        .expect("run autocapture-gates");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["frames"], 300);
    assert_eq!(report["floor_sql_engine"], "bundled");
    assert!(report["rows"].as_u64().unwrap_or(0) >= 300, "{report}");
    assert_eq!(report["media_files"], 300);
    assert!(report["ratio"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(report["peak_rss_mib"].as_f64().unwrap_or(0.0) > 1.0);
    assert_eq!(report["reingest_unchanged"], true, "{report}");
    // The floor really ran: its database holds every row.
    let conn = rusqlite::Connection::open(work.join("floor/metadata.db")).expect("floor db");
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM metadata", [], |r| r.get(0))
        .expect("count");
    assert_eq!(rows as u64, report["rows"].as_u64().unwrap_or(0));
}

#[test]
fn measure_reports_a_childs_exit_code_and_peak_rss() {
    // A child that holds a 64 MiB string and exits 3: the reading is its own, not the harness's.
    let output = run(&[
        "measure",
        "--",
        "sh",
        "-c",
        "x=$(head -c 67108864 /dev/zero | tr '\\0' a); exit 3",
    ]);
    assert!(output.status.success());
    let measured: autocapture_gates::probe::measure::Measured =
        serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(measured.exit_code, Some(3));
    assert!(
        measured.max_rss_mib() >= 64.0 && measured.max_rss_mib() < 512.0,
        "{measured:?}"
    );
}

#[test]
fn contract_check_reads_the_default_sister_and_refuses_a_drifted_one() {
    let ok = run(&["contract", "check"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let drifted = dir.path().join("hypervisor.md");
    std::fs::write(
        &drifted,
        format!(
            "| contract_version | schema_hash |\n|---|---|\n| 1.0.0 | {} |\n",
            "0".repeat(64)
        ),
    )
    .expect("write");
    let path = drifted.to_str().expect("utf-8 path");
    let refused = run(&["contract", "check", "--sister", path]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains(&"0".repeat(64)), "{stderr}");
    assert!(
        stderr.contains("error[contract_sister_mismatch]") && stderr.contains(path),
        "{stderr}"
    );
    // The same as one JSON document, with the code and the path at fault.
    let refused = run(&["contract", "check", "--sister", path, "--json"]);
    assert_eq!(refused.status.code(), Some(1));
    let document: serde_json::Value =
        serde_json::from_slice(refused.stdout.trim_ascii()).expect("one JSON document");
    assert_eq!(document["ok"], false);
    assert_eq!(document["sister"]["matches"], false);
    assert_eq!(document["problems"][0]["code"], "contract_sister_mismatch");
    assert_eq!(document["problems"][0]["path"], path);
    // … and, as every `--json` failure, the first as `error`, the code of the human line.
    assert_eq!(document["error"]["code"], "contract_sister_mismatch");
    assert_eq!(document["error"]["path"], path);
    let ok = run(&["contract", "check", "--json"]);
    let document: serde_json::Value =
        serde_json::from_slice(ok.stdout.trim_ascii()).expect("one JSON document");
    assert_eq!(document["ok"], true, "{document}");
    assert_eq!(document["problems"], serde_json::json!([]));
}

/// One exit-code table: both binaries print the same one under `--help`.
#[test]
fn both_binaries_print_the_same_exit_code_table() {
    let harness = std::path::Path::new(env!("CARGO_BIN_EXE_autocapture-gates"));
    let core = autocapture_gates::harness::bins::autocapture_beside(harness).expect("autocapture");
    for program in [harness, core.as_path()] {
        let output = std::process::Command::new(program)
            .arg("--help")
            .output()
            .expect("help");
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(
            help.contains(autocapture_core::cli::EXIT_CODES),
            "{}: {help}",
            program.display()
        );
    }
}
