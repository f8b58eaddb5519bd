//! The layout of both crates: no import cycle between modules, so shared types live below the
//! modules that share them. A module naming its own children (declaring or dispatching to them)
//! is structure, not a cycle. A planted cycle must be found.

use autocapture_gates::contract::workspace_root;
use autocapture_gates::module_graph::ModuleGraph;

fn cycles_of(src: &str) -> Vec<Vec<String>> {
    let root = workspace_root().expect("a checkout").join(src);
    ModuleGraph::load(&root)
        .unwrap_or_else(|e| panic!("load {}: {e:#}", root.display()))
        .cycles()
}

#[test]
fn neither_crate_has_an_import_cycle() {
    for src in ["core/src", "gates/src"] {
        let cycles = cycles_of(src);
        assert!(
            cycles.is_empty(),
            "{src}: modules that use one another (move what they share into its own module): {cycles:?}"
        );
    }
}

#[test]
fn a_planted_cycle_is_found_and_a_parent_naming_its_children_is_not() {
    assert_eq!(
        cycles_of("fixtures/module-graph/cycle/src"),
        vec![vec![
            "crate::a".to_owned(),
            "crate::b".to_owned(),
            "crate::c".to_owned()
        ]]
    );
}
