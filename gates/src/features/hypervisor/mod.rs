//! The `@hypervisor` and `@both` scenarios run as the Hypervisor's side: every step drives a
//! Hypervisor build through its adapter (`crate::conform::adapter`) with real processes, real
//! folders and a real `autocapture` server on loopback, and judges what it did with
//! `conform spool`'s checks and the contract's rules. `autocapture-gates conform hypervisor` runs
//! them (`crate::conform::hypervisor`); the `@repo` run of [`super::run`] is untouched.
//!
//! - [`world`]: settings, one scenario's state, the run and each scenario's outcome.
//! - [`steps`]: the step definitions; [`producer`], [`reaper`], [`popup`] (with [`relay`]) and
//!   [`activity`] (with the contract identity): what they do.

pub mod activity;
pub mod popup;
pub mod producer;
pub mod reaper;
pub mod relay;
pub mod steps;
pub mod world;
