//! The hostile handoff corpus, one named trial per case of `fixtures/hostile/`: each gives its
//! documented code, leaves no marker where none may be, keeps the DataRoot as documented and
//! does not panic. Planted violations prove the judging can fail: a wrong documented code, a
//! DataRoot that changes under an error case, a child killed by a signal, and a gate part
//! reporting a failing case.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use autocapture_gates::gates::hostile_gate::{HostileGate, MIN_CORPUS_CASES, judge};
use autocapture_gates::harness::gate::{Gate, GateContext, GateOutcome, Verdict};
use autocapture_gates::hostile::corpus::{Base, CaseSpec, Programs, default_dir, load, run_case};
use autocapture_gates::hostile::{CaseReport, Family};
use libtest_mimic::{Arguments, Failed, Trial};

const HARNESS: &str = env!("CARGO_BIN_EXE_autocapture-gates");

struct Shared {
    dir: tempfile::TempDir,
    base: Base,
    programs: Programs,
}

fn setup() -> anyhow::Result<Shared> {
    // On the target's disk: one case copies a snapshot of a million nodes.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    let base = Base::build(&dir.path().join("base"), 11)?;
    let programs = Programs {
        autocapture: autocapture_gates::harness::bins::autocapture_beside(Path::new(HARNESS))?,
        harness: PathBuf::from(HARNESS),
    };
    Ok(Shared {
        dir,
        base,
        programs,
    })
}

fn run(shared: &Shared, case: &CaseSpec, folder: &str) -> Result<CaseReport, Failed> {
    run_case(
        case,
        &shared.base,
        &shared.programs,
        &shared.dir.path().join(folder),
    )
    .map_err(|e| format!("{e:#}").into())
}

fn spec(text: &str) -> CaseSpec {
    let mut cases = toml_cases(text);
    cases.remove(0)
}

fn toml_cases(text: &str) -> Vec<CaseSpec> {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("c.toml"), text).expect("write");
    load(dir.path()).expect("load")
}

fn main() {
    let args = Arguments::from_args();
    let specs = match load(&default_dir().expect("a checkout")) {
        Ok(specs) => specs,
        Err(e) => {
            eprintln!("load the hostile corpus: {e:#}");
            std::process::exit(101);
        }
    };
    let shared = match setup() {
        Ok(shared) => Arc::new(shared),
        Err(e) => {
            eprintln!("build the hostile base: {e:#}");
            std::process::exit(101);
        }
    };
    let mut trials: Vec<Trial> = specs
        .into_iter()
        .map(|case| {
            let shared = shared.clone();
            Trial::test(format!("corpus::{}", case.name), move || {
                let report = run(&shared, &case, "cases")?;
                if report.passed() {
                    let copies = shared.dir.path().join("cases").join(&case.name);
                    std::fs::remove_dir_all(&copies)
                        .map_err(|e| format!("remove {}: {e}", copies.display()).into())
                } else {
                    Err(format!("{report:#?}").into())
                }
            })
        })
        .collect();
    trials.push(Trial::test(
        "the_corpus_has_at_least_30_cases_counted_in_its_files",
        corpus_count,
    ));
    let s = shared.clone();
    trials.push(Trial::test(
        "planted_wrong_documented_code_fails_naming_the_case",
        move || planted_wrong_code(&s),
    ));
    let s = shared.clone();
    trials.push(Trial::test(
        "planted_data_root_change_under_an_error_case_fails",
        move || planted_data_root_change(&s),
    ));
    let s = shared.clone();
    trials.push(Trial::test(
        "planted_marker_whose_handoff_media_differs_breaks_the_promise",
        move || planted_broken_promise(&s),
    ));
    let s = shared.clone();
    trials.push(Trial::test(
        "planted_child_killed_by_a_signal_counts_as_a_panic",
        move || planted_signal(&s),
    ));
    trials.push(Trial::test(
        "the_gate_fails_on_a_failing_case_of_any_part",
        gate_fails_on_a_failing_part,
    ));
    trials.push(Trial::test(
        "the_gate_is_registered_at_its_plan_position",
        registered,
    ));
    trials.push(Trial::test(
        "docs_hostile_md_lists_every_case_with_its_code",
        doc_lists_every_case,
    ));
    libtest_mimic::run(&args, trials).exit();
}

fn corpus_count() -> Result<(), Failed> {
    let mut in_files = 0;
    for entry in std::fs::read_dir(default_dir().expect("a checkout")).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|x| x == "toml") {
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            in_files += text.lines().filter(|l| l.trim() == "[[case]]").count();
        }
    }
    let loaded = load(&default_dir().expect("a checkout"))
        .map_err(|e| format!("{e:#}"))?
        .len();
    if loaded != in_files || loaded < MIN_CORPUS_CASES {
        return Err(format!("{in_files} [[case]] tables in the files, {loaded} loaded").into());
    }
    Ok(())
}

fn planted_wrong_code(shared: &Shared) -> Result<(), Failed> {
    let case = spec(
        r#"[[case]]
name = "planted_wrong_code"
why = "a truncated database documented with the wrong code"
damage = "truncate"
path = "metadata.db"
keep_bytes = 60
expect = "media_ref_unsafe"
"#,
    );
    let report = run(shared, &case, "planted")?;
    if report.passed() || report.observed != "handoff_metadata_corrupt" {
        return Err(format!("the wrong code was not caught: {report:#?}").into());
    }
    let mut outcome = GateOutcome::default();
    judge(&[report], &mut outcome);
    expect_failing_check(&outcome, "corpus: planted_wrong_code")
}

fn planted_data_root_change(shared: &Shared) -> Result<(), Failed> {
    // An undamaged handoff ingests: declared as an error case, the changed DataRoot and the
    // marker must both show.
    let case = spec(
        r#"[[case]]
name = "planted_changed_data_root"
why = "an ingest that succeeds, judged as a failure that must change nothing"
damage = "none"
expect = "ok"
"#,
    );
    let report = run(shared, &case, "planted")?;
    if report.passed()
        || !report.observed.contains("+data_root_changed")
        || !report.observed.contains("+marker")
    {
        return Err(format!("the changed DataRoot was not caught: {report:#?}").into());
    }
    Ok(())
}

fn planted_broken_promise(shared: &Shared) -> Result<(), Failed> {
    // The real ingest runs and writes its marker; then one media file of the handoff is
    // replaced by other bytes. The DataRoot loses nothing, so only the promise check can see it.
    let script = shared.dir.path().join("ingest-then-replace-media.sh");
    let body = format!(
        r#"#!/bin/sh
"{real}" "$@"
status=$?
while [ $# -gt 0 ]; do
  if [ "$1" = --handoff-root ]; then handoff="$2"; fi
  shift
done
file=$(find "$handoff/media" -type f | sort | head -n 1)
rm "$file" && printf planted > "$file"
exit $status
"#,
        real = shared.programs.autocapture.display()
    );
    let report = run_with_script(
        shared,
        &script,
        &body,
        r#"[[case]]
name = "planted_broken_promise"
why = "a marker written while a media file of the handoff is not the DataRoot's"
damage = "none"
outcome = "ok"
expect = "ok"
"#,
    )?;
    if report.passed()
        || report.observed != "ok +promise_broken"
        || report.data_lost != 0
        || !report
            .detail
            .contains("not in the DataRoot with the same bytes")
    {
        return Err(format!("the broken promise was not caught: {report:#?}").into());
    }
    Ok(())
}

/// Runs the one case `case_toml` with `body` written to `script` standing in for `autocapture`.
fn run_with_script(
    shared: &Shared,
    script: &Path,
    body: &str,
    case_toml: &str,
) -> Result<CaseReport, Failed> {
    std::fs::write(script, body).map_err(|e| e.to_string())?;
    std::fs::set_permissions(script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    let programs = Programs {
        autocapture: script.to_path_buf(),
        harness: PathBuf::from(HARNESS),
    };
    run_case(
        &spec(case_toml),
        &shared.base,
        &programs,
        &shared.dir.path().join("planted"),
    )
    .map_err(|e| format!("{e:#}").into())
}

fn planted_signal(shared: &Shared) -> Result<(), Failed> {
    let script = shared.dir.path().join("dies-by-signal.sh");
    let report = run_with_script(
        shared,
        &script,
        "#!/bin/sh\nkill -SEGV $$\n",
        r#"[[case]]
name = "planted_signal"
why = "the program dies by SIGSEGV"
damage = "none"
outcome = "ok"
expect = "ok"
"#,
    )?;
    if report.panics != 1 || report.passed() {
        return Err(format!("the signal was not counted: {report:#?}").into());
    }
    Ok(())
}

fn gate_fails_on_a_failing_part() -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ctx = GateContext::new(dir.path().join("none"), dir.path().to_path_buf());
    let cases = |lost: u64| -> Vec<CaseReport> {
        (0..MIN_CORPUS_CASES)
            .map(|i| CaseReport {
                family: Family::Corpus,
                name: format!("c{i}"),
                expected: "x".into(),
                observed: "x".into(),
                inputs: 1,
                data_lost: 0,
                panics: 0,
                detail: String::new(),
            })
            .chain([CaseReport {
                family: Family::Security,
                name: "token_compare".into(),
                expected: "ok".into(),
                observed: "ok".into(),
                inputs: 1,
                data_lost: lost,
                panics: 0,
                detail: "planted".into(),
            }])
            .collect()
    };
    let passing = HostileGate {
        parts: vec![("planted", Box::new(move |_: &GateContext| Ok(cases(0))))],
    };
    let outcome = passing.run(&ctx).map_err(|e| format!("{e:#}"))?;
    if outcome.verdict() != Verdict::Pass || outcome.measurements["security_cases"] != 1 {
        return Err(format!("{:#?}", outcome.evidence).into());
    }
    let failing = HostileGate {
        parts: vec![("planted", Box::new(move |_: &GateContext| Ok(cases(2))))],
    };
    let outcome = failing.run(&ctx).map_err(|e| format!("{e:#}"))?;
    if outcome.measurements["data_lost"] != 2 {
        return Err(format!("{:#?}", outcome.measurements).into());
    }
    expect_failing_check(&outcome, "security: token_compare")?;
    let empty = HostileGate {
        parts: vec![("empty", Box::new(|_: &GateContext| Ok(Vec::new())))],
    };
    let outcome = empty.run(&ctx).map_err(|e| format!("{e:#}"))?;
    expect_failing_check(&outcome, "part empty tried cases")
}

fn expect_failing_check(outcome: &GateOutcome, name: &str) -> Result<(), Failed> {
    if outcome.verdict() == Verdict::Fail
        && outcome.checks.iter().any(|c| c.name == name && !c.passed)
    {
        Ok(())
    } else {
        Err(format!("no failing check {name:?}: {:#?}", outcome.checks).into())
    }
}

fn registered() -> Result<(), Failed> {
    let names: Vec<&str> = autocapture_gates::gates::registry()
        .iter()
        .map(|g| g.name())
        .collect();
    let plan: Vec<&str> = autocapture_gates::gates::PLAN
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| names.contains(name))
        .collect();
    if names.contains(&"hostile") && names == plan {
        Ok(())
    } else {
        Err(format!("registry {names:?} is not in plan order {plan:?}").into())
    }
}

/// `docs/hostile.md` lists every case of the corpus with its documented code.
fn doc_lists_every_case() -> Result<(), Failed> {
    let doc = std::fs::read_to_string(
        autocapture_gates::contract::workspace_root()
            .expect("a checkout")
            .join("docs/hostile.md"),
    )
    .map_err(|e| e.to_string())?;
    let specs = load(&default_dir().expect("a checkout")).map_err(|e| format!("{e:#}"))?;
    let missing: Vec<String> = specs
        .iter()
        .filter(|case| {
            !doc.lines().any(|line| {
                line.starts_with(&format!("| `{}` |", case.name))
                    && line.contains(&format!("| `{}` |", case.expect))
            })
        })
        .map(|case| format!("{} ({})", case.name, case.expect))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("docs/hostile.md does not list: {missing:?}").into())
    }
}
