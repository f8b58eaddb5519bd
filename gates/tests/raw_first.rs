//! The `raw-first` gate's two checks on planted violations: a payload rewritten (and a row
//! added, and a media byte changed) in a copy of an ingested and indexed DataRoot fails the
//! byte comparison with the record named, and each fixture source tree under
//! `fixtures/module-graph/` fails the module-graph check, while `core/src` passes it.

use std::path::PathBuf;

use autocapture_core::store::DataRoot;
use autocapture_gates::contract::workspace_root;
use autocapture_gates::corpus::build::{indexed, spool};
use autocapture_gates::corpus::copies::copy_tree;
use autocapture_gates::gates::raw_first_gate::{check_raw, raw_mismatches, sanitize_violations};
use autocapture_gates::harness::gate::{GateOutcome, Verdict};
use rusqlite::Connection;

#[test]
fn a_planted_payload_rewrite_fails_the_gate_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (data, _) = indexed(dir.path(), 7, 300, 2).expect("indexed DataRoot");
    let handoffs: Vec<PathBuf> =
        autocapture_core::stage1::drain::list_handoffs(&dir.path().join("spool"))
            .expect("handoffs");
    let (compared, clean) = raw_mismatches(&handoffs, &data).expect("compare");
    assert!(clean.is_empty(), "{clean:?}");
    assert!(
        compared.rows > 300 && compared.media_files == 300,
        "{compared:?}"
    );
    let mut outcome = GateOutcome::default();
    check_raw(&mut outcome, "Stage 2", &clean);
    assert_eq!(outcome.verdict(), Verdict::Pass);

    let planted = DataRoot::new(dir.path().join("planted"));
    copy_tree(&data.root, &planted.root).expect("copy");
    let conn = Connection::open(planted.metadata_db()).expect("open copy");
    let victim: String = conn
        .query_row(
            "SELECT id FROM metadata WHERE payload LIKE '%dana@%' ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("a row with an e-mail address");
    conn.execute(
        "UPDATE metadata SET payload = replace(payload, 'dana@northwind.example', '**********************') WHERE id = ?1",
        [&victim],
    )
    .expect("rewrite");
    conn.execute(
        "INSERT INTO metadata (id, record_type, payload) VALUES ('run1/derived.cleanup/0', 'derived.cleanup', '{}')",
        [],
    )
    .expect("add a row");
    drop(conn);
    let (_, mismatches) = raw_mismatches(&handoffs, &planted).expect("compare");
    let found: Vec<(&str, &str)> = mismatches
        .iter()
        .map(|m| (m.kind, m.record.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            ("payload_rewritten", victim.as_str()),
            ("row_extra", "run1/derived.cleanup/0")
        ]
    );
    let mut outcome = GateOutcome::default();
    check_raw(&mut outcome, "ingest", &mismatches);
    assert_eq!(outcome.verdict(), Verdict::Fail);
    assert_eq!(outcome.evidence[1].record.as_deref(), Some(victim.as_str()));
}

#[test]
fn a_changed_or_missing_media_file_fails_the_comparison() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, handoffs) = spool(dir.path(), 3, 40, 1).expect("spool");
    let data = DataRoot::new(dir.path().join("data"));
    let clock = autocapture_core::base::clock::SteppingClock::new(
        autocapture_gates::corpus::build::BUILD_TIME,
        time::Duration::ZERO,
    );
    autocapture_core::stage1::ingest::ingest_handoff(
        &handoffs[0],
        &data,
        &autocapture_core::stage1::ingest::IngestOptions {
            mode: autocapture_core::stage1::ingest::ImportMode::Copy,
            ..Default::default()
        },
        &clock,
    )
    .expect("ingest");
    let mut blobs: Vec<PathBuf> = Vec::new();
    let mut stack = vec![data.media_dir()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                blobs.push(path);
            }
        }
    }
    blobs.sort();
    let mut bytes = std::fs::read(&blobs[0]).expect("read");
    bytes[10] ^= 0x80;
    std::fs::write(&blobs[0], bytes).expect("change");
    std::fs::remove_file(&blobs[1]).expect("remove");
    let (_, mismatches) = raw_mismatches(&handoffs, &data).expect("compare");
    let relpath = |p: &PathBuf| {
        p.strip_prefix(data.media_dir())
            .expect("inside")
            .display()
            .to_string()
    };
    let found: Vec<(&str, String)> = mismatches
        .iter()
        .map(|m| (m.kind, m.record.clone()))
        .collect();
    assert_eq!(
        found,
        vec![
            ("media_changed", relpath(&blobs[0])),
            ("media_missing", relpath(&blobs[1]))
        ]
    );
}

#[test]
fn planted_module_graph_violations_are_caught_and_core_passes() {
    let root = workspace_root().expect("a checkout");
    let (modules, violations) = sanitize_violations(&root.join("core/src")).expect("core graph");
    assert!(modules > 20, "{modules} modules");
    assert!(violations.is_empty(), "{violations:#?}");

    let fixtures = root.join("fixtures/module-graph");
    let (_, planted) =
        sanitize_violations(&fixtures.join("ingest-uses-sanitize/src")).expect("fixture graph");
    let modules: Vec<(&str, &str)> = planted
        .iter()
        .map(|v| (v.module.as_str(), v.rule))
        .collect();
    assert_eq!(
        modules,
        vec![
            (
                "crate::stage1::ingest",
                "only the export area reaches the sanitiser"
            ),
            (
                "crate::stage1::ingest",
                "ingest, Stage 2, query and the server never reach export"
            ),
        ]
    );
    assert_eq!(
        planted[0].chain,
        vec!["crate::stage1::ingest", "crate::export::sanitize"]
    );

    let (_, planted) =
        sanitize_violations(&fixtures.join("cli-uses-sanitize/src")).expect("fixture graph");
    assert_eq!(
        planted
            .iter()
            .map(|v| (v.module.as_str(), v.rule, v.chain.clone()))
            .collect::<Vec<_>>(),
        vec![(
            "crate::cli::answer",
            "the command line reaches the sanitiser only through export",
            vec![
                "crate::cli::answer".to_owned(),
                "crate::export::sanitize".to_owned()
            ]
        )],
        "the command line's export command is allowed, its direct use of the sanitiser is not"
    );

    let (_, planted) =
        sanitize_violations(&fixtures.join("query-reaches-export/src")).expect("fixture graph");
    let offenders: std::collections::BTreeSet<&str> =
        planted.iter().map(|v| v.module.as_str()).collect();
    assert_eq!(
        offenders.into_iter().collect::<Vec<_>>(),
        vec!["crate::query::engine", "crate::server"],
        "{planted:#?}"
    );
    let via_facade = planted
        .iter()
        .find(|v| v.module == "crate::server" && v.rule.starts_with("only"))
        .expect("server reaches the sanitiser");
    assert_eq!(
        via_facade.chain,
        vec![
            "crate::server",
            "crate::query::engine",
            "crate::export",
            "crate::export::bundle",
            "crate::export::sanitize"
        ]
    );

    // A tree without the modules the rules name is an error, not a pass.
    let empty = tempfile::tempdir().expect("temp dir");
    std::fs::write(empty.path().join("lib.rs"), "pub mod ingest {}").expect("lib");
    assert!(sanitize_violations(empty.path()).is_err());
}
