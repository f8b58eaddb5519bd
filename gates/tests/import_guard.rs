//! The Stage-1 import guard: each check catches its planted violation under
//! `fixtures/import-guard/` and names it; the real core passes the static checks; heavy entry
//! points refuse inside a Stage-1 context.

use autocapture_core::clock::SteppingClock;
use autocapture_core::stage1_context::{self, HEAVY_IN_STAGE1_CONTEXT};
use autocapture_core::store::DataRoot;
use autocapture_gates::contract::workspace_root;
use autocapture_gates::gates::import_guard_gate::{
    planted_crate_violations, planted_library_violations, planted_module_violations,
};
use autocapture_gates::import_guard::{
    CORE_PACKAGE, DENYLIST_PATH, Denylist, cargo_metadata, crate_closure, module_violations,
};
use autocapture_gates::module_graph::ModuleGraph;

fn denylist() -> Denylist {
    Denylist::load(&workspace_root().expect("a checkout").join(DENYLIST_PATH)).expect("denylist")
}

#[test]
fn the_planted_crate_is_named_with_its_chain_and_only_normal_deps_count() {
    let violations = planted_crate_violations(&workspace_root().expect("a checkout"), &denylist())
        .expect("check");
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].contains("denylisted crate ort 2.0.0 (name ort)")
            && violations[0].contains("autocapture-core -> vision-helper -> ort"),
        "{violations:?}"
    );
    assert!(
        !violations
            .iter()
            .any(|v| v.contains("png") || v.contains("candle")),
        "dev and build dependencies are not linked: {violations:?}"
    );
}

#[test]
fn the_planted_module_path_is_named() {
    let violations = planted_module_violations(&workspace_root().expect("a checkout"), &denylist())
        .expect("check");
    assert!(
        violations.iter().any(|v| v.contains(
            "Stage-1 module crate::ingest reaches heavy module crate::stage2 (in crate::stage2): crate::ingest -> crate::derive -> crate::stage2"
        )),
        "{violations:?}"
    );
    assert!(
        violations
            .iter()
            .any(|v| v.contains("crate::drain -> crate::ingest -> crate::derive -> crate::stage2")),
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
    assert!(error.to_string().contains("crate::ingest"), "{error:#}");
}

#[test]
fn the_real_core_passes_the_static_checks() {
    let root = workspace_root().expect("a checkout");
    let list = denylist();
    let closure = crate_closure(
        &cargo_metadata(&root).expect("metadata"),
        CORE_PACKAGE,
        &list,
    )
    .expect("closure");
    assert!(closure.crates.contains("rusqlite"), "{:?}", closure.crates);
    assert!(
        !closure.crates.contains("png"),
        "png is the fixture generator's, not the core's"
    );
    assert_eq!(closure.violations, Vec::<String>::new());
    let graph = ModuleGraph::load(&root.join("core/src")).expect("core graph");
    assert_eq!(
        module_violations(&graph, &list).expect("modules"),
        Vec::<String>::new()
    );
    assert!(
        graph
            .reachable_from("crate::ingest")
            .contains("crate::stage1_context"),
        "ingest enters the Stage-1 context"
    );
}

#[test]
fn heavy_entry_points_refuse_inside_a_stage1_context() {
    let dir = tempfile::tempdir().expect("temp");
    let data = DataRoot::new(dir.path().join("data"));
    let clock = SteppingClock::new(
        autocapture_gates::fixtures::build::BUILD_TIME,
        time::Duration::ZERO,
    );
    let options = autocapture_core::stage2::Stage2Options {
        activity_signal: None,
        fresh_seconds: 5,
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
