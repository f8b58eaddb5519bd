//! The fixture corpus: a scripted workday ([`story`]) played back ([`world`], [`layout`],
//! [`screenshot`]) into real handoff directories ([`handoff_writer`]) by [`generate`], with
//! the ground truth recorded alongside ([`truth`]); checked against the schemas ([`check`]);
//! ingested and indexed into ready-made DataRoots ([`build`]); private working copies of it for
//! the gates ([`copies`]); and logical digests and integrity checks of the DataRoots made from it
//! ([`digest`]).

pub mod build;
pub mod check;
pub mod copies;
pub mod digest;
pub mod generate;
pub mod handoff_writer;
pub mod layout;
pub mod screenshot;
pub mod story;
pub mod truth;
pub mod world;
