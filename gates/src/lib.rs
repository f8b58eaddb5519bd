//! autocapture-gates: the gate harness that proves the release hard gates.
//!
//! - [`cli`]: the command line (the binary's `main` calls [`cli::main`]).
//! - [`bench`]: query latency percentiles over a fixed question mix.
//! - [`fixtures`]: the seeded fixture corpus generator and its story.
//! - [`contract`]: the contract schemas on disk: validation, annotations, lock, generated doc.
//! - [`config_matrix`]: CLI and configuration compatibility: schema vs binary, both binaries, the
//!   Hypervisor's command lines, both positions of each rollback flag.
//! - [`corpus_check`]: validates a generated spool against the schemas.
//! - [`harness`]: the gate model, the runner, the signed report and the summaries.
//! - [`gates`]: the gates, in run order.
//! - [`golden`]: the strict golden Q40 cases, evaluator and runs.
//! - [`dataroot`]: logical digests of a DataRoot, for comparing two.
//! - [`features`]: the shared `.feature` scenarios, their step definitions and drivers, the run.
//! - [`measure`]: peak RSS and CPU time of a child process.
//! - [`module_graph`]: the module graph of a crate's source, for reachability guards.
//! - [`import_guard`]: the Stage-1 import guard: denylist, crate closure, module reach, mapped libraries.
//! - [`probe`]: the one HTTP client for popup servers, and raw bytes for hostile requests.
//! - [`power_loss`]: recorded file operations and the crash states a power loss could leave.
//! - [`sla`]: the retention SLA estimator, its chart and the soak replay.

pub mod bench;
pub mod cli;
pub mod config_matrix;
pub mod contract;
pub mod corpus_check;
pub mod dataroot;
pub mod features;
pub mod fixtures;
pub mod gates;
pub mod golden;
pub mod harness;
pub mod hostile;
pub mod import_guard;
pub mod measure;
pub mod module_graph;
pub mod power_loss;
pub mod probe;
pub mod sla;
