//! Stage 1: a handoff into the DataRoot, quickly and safely, then its reap marker.
//!
//! - [`options`], [`error`]: how an ingest runs and why it failed.
//! - [`placement`]: a DataRoot never inside a handoff or the spool, nor holding them.
//! - [`stamp`]: what the handoff's files looked like, to see a change during the ingest.
//! - [`ingest`]: one handoff into the DataRoot (see its steps).
//! - [`media`]: checking and importing a handoff's media files.
//! - [`tree`]: the one walk of a handoff's media tree, shared by [`stamp`] and [`media`].
//! - [`derive`]: the Stage-1 derived records of a frame (markers, UIA docs).
//! - [`ledger`]: what each ingested handoff looked like, so an unchanged re-ingest is cheap.
//! - [`marker`]: the reap marker, `reap_eligible.json`.
//! - [`drain`]: a whole spool through Stage 1, gated on activity.
//! - [`completeness`]: which frames are queryable, which are blocked and why.

pub mod completeness;
pub mod derive;
pub mod drain;
pub mod error;
pub mod ingest;
pub mod ledger;
pub mod marker;
pub mod media;
pub mod options;
pub mod placement;
pub mod progress;
pub mod stamp;
pub mod tree;
