//! The layout of both crates: no import cycle between modules, so shared types live below the
//! modules that share them (a module naming its own children, declaring or dispatching to them,
//! is structure, not a cycle); and in the core, uses point down the pipeline:
//! contract and base ← store ← Stage 1 | Stage 2 ← query ← server and export, with Stage 1 and
//! Stage 2 apart; no source file over 800 lines; every module opens with a `//!` line; no test is
//! ignored; and `docs/ARCHITECTURE.md` is a true map (at most 2,500 words, every registered gate
//! named, every path it names present). Planted trees must be caught: a cycle, Stage 1 reaching
//! Stage 2, files over the limit, a module without its line, an ignored test, a map naming a
//! missing path or leaving out a gate.

use autocapture_gates::contract::workspace_root;
use autocapture_gates::probe::module_graph::ModuleGraph;

fn graph_of(src: &str) -> ModuleGraph {
    let root = workspace_root().expect("a checkout").join(src);
    ModuleGraph::load(&root).unwrap_or_else(|e| panic!("load {}: {e:#}", root.display()))
}

/// The core's top-level modules (folders and files) by layer, lowest first; a module may use
/// its own group and any group of a lower layer. Stage 1 and Stage 2 share a layer and must not
/// use each other.
const LAYERS: &[(u8, &str, &[&str])] = &[
    (0, "contract and base", &["contract", "base"]),
    (1, "store", &["store", "audit", "activity", "uia"]),
    (2, "stage 1", &["handoff", "stage1"]),
    (2, "stage 2", &["stage2"]),
    (3, "query", &["query"]),
    (4, "server and export", &["server", "export"]),
    (5, "command line", &["cli"]),
];

/// The layer and group of `module` (`crate::stage1::ingest` is in `stage1`'s).
fn place(module: &str) -> Option<(u8, &'static str)> {
    let top = module.split("::").nth(1)?;
    LAYERS
        .iter()
        .find(|(_, _, members)| members.contains(&top))
        .map(|(layer, group, _)| (*layer, *group))
}

/// Every use that points up or across, and every module the table does not place.
fn direction_violations(graph: &ModuleGraph) -> Vec<String> {
    let mut found = Vec::new();
    for (name, module) in &graph.modules {
        if name == "crate" {
            continue;
        }
        let Some((layer, group)) = place(name) else {
            found.push(format!("{name} is in no layer of LAYERS"));
            continue;
        };
        for used in &module.uses {
            let Some((used_layer, used_group)) = place(used) else {
                continue;
            };
            if used_layer > layer || (used_layer == layer && used_group != group) {
                found.push(format!("{name} ({group}) uses {used} ({used_group})"));
            }
        }
    }
    found
}

#[test]
fn neither_crate_has_an_import_cycle() {
    for src in ["core/src", "gates/src"] {
        let cycles = graph_of(src).cycles();
        assert!(
            cycles.is_empty(),
            "{src}: modules that use one another (move what they share into its own module): {cycles:?}"
        );
    }
}

#[test]
fn a_planted_cycle_is_found_and_a_parent_naming_its_children_is_not() {
    assert_eq!(
        graph_of("fixtures/module-graph/cycle/src").cycles(),
        vec![vec![
            "crate::a".to_owned(),
            "crate::b".to_owned(),
            "crate::c".to_owned()
        ]]
    );
}

#[test]
fn core_uses_point_down_the_pipeline() {
    let violations = direction_violations(&graph_of("core/src"));
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn a_planted_stage1_module_reaching_stage2_breaks_the_direction() {
    let violations =
        direction_violations(&graph_of("fixtures/import-guard/ingest-reaches-stage2/src"));
    assert!(
        violations
            .iter()
            .any(|v| v == "crate::stage1::derive (stage 1) uses crate::stage2 (stage 2)"),
        "{violations:#?}"
    );
}

/// The longest a Rust source file of the workspace may be.
const MAX_LINES: usize = 800;

/// Every `.rs` file under `dir`, skipping build output.
fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if !matches!(name, "target" | ".git") {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// Every `.rs` file under `dirs` of `root` longer than [`MAX_LINES`], with its length.
fn size_problems(root: &std::path::Path, dirs: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    for dir in dirs {
        rust_files(&root.join(dir), &mut files);
    }
    let mut problems = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(root).expect("under the root");
        let lines = std::fs::read_to_string(file).expect("read").lines().count();
        if lines > MAX_LINES {
            problems.push(format!(
                "{}: {lines} lines, over {MAX_LINES} (split it by concept)",
                relative.to_string_lossy()
            ));
        }
    }
    problems.sort();
    problems
}

#[test]
fn no_source_file_is_over_800_lines() {
    let root = workspace_root().expect("a checkout");
    let mut all = Vec::new();
    rust_files(&root.join("core"), &mut all);
    assert!(
        all.len() > 50,
        "only {} Rust files found in core",
        all.len()
    );
    let problems = size_problems(&root, &["core", "gates", "fuzz/fuzz_targets"]);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn planted_files_over_the_limit_are_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("deep")).expect("mkdir");
    let lines = |n: usize| "x\n".repeat(n);
    std::fs::write(src.join("big.rs"), lines(801)).expect("write");
    std::fs::write(src.join("deep/bigger.rs"), lines(1200)).expect("write");
    std::fs::write(src.join("fine.rs"), lines(800)).expect("write");
    std::fs::write(src.join("notes.txt"), lines(2000)).expect("write");
    assert_eq!(
        size_problems(dir.path(), &["src"]),
        [
            "src/big.rs: 801 lines, over 800 (split it by concept)",
            "src/deep/bigger.rs: 1200 lines, over 800 (split it by concept)",
        ]
    );
}

/// The longest `docs/ARCHITECTURE.md` may be, in words.
const MAP_MAX_WORDS: usize = 2500;

/// What makes `map` (the text of an architecture document for the checkout at `root`) untrue:
/// more than [`MAP_MAX_WORDS`] words, a gate of `gates` not named in backticks, or a backticked
/// path under a top-level entry of the checkout that does not exist.
fn map_problems(root: &std::path::Path, map: &str, gates: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let words = map.split_whitespace().count();
    if words > MAP_MAX_WORDS {
        problems.push(format!("{words} words, over {MAP_MAX_WORDS}"));
    }
    for gate in gates {
        if !map.contains(&format!("`{gate}`")) {
            problems.push(format!("the gate {gate} is not named"));
        }
    }
    for quoted in map.split('`').skip(1).step_by(2) {
        let looks_like_path = !quoted.is_empty()
            && !quoted.contains(|c: char| c.is_whitespace() || "*<>{}|$".contains(c));
        let top = quoted.split('/').next().unwrap_or_default();
        if looks_like_path
            && (quoted.contains('/') || quoted.contains('.'))
            && !top.is_empty()
            && root.join(top).exists()
            && !root.join(quoted).exists()
        {
            problems.push(format!("`{quoted}` does not exist"));
        }
    }
    problems
}

/// Rust sources whose first non-blank line is not a `//!` line, and sources holding an ignored
/// test.
fn source_problems(files: &[std::path::PathBuf]) -> Vec<String> {
    // Spelled in two parts so this file does not match itself.
    let ignore = concat!("#[", "ignore");
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).expect("read");
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if !first.starts_with("//!") {
            problems.push(format!("{}: no `//!` line first", file.display()));
        }
        if text.contains(ignore) {
            problems.push(format!("{}: an ignored test", file.display()));
        }
    }
    problems.sort();
    problems
}

#[test]
fn the_architecture_map_is_short_and_true() {
    let root = workspace_root().expect("a checkout");
    let map = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).expect("the map");
    let gates: Vec<&str> = autocapture_gates::gates::registry()
        .iter()
        .map(|g| g.name())
        .collect();
    assert_eq!(gates.len(), 14);
    assert_eq!(map_problems(&root, &map, &gates), Vec::<String>::new());
}

#[test]
fn every_module_says_what_it_is_and_no_test_is_ignored() {
    let root = workspace_root().expect("a checkout");
    let mut files = Vec::new();
    for dir in ["core", "gates", "fuzz/fuzz_targets"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 100, "only {} Rust files found", files.len());
    assert_eq!(source_problems(&files), Vec::<String>::new());
}

#[test]
fn a_planted_untrue_map_and_planted_sources_are_caught() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("core/src")).expect("mkdir");
    std::fs::write(dir.path().join("core/src/here.rs"), "//! Here.\n").expect("write");
    let map = format!(
        "The `a` and `b` gates; `core/src/here.rs`, `core/src/gone.rs`, `derived/stage2.db`, \
         `core/src/`. {}",
        "word ".repeat(MAP_MAX_WORDS)
    );
    assert_eq!(
        map_problems(dir.path(), &map, &["a", "b", "c"]),
        [
            format!("{} words, over {MAP_MAX_WORDS}", MAP_MAX_WORDS + 9),
            "the gate c is not named".to_owned(),
            "`core/src/gone.rs` does not exist".to_owned(),
        ]
    );
    let undocumented = dir.path().join("core/src/bare.rs");
    std::fs::write(&undocumented, "\n// A plain comment.\nfn f() {}\n").expect("write");
    let ignored = dir.path().join("core/src/ignored.rs");
    std::fs::write(
        &ignored,
        format!("//! Tests.\n#[test]\n#[{}]\nfn t() {{}}\n", "ignore"),
    )
    .expect("write");
    let documented = dir.path().join("core/src/here.rs");
    assert_eq!(
        source_problems(&[undocumented.clone(), ignored.clone(), documented]),
        [
            format!("{}: no `//!` line first", undocumented.display()),
            format!("{}: an ignored test", ignored.display()),
        ]
    );
}
