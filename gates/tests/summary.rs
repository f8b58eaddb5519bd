//! The summaries of a run of planted gates: `summary.html` leads with the verdict banner and its
//! counts, then what was tested, then the failures (each linked from its row), then the table
//! with figures in units and the charts; everything escaped, nothing external. `summary.md` has
//! the same order, and multi-line evidence stays inside its list item.

use autocapture_gates::harness::gate::Verdict;
use autocapture_gates::harness::summary;

#[path = "support/planted.rs"]
mod planted;
use planted::{run, summary_identity};

#[test]
fn summaries_show_the_table_figures_and_failures() {
    let (dir, results) = run(&[], 1);
    let identity = summary_identity(&results, dir.path());
    let html = summary::html(&results, &identity).expect("html");
    assert!(html.starts_with("<!doctype html>"));
    let body = html.replacen("<!doctype html>", "", 1);
    let doc = roxmltree::Document::parse_with_options(
        &body,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .expect("the summary is well-formed (every element closed)");
    let by_id = |id: &str| {
        doc.descendants()
            .find(|n| n.attribute("id") == Some(id))
            .unwrap_or_else(|| panic!("no #{id}"))
    };
    // The banner comes first, with the verdict in words and an icon, and the counts.
    let banner = by_id("banner");
    assert_eq!(banner.attribute("class"), Some("banner error"));
    assert_eq!(by_id("verdict").attribute("data-verdict"), Some("error"));
    let banner_text: String = banner
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    for part in [
        "⚠",
        "ERROR",
        "6 gates",
        "2 passed",
        "1 failed",
        "3 errored",
        "0 skipped",
    ] {
        assert!(
            banner_text.contains(part),
            "banner lacks {part}: {banner_text}"
        );
    }
    // Identity: commit, contract identity, key, dev-signed, corpus and case files.
    let identity_text: String = by_id("identity")
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    let ours = autocapture_core::contract::ContractIdentity::embedded().expect("identity");
    for part in [
        "commit",
        "contract version",
        ours.contract_version.as_str(),
        "schema_hash",
        &ours.schema_hash[..12],
        "signing key id",
        "dev-signed",
        "fixture-corpus",
        "fixtures/golden/",
    ] {
        assert!(
            identity_text.contains(part),
            "identity lacks {part}: {identity_text}"
        );
    }
    assert!(
        html.contains(&format!("title=\"{}\"", ours.schema_hash)),
        "the full hash is kept for hovering"
    );
    // Failures come before the table, and each failing row links to its failure.
    let failures_at = html.find("id=\"failures\"").expect("a failures section");
    assert!(failures_at < html.find("id=\"gates\"").expect("table"));
    for gate in &results.gates {
        assert!(
            html.contains(&format!("data-gate=\"{}\"", gate.name)),
            "row for {}",
            gate.name
        );
        let failing = matches!(gate.verdict, Verdict::Fail | Verdict::Error);
        assert_eq!(
            html.contains(&format!("<a href=\"#fail-{}\">", gate.name)),
            failing,
            "link of {}",
            gate.name
        );
        assert_eq!(
            html.contains(&format!("id=\"fail-{}\"", gate.name)),
            failing,
            "failure of {}",
            gate.name
        );
    }
    assert!(
        html.contains("✘ fail") && html.contains("✔ pass"),
        "verdicts are not colour alone"
    );
    assert!(html.contains("corpus_exists"), "figures are shown");
    assert_eq!(
        html.matches("<rect class=\"bar\"").count(),
        results.gates.len(),
        "one bar per gate"
    );
    assert!(
        html.contains(">wall time (seconds)<"),
        "the time chart has a labelled axis"
    );
    assert!(
        html.contains("count &lt;matches&gt; &amp; &quot;more&quot;"),
        "evidence is escaped"
    );
    assert!(
        html.contains("<figcaption>pass-gate: planted &lt;chart&gt;</figcaption><svg"),
        "a gate's chart is inline under its escaped title"
    );
    assert!(html.contains("<circle class=\"planted\""));
    assert!(!html.contains("<script"), "self-contained and static");
    let md = summary::markdown(&results, &identity);
    assert!(md.contains("| fail-gate | ✘ fail | 1/2 |"), "{md}");
    assert!(md.contains("on `run1/x/1`: expected 3, got 4"), "{md}");
    assert!(
        md.find("## Failures").expect("failures") < md.find("## Gates").expect("gates"),
        "failures first"
    );
    assert!(
        md.contains(&format!("- schema_hash: `{}`", ours.schema_hash)),
        "{md}"
    );
}

/// Evidence of several lines stays inside its list item in `summary.md`: every line of the
/// failures section is a heading, a list item, or indented under one.
#[test]
fn multi_line_evidence_stays_in_its_list_item() {
    let (_dir, mut results) = run(&[], 1);
    let failing = results
        .gates
        .iter_mut()
        .find(|g| g.name == "fail-gate")
        .expect("fail-gate");
    failing
        .evidence
        .push(autocapture_gates::harness::gate::Evidence {
            check: "multi".into(),
            record: None,
            expected: None,
            actual: None,
            detail: Some("first line\nsecond line\n- not a new item".into()),
        });
    let md = summary::markdown(&results, &[]);
    let failures = md
        .split("## Failures")
        .nth(1)
        .and_then(|rest| rest.split("## Gates").next())
        .expect("a failures section");
    for line in failures.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.starts_with("### ") || line.starts_with("- ") || line.starts_with("  "),
            "a line outside any item: {line:?}\n{failures}"
        );
    }
    assert!(failures.contains("  - not a new item"), "{failures}");
}
