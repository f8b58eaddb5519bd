//! The retention SLA estimator (contract §10).
//!
//! - [`inputs`]: the inputs document and the processing trace, checked.
//! - [`simulate`]: the minute-resolution FIFO queue model (pure).
//! - [`estimate`]: percentiles, capacities, the projection and the verdict (pure).
//! - [`chart`]: the burn-down chart as SVG (pure).

pub mod chart;
pub mod estimate;
pub mod inputs;
pub mod simulate;
