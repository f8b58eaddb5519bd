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

pub use crate::plan::{PLAN, proves_of};
