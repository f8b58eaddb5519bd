//! The layout of both crates: no import cycle between modules, so shared types live below the
//! modules that share them (a module naming its own children, declaring or dispatching to them,
//! is structure, not a cycle); and in the core, uses point down the pipeline:
//! contract and base ← store ← Stage 1 | Stage 2 ← query ← server and export, with Stage 1 and
//! Stage 2 apart. Planted trees must be caught: a cycle, and Stage 1 reaching Stage 2.

use autocapture_gates::contract::workspace_root;
use autocapture_gates::module_graph::ModuleGraph;

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
