//! The strict golden Q40 (CONTRACT §9).
//!
//! - [`cases`]: the case templates of `fixtures/golden/q40.toml` and their instantiation from a
//!   corpus's `truth.json` into concrete checks.
//! - [`evaluate`]: the pure strict evaluator.
//! - [`report`]: the report rows and table.
//! - [`target`]: asking the embedded core or a popup endpoint on loopback.
//! - [`run`]: one golden run: instantiate, ask each case three times, evaluate.

pub mod cases;
pub mod evaluate;
pub mod report;
pub mod run;
pub mod target;
