//! One error style across both binaries: the real `autocapture-gates` and `autocapture` (built
//! beside it by `cargo build --workspace --bins`) run on a table of faults (missing files and
//! folders, a bad flag, a non-loopback target, corrupt and tampered inputs, a bad sister
//! document, an output folder that cannot be written) and each must print
//! `<binary>: error[code]: message (path)` on one line of stderr with its documented code and
//! exit code, name the path at fault, say the operating system's text at most once, and with
//! `--json` print exactly one document on stdout, `{"ok": false, "error": {"code", …}}`, with the
//! same code. The checker itself must refuse the old styles (planted lines).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use autocapture_gates::contract::workspace_root;
use autocapture_gates::harness::{bins, dsse, keys};
use serde_json::Value;

const GATES: &str = "autocapture-gates";
const CORE: &str = "autocapture";

fn binary(program: &str) -> PathBuf {
    let harness = PathBuf::from(env!("CARGO_BIN_EXE_autocapture-gates"));
    match program {
        GATES => harness,
        _ => bins::autocapture_beside(&harness).expect("autocapture beside the harness"),
    }
}

fn run(program: &str, args: &[String]) -> Output {
    Command::new(binary(program))
        .args(args)
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .env_remove("AUTOCAPTURE_CONFIG")
        .output()
        .expect("run the binary")
}

/// The code of the one error line of `stderr`, or what is wrong with its style: exactly one line
/// `PROGRAM: error[code]: message`, the code snake_case, a message after it, and no line in
/// another error style (`error: …`, `PROGRAM: error: …`, `… failed [code]`, `… refused [code]`).
fn error_code(program: &str, stderr: &str) -> Result<String, String> {
    let prefix = format!("{program}: error[");
    let mut codes = Vec::new();
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix(&prefix) {
            let (code, message) = rest
                .split_once("]: ")
                .ok_or_else(|| format!("no `]: ` after the code: {line:?}"))?;
            if code.is_empty()
                || !code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(format!("the code is not snake_case: {line:?}"));
            }
            if message.trim().is_empty() {
                return Err(format!("no message: {line:?}"));
            }
            codes.push(code.to_owned());
        } else if line.starts_with("error:")
            || line.starts_with(&format!("{program}: error"))
            || line.contains("failed [")
            || line.contains("refused [")
        {
            return Err(format!("an error line in another style: {line:?}"));
        }
    }
    match codes.as_slice() {
        [code] => Ok(code.clone()),
        [] => Err(format!("no `{prefix}code]: ` line in {stderr:?}")),
        _ => Err(format!("{} error lines in {stderr:?}", codes.len())),
    }
}

/// The operating system's error text said more than once (an I/O error quoted by its context
/// and then printed again as its cause).
fn os_text_repeated(text: &str) -> Option<String> {
    let phrases = [
        "(os error",
        "No such file or directory",
        "Not a directory",
        "Permission denied",
    ];
    phrases
        .iter()
        .find(|p| text.matches(*p).count() > 1)
        .map(|p| format!("{p:?} more than once in {text:?}"))
}

/// The one JSON document of `stdout`, or why it is not exactly one.
fn one_document(stdout: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(stdout).map_err(|e| e.to_string())?;
    if text.trim().lines().count() != 1 {
        return Err(format!("not one line on stdout: {text:?}"));
    }
    serde_json::from_str(text.trim()).map_err(|e| format!("not one JSON document ({e}): {text:?}"))
}

/// One fault: the binary and its arguments, the code and exit code it must give, the path the
/// error must name, and whether the command has `--json`.
struct Fault {
    program: &'static str,
    args: Vec<String>,
    code: &'static str,
    exit: i32,
    path: Option<PathBuf>,
    json: bool,
    /// Whether the `--json` error carries the path as `path` (else only its message names it).
    json_path: bool,
}

fn fault(program: &'static str, args: &[&str], code: &'static str, exit: i32) -> Fault {
    Fault {
        program,
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        code,
        exit,
        path: None,
        json: true,
        json_path: true,
    }
}

impl Fault {
    fn at(mut self, path: &Path) -> Fault {
        self.path = Some(path.to_path_buf());
        self
    }

    fn human_only(mut self) -> Fault {
        self.json = false;
        self
    }

    fn path_in_json_message_only(mut self) -> Fault {
        self.json_path = false;
        self
    }
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// A validly signed envelope with one signature byte changed, and the signer's public key.
fn tampered_envelope(dir: &Path) -> (PathBuf, PathBuf) {
    let key_path = dir.join("signer.key");
    let (public, _) = keys::keygen(&key_path).expect("keygen");
    let key = keys::load_signing(&key_path).expect("key");
    let body = br#"{"_type": "https://in-toto.io/Statement/v1", "subject": []}"#;
    let mut envelope = serde_json::to_value(dsse::sign(body, &key)).expect("envelope");
    let sig = envelope["signatures"][0]["sig"]
        .as_str()
        .expect("a signature")
        .to_owned();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    envelope["signatures"][0]["sig"] = Value::from(format!("{flipped}{}", &sig[1..]));
    let path = dir.join("tampered.dsse.json");
    std::fs::write(&path, envelope.to_string()).expect("write the envelope");
    (path, public)
}

#[test]
fn every_fault_is_reported_the_one_way() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let missing_file = d.join("not here.json");
    let missing_dir = d.join("no such folder");
    let corrupt = d.join("corrupt.json");
    std::fs::write(&corrupt, "{not json").expect("write");
    // A folder under a regular file cannot be created, not even by root.
    let unwritable = corrupt.join("out");
    let (tampered, public) = tampered_envelope(d);
    let out = d.join("run-out");
    let existing_key = d.join("signer.key");
    let profile = workspace_root()
        .expect("a checkout")
        .join("fixtures/sla/deployment.json");
    let (mf, md, c, u, o) = (
        s(&missing_file),
        s(&missing_dir),
        s(&corrupt),
        s(&unwritable),
        s(&out),
    );

    let faults = [
        // autocapture-gates
        fault(GATES, &["run", "--bogus"], "usage", 2),
        fault(
            GATES,
            &["run", "--target", "http://10.1.2.3:8787", "--out", o],
            "target_invalid",
            2,
        ),
        fault(
            GATES,
            &["run", "--gate", "nope", "--out", o],
            "gate_unknown",
            2,
        ),
        fault(GATES, &["run", "--out", u], "out_unwritable", 2).at(&unwritable),
        fault(
            GATES,
            &["run", "--out", o, "--scratch", u],
            "scratch_unwritable",
            2,
        )
        .at(&unwritable),
        fault(
            GATES,
            &["sla", "estimate", "--input", mf],
            "sla_input_unreadable",
            1,
        )
        .at(&missing_file),
        fault(
            GATES,
            &["sla", "estimate", "--input", c],
            "sla_input_not_json",
            1,
        )
        .at(&corrupt),
        fault(
            GATES,
            &["sla", "estimate", "--input", s(&profile), "--now", "noon"],
            "time_invalid",
            2,
        ),
        fault(
            GATES,
            &["verify", s(&tampered), "--public-key", s(&public)],
            "envelope_signature_invalid",
            4,
        )
        .at(&tampered),
        fault(
            GATES,
            &["verify", mf, "--public-key", s(&public)],
            "verify_usage",
            2,
        )
        .at(&missing_file),
        fault(
            GATES,
            &["verify", s(&tampered), "--public-key", mf],
            "verify_usage",
            2,
        )
        .at(&missing_file),
        fault(
            GATES,
            &["contract", "check", "--sister", c],
            "sister_invalid",
            1,
        )
        .at(&corrupt),
        fault(
            GATES,
            &["contract", "check", "--sister", mf],
            "sister_unreadable",
            1,
        )
        .at(&missing_file),
        fault(GATES, &["fuzz", "--out", u], "out_unwritable", 2).at(&unwritable),
        fault(GATES, &["soak", "--out", u], "out_unwritable", 2).at(&unwritable),
        fault(
            GATES,
            &["golden", "--cases", mf, "--out", o],
            "input_missing",
            2,
        )
        .at(&missing_file)
        .human_only(),
        fault(
            GATES,
            &["golden", "--corpus", md, "--out", o],
            "input_missing",
            2,
        )
        .at(&missing_dir)
        .human_only(),
        fault(
            GATES,
            &["golden", "--target", "http://10.1.2.3:8787", "--out", o],
            "target_invalid",
            2,
        )
        .human_only(),
        fault(
            GATES,
            &["fixtures", "generate", "--out", u],
            "out_unwritable",
            2,
        )
        .at(&unwritable)
        .human_only(),
        fault(
            GATES,
            &["fixtures", "generate", "--out", o, "--story", c],
            "story_invalid",
            2,
        )
        .at(&corrupt)
        .human_only(),
        fault(
            GATES,
            &["keygen", "--out", s(&existing_key)],
            "key_exists",
            2,
        )
        .at(&existing_key)
        .human_only(),
        fault(
            GATES,
            &["bench", "query", "--data-dir", md],
            "data_dir_missing",
            2,
        )
        .at(&missing_dir)
        .human_only(),
        // autocapture
        fault(
            CORE,
            &["handoff", "ingest", "--handoff-root", md, "--data-dir", o],
            "handoff_root_missing",
            1,
        )
        .at(&missing_dir),
        fault(
            CORE,
            &["handoff", "drain", "--spool-root", md, "--data-dir", o],
            "spool_unreadable",
            1,
        )
        .at(&missing_dir),
        fault(
            CORE,
            &["query", "--data-dir", md, "what was I doing at 10:00?"],
            "data_dir_missing",
            2,
        )
        .at(&missing_dir),
        fault(
            CORE,
            &["stage1", "audit", "--data-dir", md],
            "data_dir_missing",
            2,
        )
        .at(&missing_dir),
        fault(
            CORE,
            &["--config", mf, "contract", "show"],
            "config_unreadable",
            2,
        )
        .at(&missing_file),
        fault(
            CORE,
            &["export", "verify", md],
            "export_bundle_unreadable",
            2,
        )
        .at(&missing_dir)
        // Its JSON names the bundle in the message only (no `path` member yet).
        .path_in_json_message_only(),
    ];

    let mut wrong = Vec::new();
    for fault in &faults {
        let what = format!("{} {}", fault.program, fault.args.join(" "));
        let output = run(fault.program, &fault.args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let mut problems = Vec::new();
        if output.status.code() != Some(fault.exit) {
            problems.push(format!(
                "exit {:?}, not {}",
                output.status.code(),
                fault.exit
            ));
        }
        match error_code(fault.program, &stderr) {
            Ok(code) if code == fault.code => {}
            Ok(code) => problems.push(format!("code {code}, not {}", fault.code)),
            Err(e) => problems.push(e),
        }
        if let Some(path) = &fault.path {
            let line = stderr
                .lines()
                .find(|l| l.contains(": error["))
                .unwrap_or_default();
            if !line.contains(s(path)) {
                problems.push(format!("the error line does not name {}", path.display()));
            }
        }
        problems.extend(os_text_repeated(&stderr));
        if !output.stdout.is_empty() {
            problems.push(format!(
                "stdout without --json: {}",
                String::from_utf8_lossy(&output.stdout)
            ));
        }
        if fault.json {
            let mut args = fault.args.clone();
            // `query` takes the rest of the line as the question: the flag goes before it.
            let at = if args[0] == "query" {
                args.len() - 1
            } else {
                args.len()
            };
            args.insert(at, "--json".into());
            let output = run(fault.program, &args);
            if output.status.code() != Some(fault.exit) {
                problems.push(format!("--json: exit {:?}", output.status.code()));
            }
            match one_document(&output.stdout) {
                Ok(document) => {
                    if document["ok"] != Value::Bool(false) {
                        problems.push(format!("--json: ok is not false: {document}"));
                    }
                    if document["error"]["code"] != fault.code {
                        problems.push(format!("--json: another code: {document}"));
                    }
                    if !document["error"]["message"].is_string() {
                        problems.push(format!("--json: no message: {document}"));
                    }
                    let message = document["error"]["message"].as_str().unwrap_or_default();
                    if let Some(path) = &fault.path
                        && !(document["error"]["path"] == s(path)
                            || !fault.json_path && message.contains(s(path)))
                    {
                        problems.push(format!(
                            "--json: path is not {}: {document}",
                            path.display()
                        ));
                    }
                    problems.extend(
                        os_text_repeated(document["error"]["message"].as_str().unwrap_or_default())
                            .map(|p| format!("--json: {p}")),
                    );
                }
                Err(e) => problems.push(format!("--json: {e}")),
            }
        }
        if !problems.is_empty() {
            wrong.push(format!(
                "{what}:\n    {}\n    stderr: {stderr}",
                problems.join("\n    ")
            ));
        }
    }
    assert!(
        !out.exists(),
        "a refused run, golden or generate wrote nothing into --out"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The checks above can fail: the old styles, a bad code, two error lines, a repeated OS error
/// and a second document on stdout are each refused.
#[test]
fn planted_violations_of_the_style_are_caught() {
    let planted = [
        (
            GATES,
            "autocapture-gates: error: read /nope.json: No such file or directory",
        ),
        (
            GATES,
            "autocapture-gates: sla estimate failed [sla_input_unreadable]: read /nope.json",
        ),
        (
            GATES,
            "autocapture-gates: verify refused [verify_usage]: read key /k",
        ),
        (GATES, "signoff refused: no release key"),
        (
            GATES,
            "error: unexpected argument '--bogus' found\n\nUsage: autocapture-gates <COMMAND>",
        ),
        (GATES, "autocapture-gates: error[Bad-Code]: something"),
        (GATES, "autocapture-gates: error[code]:"),
        (
            GATES,
            "autocapture-gates: error[a]: one\nautocapture-gates: error[b]: two",
        ),
        (CORE, "autocapture-gates: error[a]: the other binary's line"),
        (CORE, "sister_unreadable: /x: gone"),
    ];
    for (program, stderr) in planted {
        assert!(
            error_code(program, stderr).is_err(),
            "the checker accepted {stderr:?}"
        );
    }
    assert_eq!(
        error_code(
            GATES,
            "autocapture-gates: error[sla_input_unreadable]: read /n: gone\n"
        ),
        Ok("sla_input_unreadable".to_owned())
    );
    assert!(
        os_text_repeated(
            "autocapture-gates: error: sister_unreadable: /nope.json: No such file or directory (os error 2): No such file or directory (os error 2)"
        )
        .is_some()
    );
    assert!(one_document(b"{\"ok\":false}\n{\"ok\":false}\n").is_err());
    assert!(one_document(b"{\"ok\":false,\"error\":{\"code\":\"x\"}}\n").is_ok());
}
