//! Data-driven contract checks: one trial per fixture under `fixtures/contracts/<stem>/` (valid
//! ones must pass their schema, invalid ones must fail it), plus the whole-contract checks
//! (coverage, annotations, lock, generated doc), each with a planted violation it must catch.

use std::path::{Path, PathBuf};

use autocapture_gates::contract::{
    annotations, default_contracts_dir, doc, lock, schemas::ContractSet, workspace_root,
};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    workspace_root()
        .expect("a checkout")
        .join("fixtures")
        .join("contracts")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn read_json(path: &Path) -> Result<Value, Failed> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("parse {}: {e}", path.display()).into())
}

/// A fixture must pass (`expect_valid`) or fail its schema.
fn check_fixture(
    set: &ContractSet,
    stem: &str,
    path: &Path,
    expect_valid: bool,
) -> Result<(), Failed> {
    let instance = read_json(path)?;
    let violations = set.validate(stem, &instance).map_err(|e| e.to_string())?;
    match (expect_valid, violations.is_empty()) {
        (true, false) => Err(format!("valid fixture rejected: {violations:#?}").into()),
        (false, true) => Err("invalid fixture accepted".into()),
        _ => Ok(()),
    }
}

fn coverage(set: &ContractSet) -> Result<(), Failed> {
    let mut missing = Vec::new();
    for stem in set.stems() {
        for kind in ["valid", "invalid"] {
            if json_files(&fixtures_dir().join(stem).join(kind)).is_empty() {
                missing.push(format!("{stem}/{kind}"));
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("schemas without fixtures: {missing:?}").into())
    }
}

fn annotations_complete(set: &ContractSet) -> Result<(), Failed> {
    let problems: Vec<_> = set
        .docs
        .values()
        .flat_map(|d| annotations::check(&d.file_name, &d.value))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{problems:#?}").into())
    }
}

/// Removing one annotation deep inside the frame schema must be reported at its pointer.
fn annotations_planted(set: &ContractSet) -> Result<(), Failed> {
    let mut frame = set
        .docs
        .get("frame")
        .ok_or("no frame schema")?
        .value
        .clone();
    let pointer = "/properties/window_ref/properties/window/properties/title";
    let title = frame
        .pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .ok_or("frame schema lacks window_ref.window.title")?;
    title.remove("x-failure");
    let problems = annotations::check("frame.schema.json", &frame);
    let got: Vec<_> = problems
        .iter()
        .map(|p| (p.pointer.as_str(), p.problem.as_str()))
        .collect();
    if got == vec![(pointer, "missing x-failure")] {
        Ok(())
    } else {
        Err(format!("planted gap reported as {got:?}").into())
    }
}

fn lock_fresh() -> Result<(), Failed> {
    let problems =
        lock::check(&default_contracts_dir().expect("a checkout")).map_err(|e| e.to_string())?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{problems:#?}\nrun `cargo run -p autocapture-gates -- contract lock` after a deliberate contract change").into())
    }
}

/// A copy of the contracts with one field of one schema changed must be reported stale three
/// ways, and the doc check must name the field.
fn lock_planted() -> Result<(), Failed> {
    let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(default_contracts_dir().expect("a checkout"))
        .map_err(|e| e.to_string())?
    {
        let path = entry.map_err(|e| e.to_string())?.path();
        if let (Some(name), true) = (path.file_name(), path.is_file()) {
            std::fs::copy(&path, temp.path().join(name)).map_err(|e| e.to_string())?;
        }
    }
    let target = temp.path().join("activity-signal.schema.json");
    let mut schema = read_json(&target)?;
    schema["properties"]["seq"]["x-validation"] = Value::String("any integer".into());
    std::fs::write(
        &target,
        serde_json::to_string_pretty(&schema).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let problems = lock::check(temp.path()).map_err(|e| e.to_string())?;
    let has = |needle: &str| problems.iter().any(|p| p.contains(needle));
    if !(has("activity-signal.schema.json changed")
        && has("schema_hash")
        && has("rebuild")
        && has("no compatible row"))
    {
        return Err(format!("planted change reported as {problems:#?}").into());
    }
    let drifted = ContractSet::load(temp.path()).map_err(|e| e.to_string())?;
    let computed = lock::compute(temp.path()).map_err(|e| e.to_string())?;
    let committed =
        std::fs::read_to_string(workspace_root().expect("a checkout").join(doc::DOC_PATH))
            .map_err(|e| e.to_string())?;
    let rendered = doc::regenerate(&drifted, &computed, &committed)?;
    match doc::staleness(&committed, &rendered) {
        Some(problem) if problem.contains("(activity_signal.json): seq") => Ok(()),
        other => Err(format!("the drifted field was not named: {other:?}").into()),
    }
}

fn doc_fresh(set: &ContractSet) -> Result<(), Failed> {
    let computed =
        lock::compute(&default_contracts_dir().expect("a checkout")).map_err(|e| e.to_string())?;
    let committed =
        std::fs::read_to_string(workspace_root().expect("a checkout").join(doc::DOC_PATH))
            .map_err(|e| e.to_string())?;
    let rendered = doc::regenerate(set, &computed, &committed)?;
    if let Some(problem) = doc::staleness(&committed, &rendered) {
        return Err(problem.into());
    }
    // Every annotated field appears in the doc, so a stale doc cannot hide a field.
    for d in set.docs.values() {
        for property in annotations::properties(&d.value) {
            if !committed.contains(&format!("| `{}` |", property.field.replace('|', "\\|"))) {
                return Err(format!(
                    "{}: field {} missing from the doc",
                    d.file_name, property.field
                )
                .into());
            }
        }
    }
    Ok(())
}

/// A doc with an edited table row, or without its marker line, is reported.
fn doc_planted(set: &ContractSet) -> Result<(), Failed> {
    let computed =
        lock::compute(&default_contracts_dir().expect("a checkout")).map_err(|e| e.to_string())?;
    let committed =
        std::fs::read_to_string(workspace_root().expect("a checkout").join(doc::DOC_PATH))
            .map_err(|e| e.to_string())?;
    let edited = committed.replacen("| `ts_utc` |", "| `ts` |", 1);
    let rendered = doc::regenerate(set, &computed, &edited)?;
    if doc::staleness(&edited, &rendered).is_none() {
        return Err("an edited field table was not reported stale".into());
    }
    let unmarked = committed.replace(doc::MARKER, "");
    if doc::regenerate(set, &computed, &unmarked).is_ok() {
        return Err("a doc without its marker line was accepted".into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let set = match ContractSet::load(&default_contracts_dir().expect("a checkout")) {
        Ok(set) => std::sync::Arc::new(set),
        Err(e) => {
            eprintln!("load contracts: {e:#}");
            std::process::exit(101);
        }
    };
    let mut trials = Vec::new();
    for stem in set.stems().map(str::to_owned).collect::<Vec<_>>() {
        for (kind, expect_valid) in [("valid", true), ("invalid", false)] {
            for path in json_files(&fixtures_dir().join(&stem).join(kind)) {
                let name = format!(
                    "{stem}::{kind}::{}",
                    path.file_stem()
                        .map(|s| s.to_string_lossy())
                        .unwrap_or_default()
                );
                let (set, stem) = (set.clone(), stem.clone());
                trials.push(Trial::test(name, move || {
                    check_fixture(&set, &stem, &path, expect_valid)
                }));
            }
        }
    }
    let fixture_trials = trials.len();
    let s = set.clone();
    trials.push(Trial::test(
        "contract::every_schema_has_valid_and_invalid_fixtures",
        move || coverage(&s),
    ));
    let s = set.clone();
    trials.push(Trial::test(
        "contract::every_property_annotated",
        move || annotations_complete(&s),
    ));
    let s = set.clone();
    trials.push(Trial::test(
        "contract::planted_missing_annotation_is_caught",
        move || annotations_planted(&s),
    ));
    trials.push(Trial::test("contract::lock_is_fresh", lock_fresh));
    trials.push(Trial::test(
        "contract::planted_schema_change_makes_lock_stale",
        lock_planted,
    ));
    let s = set.clone();
    trials.push(Trial::test("contract::generated_doc_is_fresh", move || {
        doc_fresh(&s)
    }));
    let s = set.clone();
    trials.push(Trial::test(
        "contract::planted_stale_doc_is_caught",
        move || doc_planted(&s),
    ));
    if fixture_trials == 0 {
        eprintln!(
            "no contract fixtures found under {}",
            fixtures_dir().display()
        );
        std::process::exit(101);
    }
    libtest_mimic::run(&args, trials).exit();
}
