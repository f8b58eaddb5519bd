//! autocapture-core: the repository side of the capture pipeline, one folder or file per
//! stage, uses pointing down this list (`gates/tests/layout.rs` holds it to that):
//!
//! - [`contract`]: ids, canonical JSON, digests, timestamps, the contract identity.
//! - [`base`]: what every stage uses: the clock, crash points, locks, pacing, file operations,
//!   atomic writes, bounded JSON, the Stage-1 context guard.
//! - [`store`]: the DataRoot's layout, its lock, its writable and read-only connections.
//! - [`audit`]: the hash-chained audit log of privileged actions.
//! - [`activity`]: the activity signal and the fail-closed foreground gate.
//! - [`uia`]: UIA context docs from a frame and its snapshot (pure).
//! - [`handoff`]: reading a handoff directory (layout, rows, media refs).
//! - [`stage1`]: Stage 1, a handoff into the DataRoot with its reap marker; the spool drain.
//! - [`stage2`]: the idle-only search index with its watermark and processing trace, the doc
//!   contents and the focus runs kept with it.
//! - [`query`]: the read-only query engine with citations.
//! - [`server`]: the loopback-only popup query server.
//! - [`export`]: explicit, sanitised evidence bundles and their verification.
//! - [`cli`]: the `autocapture` command line both binaries run (one place prints and exits).

pub mod activity;
pub mod audit;
pub mod base;
pub mod cli;
pub mod contract;
pub mod export;
pub mod handoff;
pub mod query;
pub mod server;
pub mod stage1;
pub mod stage2;
pub mod store;
pub mod uia;
