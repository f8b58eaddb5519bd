//! The shared contract scenarios of `features/*.feature`, run with cucumber against the real core.
//!
//! - [`catalog`]: the scenarios the files define, with their tags (parsed independently of the run).
//! - [`driver`]: what the steps do, on real handoffs, DataRoots, processes and sockets.
//! - [`steps`]: the step definitions, one line each into [`driver`].
//! - [`run`]: runs the `@repo` and `@both` scenarios, writes JUnit, and checks that every file
//!   and every runnable scenario was picked up.
//! - [`hypervisor`]: the `@hypervisor` and `@both` scenarios as the Hypervisor's side runs them,
//!   through an adapter (`autocapture-gates conform hypervisor`).

pub mod catalog;
pub mod driver;
pub mod hypervisor;
pub mod run;
pub mod steps;
