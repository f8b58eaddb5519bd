//! The gates, in their fixed run order (see `docs/release-gates.md`). Each is a value
//! implementing [`Gate`]; [`registry`] lists the ones built so far.

pub mod audit_gate;
pub mod bind_gate;
pub mod budget_gate;
pub mod contract_gate;
pub mod crash_gate;
pub mod features_gate;
pub mod golden_gate;
pub mod hostile_gate;
pub mod import_guard_gate;
pub mod ingest_gate;
pub mod query_readonly_gate;
pub mod raw_first_gate;
pub mod sla_gate;
pub mod uia_gate;

use crate::harness::gate::Gate;

/// Every built gate, in run order.
pub fn registry() -> Vec<Box<dyn Gate>> {
    vec![
        Box::new(contract_gate::ContractGate),
        Box::new(features_gate::FeaturesGate),
        Box::new(import_guard_gate::ImportGuardGate),
        Box::new(ingest_gate::IngestGate),
        Box::new(crash_gate::CrashGate),
        Box::new(uia_gate::UiaGate),
        Box::new(query_readonly_gate::QueryReadonlyGate),
        Box::new(bind_gate::BindGate),
        Box::new(golden_gate::GoldenGate),
        Box::new(sla_gate::SlaGate),
        Box::new(audit_gate::AuditGate),
        Box::new(budget_gate::BudgetGate::default()),
        Box::new(raw_first_gate::RawFirstGate),
        Box::new(hostile_gate::HostileGate::default()),
    ]
}

/// Every gate of the release plan in run order, with whether it is built.
pub const PLAN: &[(&str, &str)] = &[
    (
        "contract",
        "schemas valid and annotated; lock, build, matrix, doc and the sister document agree; the corpus validates",
    ),
    (
        "features",
        "every shared .feature scenario passes against the core",
    ),
    (
        "import-guard",
        "Stage-1 code reaches no heavy module or crate: lock-file closure, linked crates, module graph, mapped libraries, context guard",
    ),
    (
        "ingest",
        "idempotent, restartable, order-independent; marker only on success; bad handoffs give their codes",
    ),
    (
        "crash",
        "kill at every crash point: marker implies durable data; rerun converges",
    ),
    (
        "uia",
        "metadata-first, hash-gated fallback, deterministic ids, linkage fields, bbox validity",
    ),
    (
        "query-readonly",
        "writes through the query handle fail; counters stay 0; no DataRoot byte changes during queries",
    ),
    (
        "bind",
        "non-loopback binds refused; no deletion route; token required",
    ),
    (
        "golden-q40",
        "on each golden story (the workday and the support night): strict 40/40 evaluated with every phrasing of each case, 0 skipped, 0 failed, 3 identical repro runs, latency p95 within budget, query counters 0",
    ),
    (
        "sla",
        "projected backlog clears before the 144 h reap boundary at p99 throughput with margin",
    ),
    (
        "audit",
        "privileged actions leave an append-only chain, authenticated with a key outside the DataRoot, that verifies; tampering and forgery are detected, a torn last line is quarantined and recorded",
    ),
    (
        "budget",
        "Stage-1 peak RSS and CPU within caps; no Stage-2 work while active",
    ),
    (
        "raw-first",
        "DataRoot payload and media bytes equal the handoff's; sanitising code reachable only from export",
    ),
    (
        "hostile",
        "hostile inputs give documented codes; nothing lost; no panic",
    ),
];

/// What the gate named `name` proves, as `list`, the report and the summaries say it (empty for
/// a gate outside the plan).
pub fn proves_of(name: &str) -> &'static str {
    PLAN.iter()
        .find(|(gate, _)| *gate == name)
        .map_or("", |(_, proves)| proves)
}
