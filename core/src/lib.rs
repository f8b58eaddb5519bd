//! autocapture-core: the repository side of the capture pipeline.
//!
//! Map (dependencies point down this list only through [`contract`]):
//! - [`contract`]: ids, canonical JSON, digests, timestamps, the contract identity.
//! - [`fsops`]: directory fsync and the file operations of the media import and the marker,
//!   behind `FileOps`.
//! - [`durable`], [`lock`]: atomic replace; `flock`.
//! - [`audit`]: the hash-chained audit log of privileged actions.
//! - [`clock`]: time passed in.
//! - [`crash`]: named crash points (armed only in the `crash-points` build).
//! - [`handoff`]: reading a handoff directory (layout, rows, media refs).
//! - [`bounded_json`]: payloads parsed with their UIA node lists bounded.
//! - [`store`]: the DataRoot's layout and writable connections.
//! - [`placement`]: a DataRoot never inside a handoff or the spool, nor holding them.
//! - [`ingest_options`], [`ingest_error`]: how Stage 1 runs and why it failed (shared by the
//!   ingest, the media import and the ledger).
//! - [`ingest`]: Stage 1, one handoff into the DataRoot.
//! - [`ledger`]: what each ingested handoff looked like, so an unchanged re-ingest is cheap.
//! - [`media`]: checking and importing a handoff's media files.
//! - [`pace`]: process-wide CPU pacing for the `active-safe` budget.
//! - [`marker`]: the reap marker, `reap_eligible.json`.
//! - [`activity`]: the activity signal and the fail-closed foreground gate.
//! - [`drain`]: a whole spool through Stage 1, gated on activity.
//! - [`stage1_context`]: the per-thread Stage-1 context in which heavy entry points refuse to run.
//! - [`uia`]: UIA context docs from a frame and its snapshot (pure).
//! - [`derive`]: the Stage-1 derived records of a frame (markers, UIA docs).
//! - [`stage2`]: the idle-only search index with its watermark and processing trace.
//! - [`contents`]: distinct doc contents with their first and last frame, kept with the index.
//! - [`focus_runs`]: runs of one focused window, kept with the index for durations and timelines.
//! - [`completeness`]: which frames are queryable, which are blocked and why.
//! - [`query`]: the read-only query engine with citations.
//! - [`server`]: the loopback-only popup query server.
//! - [`export`]: explicit, sanitised evidence bundles and their verification.

pub mod activity;
pub mod audit;
pub mod bounded_json;
pub mod clock;
pub mod completeness;
pub mod contents;
pub mod contract;
pub mod crash;
pub mod derive;
pub mod drain;
pub mod durable;
pub mod export;
pub mod focus_runs;
pub mod fsops;
pub mod handoff;
pub mod ingest;
pub mod ingest_error;
pub mod ingest_options;
pub mod ledger;
pub mod lock;
pub mod marker;
pub mod media;
pub mod pace;
pub mod placement;
pub mod query;
pub mod server;
pub mod stage1_context;
pub mod stage2;
pub mod stamp;
pub mod store;
pub mod uia;
