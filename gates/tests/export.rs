//! Export on a generated, ingested and indexed corpus: bundles verify and validate against
//! their schemas, are byte-identical for the same input, keep the ids that citations name, leave
//! the DataRoot's digest unchanged, and fail verification when any byte of any file changes or a
//! file is deleted or added.

use std::fs;
use std::path::{Path, PathBuf};

use autocapture_core::base::clock::SteppingClock;
use autocapture_core::export::{self, ExportOptions, Rules, Selection};
use autocapture_core::store::DataRoot;
use autocapture_gates::contract::{default_contracts_dir, schemas::ContractSet};
use autocapture_gates::corpus::build::{BUILD_TIME, indexed};
use autocapture_gates::corpus::digest::digest;
use serde_json::Value;

fn clock() -> SteppingClock {
    SteppingClock::new(BUILD_TIME, time::Duration::ZERO)
}

fn run_export(
    data: &DataRoot,
    out: &Path,
    selection: Selection,
    media: bool,
) -> export::ExportReport {
    export::export(
        data,
        out,
        &ExportOptions {
            selection,
            include_media: media,
            rules: Rules::default(),
        },
        &clock(),
    )
    .expect("export")
}

fn files(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("list") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files(&path, base, out);
        } else {
            out.push(path.strip_prefix(base).expect("inside").to_path_buf());
        }
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).expect("read")).expect("json")
}

fn ids(ndjson: &Path) -> Vec<String> {
    fs::read_to_string(ndjson)
        .expect("records")
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("line")["id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect()
}

#[test]
fn bundles_from_a_generated_corpus_verify_validate_and_change_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (data, _) = indexed(dir.path(), 7, 600, 3).expect("indexed DataRoot");
    let contracts =
        ContractSet::load(&default_contracts_dir().expect("a checkout")).expect("contracts");
    let before = digest(&data.root).expect("digest");

    let question = "what was focused at 10:20:10";
    let by_query = dir.path().join("by-query");
    let report = run_export(
        &data,
        &by_query,
        Selection::Query {
            text: question.into(),
            max_citations: 32,
        },
        true,
    );
    assert!(
        report.counts.metadata_records > 0 && report.counts.media_files > 0,
        "{report:?}"
    );
    let by_range = dir.path().join("by-range");
    run_export(
        &data,
        &by_range,
        Selection::TimeRange {
            from: "2026-02-20T09:00:00Z".into(),
            to: "2026-02-20T09:30:00Z".into(),
        },
        false,
    );
    for bundle in [&by_query, &by_range] {
        let verified = export::verify_bundle(bundle).expect("readable");
        assert!(verified.ok, "{:?}", verified.problems);
        let manifest = read_json(&bundle.join("manifest.json"));
        let violations = contracts
            .validate("export-manifest", &manifest)
            .expect("validate");
        assert!(violations.is_empty(), "{violations:#?}");
        let rules = read_json(&bundle.join("rules.json"));
        let violations = contracts
            .validate("export-rules", &rules)
            .expect("validate");
        assert!(violations.is_empty(), "{violations:#?}");
    }
    assert_eq!(
        digest(&data.root).expect("digest"),
        before,
        "the DataRoot is unchanged"
    );

    // Citations resolve inside the bundle: every cited id is one of its records.
    let mut bundle_ids = ids(&by_query.join("records/metadata.ndjson"));
    bundle_ids.extend(ids(&by_query.join("records/derived.ndjson")));
    let answer = read_json(&by_query.join("answer.json"));
    let citations = answer["citations"].as_array().expect("citations");
    assert!(!citations.is_empty(), "{answer}");
    for citation in citations {
        for key in ["record_id", "frame_id", "doc_id"] {
            if let Some(id) = citation[key].as_str() {
                assert!(
                    bundle_ids.iter().any(|b| b == id),
                    "{key} {id} not in the bundle"
                );
            }
        }
    }
    assert_eq!(answer["query"], question);

    // The same export again is byte-identical.
    let again = dir.path().join("again");
    let second = run_export(
        &data,
        &again,
        Selection::Query {
            text: question.into(),
            max_citations: 32,
        },
        true,
    );
    assert_eq!(second.bundle_digest, report.bundle_digest);
    assert_eq!(
        fs::read(again.join("manifest.json")).expect("manifest"),
        fs::read(by_query.join("manifest.json")).expect("manifest")
    );
}

#[test]
fn any_changed_byte_and_any_missing_or_extra_file_fails_verification() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (data, _) = indexed(dir.path(), 7, 300, 1).expect("indexed DataRoot");
    let bundle = dir.path().join("bundle");
    run_export(
        &data,
        &bundle,
        Selection::TimeRange {
            from: "2026-02-20T09:00:00Z".into(),
            to: "2026-02-20T09:10:00Z".into(),
        },
        true,
    );
    let mut all = Vec::new();
    files(&bundle, &bundle, &mut all);
    all.sort();
    assert!(all.iter().any(|p| p.starts_with("media")), "{all:?}");
    for relpath in &all {
        let path = bundle.join(relpath);
        let original = fs::read(&path).expect("read");
        for position in [0, original.len() / 3, original.len() - 1] {
            let mut changed = original.clone();
            changed[position] = changed[position].wrapping_add(1);
            fs::write(&path, &changed).expect("tamper");
            let report = export::verify_bundle(&bundle).expect("readable");
            assert!(
                !report.ok,
                "{relpath:?} byte {position} changed but verified"
            );
        }
        fs::write(&path, &original).expect("restore");
        fs::remove_file(&path).expect("delete");
        assert!(
            !export::verify_bundle(&bundle).expect("readable").ok,
            "{relpath:?} deleted"
        );
        fs::write(&path, &original).expect("restore");
    }
    assert!(export::verify_bundle(&bundle).expect("readable").ok);
    fs::create_dir_all(bundle.join("media/extra")).expect("mkdir");
    fs::write(bundle.join("media/extra/x.blob"), b"x").expect("add");
    let report = export::verify_bundle(&bundle).expect("readable");
    assert_eq!(
        report
            .problems
            .iter()
            .map(|p| (p.code, p.path.as_str()))
            .collect::<Vec<_>>(),
        vec![("export_file_unlisted", "media/extra/x.blob")]
    );
}
