//! The retention SLA estimator (contract §10) and the soak replay that calibrates it.
//!
//! - [`inputs`]: the inputs document and the processing trace, checked.
//! - [`simulate`]: the minute-resolution FIFO queue model (pure).
//! - [`estimate`]: percentiles, capacities, the projection and the verdict (pure).
//! - [`chart`]: the burn-down chart as SVG (pure).
//! - [`soak`]: the accelerated multi-day replay against the real drain, Stage 2 and query.

pub mod chart;
pub mod estimate;
pub mod inputs;
pub mod simulate;
pub mod soak;
