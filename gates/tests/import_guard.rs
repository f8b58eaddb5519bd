//! The Stage-1 import guard: each check catches its planted violation under
//! `fixtures/import-guard/` and names it; the real core and the real `autocapture` binary pass;
//! bad lock files, manifests and binaries give errors that name the file; the gate runs with no
//! cargo and no registry; heavy entry points refuse inside a Stage-1 context.

use std::path::{Path, PathBuf};
use std::process::Command;

use autocapture_core::base::clock::SteppingClock;
use autocapture_core::base::stage1_context::{self, HEAVY_IN_STAGE1_CONTEXT};
use autocapture_core::store::DataRoot;
use autocapture_gates::contract::workspace_root;
use autocapture_gates::gates::import_guard_gate::{
    PLANTED_CHECKOUT, planted_crate_violations, planted_library_violations,
    planted_linked_violations, planted_module_violations,
};
use autocapture_gates::harness::bins::autocapture_beside;
use autocapture_gates::import_guard::{
    DENYLIST_PATH, Denylist, LinkedCrates, crate_closure, module_violations,
};
use autocapture_gates::probe::module_graph::ModuleGraph;
use serde_json::Value;

/// The harness binary; the `autocapture` binary is built beside it.
const HARNESS: &str = env!("CARGO_BIN_EXE_autocapture-gates");

fn denylist() -> Denylist {
    Denylist::load(&workspace_root().expect("a checkout").join(DENYLIST_PATH)).expect("denylist")
}

fn autocapture_bin() -> PathBuf {
    autocapture_beside(Path::new(HARNESS)).expect("the autocapture binary")
}

#[test]
fn the_planted_crate_is_named_with_its_chain_and_only_normal_deps_count() {
    let violations = planted_crate_violations(&workspace_root().expect("a checkout"), &denylist())
        .expect("check");
    assert_eq!(
        violations,
        vec![
            "denylisted crate ort 2.0.0 (name ort) in the Stage-1 closure: autocapture-core -> vision-helper -> ort"
                .to_owned()
        ]
    );
}

#[test]
fn the_planted_checkout_closure_follows_renames_sources_and_platforms() {
    let closure = crate_closure(
        &workspace_root().expect("a checkout").join(PLANTED_CHECKOUT),
        &denylist(),
    )
    .expect("planted closure");
    let crates: Vec<&str> = closure.crates.iter().map(String::as_str).collect();
    // png (dev) and candle-core (build) are core's but not linked; ort 1.16.3 is candle-core's;
    // image is the git fork's, which the source-qualified entry rules out.
    assert_eq!(
        crates,
        ["ort", "serde", "serde_json", "vision-helper", "windows-sys"]
    );
}

#[test]
fn the_planted_symbols_name_ort() {
    let violations = planted_linked_violations(&workspace_root().expect("a checkout"), &denylist())
        .expect("check");
    assert_eq!(
        violations,
        vec![
            "denylisted crate ort (name ort) linked into the binary: ort::session::Session::run"
                .to_owned()
        ]
    );
}

#[test]
fn symbols_give_the_crates_at_their_path_roots() {
    let linked = LinkedCrates::from_symbols([
        "_ZN61_$LT$rusqlite..error..Error$u20$as$u20$core..fmt..Display$GT$3fmt17h0f1e2d3c4b5a6978E",
        "_RNvNtCs7Kx5xYz8Tq_3ort5value3new",
        "_ZN16autocapture_core6ingest14ingest_handoff17h9a8b7c6d5e4f3a21E",
        "sqlite3_open_v2",
        "_ZN3foo3barEv",
    ]);
    let names: Vec<&str> = linked.crates.keys().map(String::as_str).collect();
    assert_eq!(names, ["autocapture-core", "core", "ort", "rusqlite"]);
    assert_eq!(
        linked.crates["ort"], "ort::value::new",
        "v0, without the hash"
    );
    assert!(linked.contains("autocapture_core"), "`-` and `_` are one");
    assert!(linked.missing_witnesses().is_empty());
    let without = LinkedCrates::from_nm("0000 T _ZN3std2io5stdio6_print17h0123456789abcdefE\n");
    assert_eq!(
        without.missing_witnesses(),
        ["rusqlite", "autocapture-core"],
        "a list without the witnesses was not read from autocapture"
    );
}

#[test]
fn the_planted_module_path_is_named() {
    let violations = planted_module_violations(&workspace_root().expect("a checkout"), &denylist())
        .expect("check");
    assert!(
        violations.iter().any(|v| v.contains(
            "Stage-1 module crate::stage1::ingest reaches heavy module crate::stage2 (in crate::stage2): crate::stage1::ingest -> crate::stage1::derive -> crate::stage2"
        )),
        "{violations:?}"
    );
    assert!(
        violations
            .iter()
            .any(|v| v.contains("crate::stage1::drain -> crate::stage1::ingest -> crate::stage1::derive -> crate::stage2")),
        "{violations:?}"
    );
    assert!(
        !violations.iter().any(|v| v.contains("crate::query")),
        "server and export may use query; they are not Stage 1: {violations:?}"
    );
}

#[test]
fn the_planted_library_is_named() {
    let violations =
        planted_library_violations(&workspace_root().expect("a checkout"), &denylist())
            .expect("check");
    assert_eq!(
        violations,
        vec![
            "denylisted shared library /opt/autocapture/lib/libonnxruntime.so.1.17.1 (prefix libonnxruntime) mapped in a Stage-1 run"
                .to_owned()
        ]
    );
}

#[test]
fn a_renamed_root_module_is_an_error_not_a_pass() {
    let dir = tempfile::tempdir().expect("temp");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("lib.rs"), "pub mod stage2 {}\n").expect("write");
    let graph = ModuleGraph::load(&src).expect("load");
    let error = module_violations(&graph, &denylist()).expect_err("roots missing");
    assert!(
        error.to_string().contains("crate::stage1::ingest"),
        "{error:#}"
    );
}

#[test]
fn the_real_core_passes_the_static_checks() {
    let root = workspace_root().expect("a checkout");
    let list = denylist();
    let closure = crate_closure(&root, &list).expect("closure");
    assert!(closure.crates.contains("rusqlite"), "{:?}", closure.crates);
    assert!(
        !closure.crates.contains("png") && !closure.crates.contains("proptest"),
        "png is the fixture generator's and proptest a dev-dependency, not the core's"
    );
    assert_eq!(closure.violations, Vec::<String>::new());
    let graph = ModuleGraph::load(&root.join("core/src")).expect("core graph");
    assert_eq!(
        module_violations(&graph, &list).expect("modules"),
        Vec::<String>::new()
    );
    assert!(
        graph
            .reachable_from("crate::stage1::ingest")
            .contains("crate::base::stage1_context"),
        "ingest enters the Stage-1 context"
    );
}

#[test]
fn the_real_binary_links_its_witnesses_and_no_denylisted_crate() {
    let linked = LinkedCrates::of_binary(&autocapture_bin()).expect("linked crates");
    assert!(
        linked.missing_witnesses().is_empty(),
        "{:?}",
        linked.crates.keys()
    );
    assert!(linked.contains("serde_json") && linked.contains("std"));
    assert_eq!(linked.violations(&denylist()), Vec::<String>::new());
}

/// A copy of the planted checkout in a temp dir, `file` changed by `edit` (`None` removes it).
fn planted_copy(dir: &Path, file: &str, edit: Option<(&str, &str)>) -> PathBuf {
    let from = workspace_root().expect("a checkout").join(PLANTED_CHECKOUT);
    let checkout = dir.join("checkout");
    std::fs::create_dir_all(checkout.join("core")).expect("mkdir");
    for name in ["Cargo.toml", "Cargo.lock", "core/Cargo.toml"] {
        std::fs::copy(from.join(name), checkout.join(name)).expect("copy");
    }
    let path = checkout.join(file);
    match edit {
        None => std::fs::remove_file(&path).expect("remove"),
        Some((old, new)) => {
            let text = std::fs::read_to_string(&path).expect("read");
            assert!(text.contains(old), "{file} has no {old:?}");
            std::fs::write(&path, text.replacen(old, new, 1)).expect("write");
        }
    }
    checkout
}

/// The lock-file check on the planted checkout with `file` changed fails with an error that
/// holds every `expected` fragment.
fn check_error(file: &str, edit: Option<(&str, &str)>, expected: &[&str]) {
    let dir = tempfile::tempdir().expect("temp");
    let checkout = planted_copy(dir.path(), file, edit);
    let error = crate_closure(&checkout, &denylist()).expect_err("a broken checkout is an error");
    let message = format!("{error:#}");
    for fragment in expected {
        assert!(message.contains(fragment), "{fragment:?} not in: {message}");
    }
}

#[test]
fn broken_lock_files_and_manifests_are_errors_that_name_the_file() {
    let lock = "checkout/Cargo.lock";
    let core = "checkout/core/Cargo.toml";
    let workspace = "checkout/Cargo.toml";
    check_error("Cargo.lock", None, &[lock, "expected a Cargo.lock"]);
    check_error(
        "Cargo.lock",
        Some(("[[package]]", "[[package")),
        &[lock, "parse"],
    );
    check_error(
        "Cargo.lock",
        Some((
            " (registry+https://github.com/rust-lang/crates.io-index)\",",
            "\",",
        )),
        &[
            lock,
            "serde_json 1.0.145`, which 2 [[package]] entries match",
        ],
    );
    check_error(
        "Cargo.lock",
        Some(("\"ort 2.0.0\"", "\"ort 3.0.0\"")),
        &[lock, "vision-helper 0.3.1 depends on `ort 3.0.0`, which 0"],
    );
    check_error(
        "Cargo.lock",
        Some((" \"vision-helper\",\n", "")),
        &[lock, "lists no dependency vision-helper", "out of date"],
    );
    check_error(
        "Cargo.lock",
        Some(("name = \"autocapture-core\"", "name = \"core\"")),
        &[lock, "no workspace package autocapture-core"],
    );
    check_error(
        "core/Cargo.toml",
        None,
        &[core, "autocapture-core package manifest"],
    );
    check_error(
        "core/Cargo.toml",
        Some(("name = \"autocapture-core\"", "name = \"other\"")),
        &[core, "expected [package] name = \"autocapture-core\""],
    );
    check_error(
        "Cargo.toml",
        Some(("vision = {", "sight = {")),
        &[core, workspace, "has no [workspace.dependencies] vision"],
    );
    check_error("Cargo.toml", None, &[workspace, "workspace manifest"]);
}

#[test]
fn a_missing_wrong_or_stripped_binary_is_an_error_that_names_it() {
    let dir = tempfile::tempdir().expect("temp");
    let missing = dir.path().join("autocapture");
    let error = LinkedCrates::of_binary(&missing).expect_err("missing");
    assert!(format!("{error:#}").contains("autocapture (expected an ELF binary)"));
    let text = workspace_root().expect("a checkout").join("Cargo.lock");
    let error = LinkedCrates::of_binary(&text).expect_err("not ELF");
    assert!(format!("{error:#}").contains("parse"), "{error:#}");
    assert!(format!("{error:#}").contains("Cargo.lock (expected an ELF binary)"));

    // A stripped copy: the real binary with its section headers dropped (e_shoff, e_shnum and
    // e_shstrndx of the 64-bit ELF header zeroed), so it has no symbol table.
    let mut bytes = std::fs::read(autocapture_bin()).expect("read autocapture");
    assert_eq!(&bytes[..5], b"\x7fELF\x02", "a 64-bit ELF");
    assert_eq!(bytes[5], 1, "little-endian");
    bytes[0x28..0x30].fill(0);
    bytes[0x3c..0x40].fill(0);
    let stripped = dir.path().join("stripped");
    std::fs::write(&stripped, &bytes).expect("write");
    let error = LinkedCrates::of_binary(&stripped).expect_err("stripped");
    assert!(
        format!("{error:#}").contains("no symbol table"),
        "{error:#}"
    );
}

/// Regression: the gate ran `cargo metadata`, which fails on a machine without the registry's
/// manifests; it must pass with no cargo reachable and an empty, offline `CARGO_HOME`.
#[test]
fn the_gate_passes_with_no_cargo_and_an_empty_cargo_home() {
    // Built by this (cargo-run) process, so the child never needs cargo to build it.
    autocapture_bin();
    let dir = tempfile::tempdir().expect("temp");
    let cargo_home = dir.path().join("cargo-home");
    std::fs::create_dir_all(&cargo_home).expect("mkdir");
    let out = dir.path().join("out");
    let output = Command::new(HARNESS)
        .args(["run", "--gate", "import-guard", "--out"])
        .arg(&out)
        .arg("--scratch")
        .arg(dir.path().join("scratch"))
        .env_remove("CARGO")
        .env("CARGO_HOME", &cargo_home)
        .env("CARGO_NET_OFFLINE", "true")
        .env("PATH", "/usr/bin:/bin")
        .env("TZ", "UTC")
        .output()
        .expect("run autocapture-gates");
    let log = format!(
        "exit {:?}\n{}\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(out.join("report.json"))
        .unwrap_or_else(|e| panic!("no report.json ({e}): {log}"));
    let report: Value = serde_json::from_str(&text).expect("report.json is JSON");
    let gate = report["predicate"]["gates"]
        .as_array()
        .and_then(|gates| gates.iter().find(|g| g["name"] == "import-guard"))
        .unwrap_or_else(|| panic!("no import-guard gate in the report: {log}"));
    assert_eq!(gate["verdict"], "pass", "{gate:#}\n{log}");
}

#[test]
fn heavy_entry_points_refuse_inside_a_stage1_context() {
    let dir = tempfile::tempdir().expect("temp");
    let data = DataRoot::new(dir.path().join("data"));
    let clock = SteppingClock::new(
        autocapture_gates::corpus::build::BUILD_TIME,
        time::Duration::ZERO,
    );
    let options = autocapture_core::stage2::Stage2Options {
        activity_signal: None,
        fresh_seconds: 5,
        gate_override: Default::default(),
    };
    {
        let _stage1 = stage1_context::enter();
        let stage2 =
            autocapture_core::stage2::run_stage2(&data, &options, &clock).expect_err("refused");
        assert_eq!(stage2.code(), HEAVY_IN_STAGE1_CONTEXT);
        assert!(
            stage2.to_string().contains("stage2::run_stage2"),
            "{stage2}"
        );
        let query = autocapture_core::query::QueryHandle::open(&data)
            .err()
            .expect("refused");
        assert_eq!(query.code(), HEAVY_IN_STAGE1_CONTEXT);
        assert!(!data.root.exists(), "a refused entry point touches nothing");
    }
    let outside = autocapture_core::query::QueryHandle::open(&data)
        .err()
        .expect("no DataRoot");
    assert_eq!(
        outside.code(),
        "data_dir_missing",
        "outside the scope the usual checks run"
    );
}
