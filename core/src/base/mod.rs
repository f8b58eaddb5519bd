//! What every stage of the core uses, and nothing of the pipeline itself.
//!
//! - [`clock`]: time passed in.
//! - [`crash`]: named crash points (armed only in the `autocapture-crashpoints` binary).
//! - [`lock`]: `flock` locks.
//! - [`pace`]: process-wide CPU pacing for the `active-safe` budget.
//! - [`fsops`]: directory fsync and the file operations of the media import and the marker,
//!   behind `FileOps`.
//! - [`durable`]: atomic replacement of a file.
//! - [`bounded_json`]: payloads parsed with their UIA node lists bounded.
//! - [`stage1_context`]: the per-thread Stage-1 context in which heavy entry points refuse.
//! - [`peer`]: the uid owning the other end of a loopback TCP connection.
//! - [`terminal`]: captured text made inert for a terminal (control and bidi characters).

pub mod bounded_json;
pub mod clock;
pub mod crash;
pub mod durable;
pub mod fsops;
pub mod lock;
pub mod pace;
pub mod peer;
pub mod stage1_context;
pub mod terminal;
