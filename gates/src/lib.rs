//! autocapture-gates: the gate harness that proves the release hard gates.
//!
//! - [`fixtures`]: the seeded fixture corpus generator and its story.
//! - [`contract`]: the contract schemas on disk: validation, annotations, lock, generated doc.
//! - [`corpus_check`]: validates a generated spool against the schemas.
//! - [`dataroot`]: logical digests of a DataRoot, for comparing two.

pub mod contract;
pub mod corpus_check;
pub mod dataroot;
pub mod fixtures;
