//! The release plan: every gate in run order with what it proves, the one description `list`,
//! the report and the summaries use. Its own module, so that the harness (which describes gates)
//! and the gates (which the harness runs) both read it without needing each other.

/// Every gate of the release plan in run order, with what it proves.
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
