//! The `import-guard` gate: the Stage-1 path (`autocapture handoff …` and the modules it uses)
//! reaches no OCR, VLM, embedding or media-decoding code.
//!
//! - Crates: the normal-dependency closure of `autocapture-core`, read from the checkout's
//!   `Cargo.lock` and manifests, holds no crate of the denylist
//!   (`fixtures/import-guard/denylist.toml`), and neither do the crates linked into the real
//!   `autocapture` binary (the path roots of its demangled symbols).
//! - Modules: no module reachable from the Stage-1 roots of `core/src` (parsed with `syn`) is or
//!   lies inside a heavy module, or names a denylisted crate.
//! - Run time: the real `autocapture handoff ingest` maps no denylisted shared library
//!   (`/proc/self/maps` at the end of the ingest), and inside a Stage-1 context `run_stage2` and
//!   `QueryHandle::open` refuse with `heavy_in_stage1_context`.
//!
//! Each check first runs on its planted violation under `fixtures/import-guard/` and must catch
//! it, so a check that cannot fail does not pass. The gate runs no cargo and needs no registry.

use std::path::Path;

use anyhow::Context;
use autocapture_core::base::clock::SteppingClock;
use autocapture_core::base::stage1_context::{self, HEAVY_IN_STAGE1_CONTEXT};
use autocapture_core::store::DataRoot;
use serde_json::Value;

use crate::contract::workspace_root;
use crate::corpus::build::BUILD_TIME;
use crate::harness::gate::{Gate, GateContext, GateOutcome};
use crate::import_guard::{
    DENYLIST_PATH, Denylist, LinkedCrates, crate_closure, library_violations, mapped_files,
    module_violations,
};
use crate::probe::module_graph::ModuleGraph;

pub struct ImportGuardGate;

/// Where the planted violations live, relative to the workspace root.
pub const PLANTED_CHECKOUT: &str = "fixtures/import-guard/lock-with-ort";
pub const PLANTED_SYMBOLS: &str = "fixtures/import-guard/symbols-with-ort.txt";
pub const PLANTED_SOURCE: &str = "fixtures/import-guard/ingest-reaches-stage2/src";
pub const PLANTED_MAPS: &str = "fixtures/import-guard/maps-with-onnxruntime.txt";

/// The lock-file check on the planted checkout: its violations.
pub fn planted_crate_violations(root: &Path, denylist: &Denylist) -> anyhow::Result<Vec<String>> {
    Ok(crate_closure(&root.join(PLANTED_CHECKOUT), denylist)?.violations)
}

/// The linked-crates check on the planted symbol listing: its violations.
pub fn planted_linked_violations(root: &Path, denylist: &Denylist) -> anyhow::Result<Vec<String>> {
    let path = root.join(PLANTED_SYMBOLS);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    Ok(LinkedCrates::from_nm(&text).violations(denylist))
}

/// The module check on the planted source tree: its violations.
pub fn planted_module_violations(root: &Path, denylist: &Denylist) -> anyhow::Result<Vec<String>> {
    module_violations(&ModuleGraph::load(&root.join(PLANTED_SOURCE))?, denylist)
}

/// The library check on the planted maps file: its violations.
pub fn planted_library_violations(root: &Path, denylist: &Denylist) -> anyhow::Result<Vec<String>> {
    let path = root.join(PLANTED_MAPS);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    Ok(library_violations(&mapped_files(&text), denylist))
}

fn caught(outcome: &mut GateOutcome, name: &str, violations: &[String], needle: &str) {
    outcome.check(
        name,
        violations.iter().any(|v| v.contains(needle)),
        format!("the planted {needle} was not reported; got {violations:?}"),
    );
}

/// The heavy entry points refuse inside a Stage-1 context and run outside it.
fn stage1_context_guard(outcome: &mut GateOutcome, work: &Path, data: &DataRoot) {
    let clock = SteppingClock::new(BUILD_TIME, time::Duration::ZERO);
    let empty = DataRoot::new(work.join("guard-data"));
    let options = autocapture_core::stage2::Stage2Options {
        activity_signal: None,
        fresh_seconds: 5,
        gate_override: Default::default(),
    };
    let (stage2_code, query_code) = {
        let _stage1 = stage1_context::enter();
        (
            autocapture_core::stage2::run_stage2(&empty, &options, &clock)
                .err()
                .map(|e| e.code()),
            autocapture_core::query::QueryHandle::open(data)
                .err()
                .map(|e| e.code()),
        )
    };
    outcome.check(
        "run_stage2 refuses inside a Stage-1 context",
        stage2_code == Some(HEAVY_IN_STAGE1_CONTEXT),
        format!("run_stage2 gave {stage2_code:?}"),
    );
    outcome.check(
        "QueryHandle::open refuses inside a Stage-1 context",
        query_code == Some(HEAVY_IN_STAGE1_CONTEXT),
        format!("QueryHandle::open gave {query_code:?}"),
    );
    let outside = autocapture_core::query::QueryHandle::open(data).err();
    outcome.check(
        "QueryHandle::open runs outside a Stage-1 context",
        outside.is_none(),
        format!("{outside:?}"),
    );
    outcome.check(
        "heavy work left nothing behind when refused",
        !empty.root.exists(),
        format!("{} was created", empty.root.display()),
    );
}

/// No denylisted crate is linked into `bin`, whose symbols must name the witness crates.
fn linked_crates_check(
    outcome: &mut GateOutcome,
    root: &Path,
    denylist: &Denylist,
    bin: &Path,
) -> anyhow::Result<()> {
    caught(
        outcome,
        "planted linked-crate violation caught",
        &planted_linked_violations(root, denylist)?,
        "denylisted crate ort (name ort) linked",
    );
    let linked = LinkedCrates::of_binary(bin)?;
    outcome.measure("stage1_linked_crates", linked.crates.len() as u64);
    let missing = linked.missing_witnesses();
    outcome.check(
        "the linked crates were read (they hold rusqlite and autocapture-core)",
        missing.is_empty(),
        format!(
            "{} names {} crates, none of {missing:?}",
            bin.display(),
            linked.crates.len()
        ),
    );
    let violations = linked.violations(denylist);
    outcome.check(
        "no denylisted crate linked into autocapture",
        violations.is_empty(),
        violations.join("; "),
    );
    Ok(())
}

impl Gate for ImportGuardGate {
    fn name(&self) -> &'static str {
        "import-guard"
    }

    fn run(&self, ctx: &GateContext) -> anyhow::Result<GateOutcome> {
        let bin = ctx
            .autocapture_bin
            .as_deref()
            .context("the import-guard gate runs the real autocapture binary; none was given")?;
        let root = workspace_root()?;
        let denylist = Denylist::load(&root.join(DENYLIST_PATH))?;
        let mut outcome = GateOutcome::default();

        // (a) crates, in the lock file and in the binary
        caught(
            &mut outcome,
            "planted crate violation caught",
            &planted_crate_violations(&root, &denylist)?,
            "ort 2.0.0",
        );
        let closure = crate_closure(&root, &denylist)?;
        outcome.measure("stage1_closure_crates", closure.crates.len() as u64);
        outcome.check(
            "the closure was walked (it holds rusqlite)",
            closure.crates.contains("rusqlite"),
            format!("{} crates, no rusqlite", closure.crates.len()),
        );
        outcome.check(
            "no denylisted crate in the Stage-1 closure",
            closure.violations.is_empty(),
            closure.violations.join("; "),
        );
        linked_crates_check(&mut outcome, &root, &denylist, bin)?;

        // (b) modules
        caught(
            &mut outcome,
            "planted module violation caught",
            &planted_module_violations(&root, &denylist)?,
            "crate::stage1::ingest -> crate::stage1::derive -> crate::stage2",
        );
        let graph = ModuleGraph::load(&root.join("core/src"))?;
        let reached: std::collections::BTreeSet<String> = denylist
            .stage1_roots()
            .iter()
            .flat_map(|r| graph.reachable_from(r))
            .collect();
        outcome.measure("stage1_modules_reached", reached.len() as u64);
        let violations = module_violations(&graph, &denylist)?;
        outcome.check(
            "Stage-1 modules reach no heavy module",
            violations.is_empty(),
            violations.join("; "),
        );

        // (c) run time
        caught(
            &mut outcome,
            "planted library violation caught",
            &planted_library_violations(&root, &denylist)?,
            "libonnxruntime.so.1.17.1",
        );
        let (_, handoffs) = crate::corpus::copies::private_spool(&ctx.corpus, &ctx.work)?;
        let handoff = handoffs.first().context("the corpus has no handoff")?;
        let data = DataRoot::new(ctx.work.join("data"));
        let output = std::process::Command::new(bin)
            .args(["handoff", "ingest", "--handoff-root"])
            .arg(handoff)
            .arg("--data-dir")
            .arg(&data.root)
            .arg("--json")
            .env("AUTOCAPTURE_REPORT_MAPPED_FILES", "1")
            .env("TZ", "UTC")
            .output()
            .with_context(|| format!("run {}", bin.display()))?;
        let report: Value = serde_json::from_slice(&output.stdout).with_context(|| {
            format!(
                "autocapture handoff ingest printed no JSON (exit {:?}): {}",
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
        outcome.check(
            "the Stage-1 ingest succeeded",
            output.status.success() && report["ok"] == Value::Bool(true),
            format!("exit {:?}: {report}", output.status.code()),
        );
        let files: Vec<String> = report["mapped_files"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(str::to_owned))
            .collect();
        outcome.measure("stage1_mapped_files", files.len() as u64);
        let bin_name = bin.file_name().map(|n| n.to_string_lossy().into_owned());
        outcome.check(
            "the mapped files were read (they hold the binary itself)",
            files.iter().any(|f| {
                Path::new(f)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    == bin_name
            }),
            format!("{} mapped files: {files:?}", files.len()),
        );
        let libraries = library_violations(&files, &denylist);
        outcome.check(
            "no denylisted shared library mapped in a Stage-1 run",
            libraries.is_empty(),
            libraries.join("; "),
        );
        stage1_context_guard(&mut outcome, &ctx.work, &data);
        Ok(outcome)
    }
}
