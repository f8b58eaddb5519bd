//! autocapture-gates: the gate harness that proves the release hard gates.
//!
//! - [`cli`]: the command line (the binary's `main` calls [`cli::main`]).
//! - [`harness`]: the gate model, the runner, the signed report and the summaries.
//! - [`gates`]: the registry and each gate's [`harness::gate::Gate`], in run order; a gate's
//!   machinery lives in the folder of its subject below.
//! - [`corpus`]: the seeded fixture corpus (story, generator, truth), its schema check, ready-made
//!   and private copies, and DataRoot digests.
//! - [`probe`]: the one HTTP client, raw hostile bytes, the module graph, a child's resource use.
//! - [`contract`]: the contract schemas on disk: validation, annotations, lock, generated doc.
//! - [`conform`]: `conform spool`: a producer's handoffs checked against the contract, read-only.
//! - [`config_matrix`]: CLI and configuration compatibility: schema vs binary, both binaries, the
//!   Hypervisor's command lines, both positions of each rollback flag.
//! - [`features`]: the shared `.feature` scenarios, their step definitions and drivers, the run.
//! - [`import_guard`]: the Stage-1 import guard: denylist, crate closure, module reach, mapped
//!   libraries.
//! - [`power_loss`]: recorded file operations and the crash states a power loss could leave.
//! - [`golden`]: the strict golden Q40 cases, evaluator and runs.
//! - [`sla`]: the retention SLA estimator, its chart and the soak replay.
//! - [`hostile`]: the hostile suite: damaged handoffs, mutations, property and fuzz targets,
//!   security and concurrency cases.
//! - [`view`]: how results are shown to people: the one template environment (and its HTML
//!   escaping), figures with units, charts with axes and legends.
//! - [`bench`]: query latency percentiles over a fixed question mix; the ingest benchmark.

pub mod bench;
pub mod cli;
pub mod config_matrix;
pub mod conform;
pub mod contract;
pub mod corpus;
pub mod features;
pub mod gates;
pub mod golden;
pub mod harness;
pub mod hostile;
pub mod import_guard;
pub mod plan;
pub mod power_loss;
pub mod probe;
pub mod sla;
pub mod view;
