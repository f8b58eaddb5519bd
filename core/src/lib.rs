//! autocapture-core: the repository side of the capture pipeline.
//!
//! Map (dependencies point down this list only through [`contract`]):
//! - [`contract`]: ids, canonical JSON, digests, timestamps, the contract identity.
//! - [`durable`], [`lock`]: directory fsync and atomic replace; `flock`.
//! - [`audit`]: the hash-chained audit log of privileged actions.

pub mod audit;
pub mod contract;
pub mod durable;
pub mod lock;
